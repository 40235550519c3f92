"""Write a trained model as a save_pretrained folder with its tokenizer and a model card."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import yaml

from ..io import atomic_dir

logger = logging.getLogger(__name__)


def file_sha256(path: Path, limit: int | None = None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        read = 0
        while chunk := f.read(1 << 20):
            h.update(chunk)
            read += len(chunk)
            if limit is not None and read >= limit:
                break
    return h.hexdigest()


def model_card(title: str, facts: dict, recipe: dict | None = None) -> str:
    lines = [f"# {title}", "", "Made by the compactbio pipeline (`params.yaml` is the source of truth).", ""]
    lines += [f"- **{k}**: {v}" for k, v in facts.items()]
    if recipe is not None:
        lines += ["", "## Recipe", "", "```yaml", yaml.safe_dump(recipe, sort_keys=False).rstrip(), "```"]
    lines += ["", "Load with `AutoModelForMaskedLM.from_pretrained(path)` or "
              "`AutoModelForTokenClassification.from_pretrained(path, num_labels=...)`.", ""]
    return "\n".join(lines)


def export(model, tokenizer, out: Path, card: str) -> None:
    """Atomically write ``model`` (safetensors) + tokenizer + README.md to ``out``."""
    cfg = model.config
    previous = getattr(cfg, "_attn_implementation", None)
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "README.md").write_text(card, encoding="utf-8")
        # A training-time eager choice is not a property of the model: let loaders pick their default.
        cfg_path = tmp / "config.json"
        data = json.loads(cfg_path.read_text(encoding="utf-8"))
        dropped = [data.pop(k, None) for k in ("_attn_implementation", "attn_implementation")]
        if any(v is not None for v in dropped):
            cfg_path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    logger.info("wrote %s (attention used in training: %s)", out, previous)
