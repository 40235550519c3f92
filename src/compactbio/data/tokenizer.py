"""The tokenizer stage: one base model's tokenizer as a transformers folder.

Demo (``pretrain.base.<model>.hub`` is null): a WordPiece vocabulary trained
on the prepared corpus with BERT's normaliser and pre-tokeniser, lower-casing
per ``tokenizer.lowercase``, so each demo model family keeps the cased /
uncased distinction of its real counterpart.  Paper: the hub model's own
vocabulary at the pinned revision (a local folder is accepted as ``hub``),
with ``tokenizer.lowercase`` from params always applied: a repository with
only ``vocab.txt`` (BioBERT) would otherwise get BERT's default lower-casing
and lose the cased vocabulary.  The saved tokenizer is checked to really (not)
lower-case before the stage succeeds.

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


def read_vocab(path: Path) -> dict[str, int]:
    """``vocab.txt``: one token a line, the line number is the id (duplicates are an error)."""
    vocab: dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            token = line.rstrip("\n")
            if token in vocab:
                raise ValueError(f"{path}: line {i + 1}: duplicate token {token!r}")
            vocab[token] = i
    if not vocab:
        raise ValueError(f"{path}: empty vocabulary")
    return vocab


def _set_lowercase(spec: dict | None, lowercase: bool, path: Path) -> dict | None:
    """Apply ``lowercase`` to a tokenizer.json normalizer (BertNormalizer, or a Sequence holding one)."""
    if spec is None:
        if lowercase:
            return {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                    "strip_accents": None, "lowercase": True}
        return None
    if spec.get("type") == "BertNormalizer":
        return {**spec, "lowercase": lowercase}
    if spec.get("type") == "Sequence":
        parts = [p for p in spec.get("normalizers", []) if p.get("type") != "Lowercase"]
        if any(p.get("type") == "BertNormalizer" for p in parts):
            parts = [_set_lowercase(p, lowercase, path) if p.get("type") == "BertNormalizer" else p for p in parts]
        elif lowercase:
            parts.append({"type": "Lowercase"})
        return {**spec, "normalizers": parts}
    if spec.get("type") == "Lowercase":
        return spec if lowercase else None
    raise ValueError(f"{path}: normalizer {spec.get('type')!r} cannot be set to lowercase={lowercase}")


def hub_tokenizer(folder: Path, lowercase: bool):
    """A fast BERT WordPiece tokenizer from a hub snapshot, lower-casing exactly as params say.

    ``tokenizer.json`` is used when present (its normalizer set to ``lowercase``);
    otherwise one is built from ``vocab.txt``.  ``tokenizer_config.json`` only
    contributes ``model_max_length``; its ``do_lower_case`` is overridden by params.
    """
    import json

    from transformers import BertTokenizerFast

    folder = Path(folder)
    tcfg_path = folder / "tokenizer_config.json"
    tcfg = json.loads(tcfg_path.read_text(encoding="utf-8")) if tcfg_path.is_file() else {}
    if "do_lower_case" in tcfg and bool(tcfg["do_lower_case"]) != lowercase:
        logger.warning("%s says do_lower_case=%s; params tokenizer.lowercase=%s wins", tcfg_path,
                       tcfg["do_lower_case"], lowercase)
    max_len = tcfg.get("model_max_length")
    if not isinstance(max_len, int) or max_len > 100_000:      # BioBERT has none; 1e30 is transformers' "unset"
        cfg_path = folder / "config.json"
        cfg = json.loads(cfg_path.read_text(encoding="utf-8")) if cfg_path.is_file() else {}
        max_len = int(cfg.get("max_position_embeddings", 512))
    specials = dict(unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]")
    tj, vt = folder / "tokenizer.json", folder / "vocab.txt"
    if tj.is_file():
        from tokenizers import Tokenizer

        spec = json.loads(tj.read_text(encoding="utf-8"))
        spec["normalizer"] = _set_lowercase(spec.get("normalizer"), lowercase, tj)
        raw = Tokenizer.from_str(json.dumps(spec))
        vocab, where = raw.get_vocab(), tj
        tok = BertTokenizerFast(tokenizer_object=raw, do_lower_case=lowercase, model_max_length=max_len, **specials)
    elif vt.is_file():
        vocab, where = read_vocab(vt), vt
        # transformers 5: the vocabulary is the ``vocab`` argument (a ``vocab_file=`` keyword is silently ignored).
        tok = BertTokenizerFast(vocab=vocab, do_lower_case=lowercase, model_max_length=max_len, **specials)
    else:
        raise FileNotFoundError(f"{folder}: no tokenizer.json or vocab.txt")
    absent = [t for t in specials.values() if t not in vocab]
    if absent:
        raise ValueError(f"{where}: special tokens missing from the vocabulary: {', '.join(absent)}")
    if len(tok) != len(vocab):
        raise ValueError(f"{where}: {len(vocab)} vocabulary entries but the tokenizer has {len(tok)}")
    return tok


def check_casing(folder: Path, lowercase: bool) -> None:
    """Reload the saved tokenizer as later stages do and check that it (does not) lower-case."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    norm = tok.backend_tokenizer.normalizer
    got = norm.normalize_str("Gene") if norm is not None else "Gene"
    ids_upper = tok("Gene", add_special_tokens=False)["input_ids"]
    ids_lower = tok("gene", add_special_tokens=False)["input_ids"]
    unk = tok.unk_token_id
    if lowercase and (got != "gene" or ids_upper != ids_lower):
        raise ValueError(f"{Path(folder) / 'tokenizer.json'}: params say lowercase=true but 'Gene' is "
                         f"normalised to {got!r}")
    if not lowercase:
        distinct = ids_upper != ids_lower or ids_upper == [unk] or ids_lower == [unk]
        if got != "Gene" or not distinct:
            raise ValueError(f"{Path(folder) / 'tokenizer.json'}: params say lowercase=false but 'Gene' is "
                             f"normalised to {got!r}")


def run(params: dict, model: str, corpus: Path, out: Path) -> None:
    base = params["pretrain"]["base"]
    if model not in base:
        raise ValueError(f"unknown base model '{model}' (pretrain.base: {', '.join(sorted(base))})")
    cfg = base[model]
    tcfg = cfg.get("tokenizer") or {}
    hub = cfg.get("hub")
    with atomic_dir(out) as tmp:
        if hub:
            from ..models.build import resolve_snapshot

            lowercase = bool(tcfg.get("lowercase", False))
            snap = resolve_snapshot(hub, cfg.get("revision"))
            tok = hub_tokenizer(snap.folder, lowercase)
            tok.save_pretrained(tmp)
            check_casing(tmp, lowercase)
            logger.info("tokenizer for %s: %s (revision %s, commit %s), %d tokens, lowercase=%s", model, hub,
                        cfg.get("revision"), snap.commit, len(tok), lowercase)
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
