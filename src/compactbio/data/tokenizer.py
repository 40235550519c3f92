"""The tokenizer stage: one base model's tokenizer as a transformers folder.

Demo (``pretrain.base.<model>.hub`` is null): a WordPiece vocabulary trained
on the prepared corpus with BERT's normaliser and pre-tokeniser, lower-casing
per ``tokenizer.lowercase``, so each demo model family keeps the cased /
uncased distinction of its real counterpart.  Paper: the hub model's own
tokenizer at the pinned revision (a local folder is accepted as ``hub``).

Either way the output is a ``save_pretrained`` folder with ``tokenizer.json``,
which is all that :mod:`compactbio.data.tokenize` and the model stages need.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..io import atomic_dir
from .errors import DataError

logger = logging.getLogger(__name__)
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _continuing_tokens(tok, corpus_txt: Path) -> list[str]:
    """Every ``##c`` the trainer will create: characters at a non-initial position of a word."""
    cont: set[str] = set()
    with open(corpus_txt, encoding="utf-8") as f:
        for line in f:
            for word, _ in tok.pre_tokenizer.pre_tokenize_str(tok.normalizer.normalize_str(line)):
                cont.update("##" + c for c in word[1:])
    return sorted(cont)


def train_wordpiece(corpus_txt: Path, vocab_size: int, lowercase: bool):
    """A BERT-style WordPiece ``tokenizers.Tokenizer`` trained on one-document-a-line text.

    Determinism workaround: the trainer gives ``##c`` tokens ids in hash-map
    order, and merge ties are broken by id, so two runs on the same corpus
    can yield different vocabularies (huggingface/tokenizers#1794).  Listing
    those tokens, sorted, after the special tokens pins their ids; they are
    then removed from ``added_tokens`` so they behave as ordinary vocabulary.
    """
    import json

    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                strip_accents=None, lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cont = _continuing_tokens(tok, corpus_txt)
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIALS + cont, min_frequency=2,
                                        show_progress=False, continuing_subword_prefix="##")
    tok.train([str(corpus_txt)], trainer)
    spec = json.loads(tok.to_str())
    drop = set(cont)
    spec["added_tokens"] = [a for a in spec["added_tokens"] if a["content"] not in drop]
    tok = Tokenizer.from_str(json.dumps(spec))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.decoder = decoders.WordPiece(prefix="##")
    return tok


def run(params: dict, model: str, corpus: Path, out: Path) -> None:
    base = params["pretrain"]["base"]
    if model not in base:
        raise ValueError(f"unknown base model '{model}' (pretrain.base: {', '.join(sorted(base))})")
    cfg = base[model]
    tcfg = cfg.get("tokenizer") or {}
    hub = cfg.get("hub")
    with atomic_dir(out) as tmp:
        if hub:
            from transformers import AutoTokenizer

            local = Path(hub).expanduser()
            source = str(local) if local.is_dir() else hub
            tok = AutoTokenizer.from_pretrained(source, revision=None if local.is_dir() else cfg.get("revision"))
            if not getattr(tok, "is_fast", False):
                raise ValueError(f"pretrain.base.{model}.hub: {hub} has no fast tokenizer (tokenizer.json)")
            tok.save_pretrained(tmp)
            logger.info("tokenizer for %s: %s (revision %s)", model, hub, cfg.get("revision"))
        else:
            from transformers import BertTokenizerFast

            corpus_txt = Path(corpus) / "corpus.txt"
            if not corpus_txt.is_file():
                raise DataError(corpus_txt, "prepared corpus not found (run `compactbio prepare` on the corpus)")
            lowercase = bool(tcfg.get("lowercase", False))
            raw = train_wordpiece(corpus_txt, int(tcfg.get("vocab_size", 4000)), lowercase)
            fast = BertTokenizerFast(tokenizer_object=raw, do_lower_case=lowercase, unk_token="[UNK]",
                                     sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]",
                                     model_max_length=512)
            fast.save_pretrained(tmp)
            logger.info("tokenizer for %s: WordPiece, %d tokens, lowercase=%s", model, raw.get_vocab_size(), lowercase)
        if not (tmp / "tokenizer.json").is_file():
            raise ValueError(f"tokenizer for {model}: save_pretrained wrote no tokenizer.json")
