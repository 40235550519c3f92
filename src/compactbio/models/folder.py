"""Write a model as a self-contained Hugging Face folder: weights, config, tokenizer (with ``vocab.txt``), card.

Shared by every stage that keeps a transformer (pre-trained models, the kept
fine-tuned task models, the task-distillation teacher), so all of them hold
the same files and nothing else.  It writes into a folder the caller made
(the temporary folder of :func:`compactbio.io.atomic_dir`), never in place.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from . import card as cards

logger = logging.getLogger(__name__)

VOCAB = "vocab.txt"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", VOCAB)


def write_vocab(tokenizer, folder: Path) -> Path | None:
    """``vocab.txt`` of a WordPiece tokenizer (BERT, DistilBERT, MobileBERT, TinyBERT), one token a line, line = id.

    transformers 5 saves a tokenizers-backed tokenizer as ``tokenizer.json`` only
    (``TokenizersBackend._save_pretrained``); its ``save_vocabulary`` copies the
    file the tokenizer was loaded from, and ours were loaded from tokenizer.json.
    Tools that read the classic BERT layout (the original BERT / BioBERT code,
    ``BertTokenizer(vocab_file)`` of older transformers, other toolkits) need
    ``vocab.txt``; the tokenizers library's own ``WordPiece.save`` writes it.  A
    vocabulary whose ids have gaps cannot be written as lines (ids would shift),
    so it is refused rather than written wrong.  Returns None for other models.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    model = getattr(backend, "model", None)
    if model is None or type(model).__name__ != "WordPiece":
        return None
    vocab = backend.get_vocab(with_added_tokens=False)
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise ValueError(f"{Path(folder) / VOCAB}: the tokenizer's WordPiece ids are not 0..{len(vocab) - 1} "
                         f"without gaps; cannot write them one a line")
    written = [Path(p) for p in model.save(str(folder))]
    path = Path(folder) / VOCAB
    if path not in written:
        raise ValueError(f"{folder}: the WordPiece model wrote {[p.name for p in written]}, not {VOCAB}")
    return path


def save_tokenizer(tokenizer, folder: Path) -> None:
    tokenizer.save_pretrained(str(folder))
    write_vocab(tokenizer, Path(folder))


def copy_tokenizer(src: Path, dest: Path) -> None:
    """The tokenizer files of model folder ``src``, byte for byte, plus ``vocab.txt`` if ``src`` has none.

    Byte copies keep ``tokenizer.json``'s sha256, which later stages compare to
    check that two folders tokenize alike; re-saving could reorder its JSON.
    """
    import shutil

    src, dest = Path(src), Path(dest)
    for name in TOKENIZER_FILES:
        if (src / name).is_file():
            shutil.copyfile(src / name, dest / name)
    if not (dest / VOCAB).is_file():
        from transformers import AutoTokenizer

        write_vocab(AutoTokenizer.from_pretrained(str(src)), dest)


def write_model_folder(model, tokenizer, folder: Path, card, tokenizer_from: Path | None = None) -> None:
    """``model`` (safetensors) + ``tokenizer`` (+ ``vocab.txt``) + the card into ``folder``.

    ``tokenizer_from``: copy that model folder's tokenizer files instead of
    saving ``tokenizer`` (which may then be None).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder), safe_serialization=True)
    if tokenizer_from is not None:
        copy_tokenizer(tokenizer_from, folder)
    else:
        save_tokenizer(tokenizer, folder)
    cards.write(card, folder)
    # A training-time eager choice is not a property of the model: let loaders pick their default.
    cfg_path = folder / "config.json"
    data = json.loads(cfg_path.read_text(encoding="utf-8"))
    dropped = [data.pop(k, None) for k in ("_attn_implementation", "attn_implementation")]
    if any(v is not None for v in dropped):
        cfg_path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
