"""Build the demo's tiny models of the real architectures, or load hub snapshots and model folders.

Hub repositories come in many shapes: Google-converted BERT checkpoints
(BioBERT) have a ``config.json`` without ``model_type`` (transformers 5 then
raises ``ValueError`` from the Auto classes) and only ``pytorch_model.bin``;
TinyBERT's config carries extra keys of its own code base; newer repositories
have ``model.safetensors``.  So loading never goes through the Auto classes:
the config class is chosen by ``model_type`` or, when it has none, by the
params ``arch``, and the weight file by what the snapshot really holds.

A hub id is resolved with :func:`huggingface_hub.snapshot_download`, which
downloads when online and reads the local hub cache when ``HF_HUB_OFFLINE=1``;
both end in the same folder code path (there is no special case for mirrors).
``trust_remote_code`` is never used.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path

import torch
from transformers import (BertConfig, BertForMaskedLM, DistilBertConfig, DistilBertForMaskedLM, MobileBertConfig,
                          MobileBertForMaskedLM)

logger = logging.getLogger(__name__)

_CLASSES = {
    "bert": (BertConfig, BertForMaskedLM),
    "distilbert": (DistilBertConfig, DistilBertForMaskedLM),
    "mobilebert": (MobileBertConfig, MobileBertForMaskedLM),
}
# What the PyTorch path can read from a snapshot; nothing else is downloaded.
HUB_FILES = ["config.json", "model.safetensors", "model.safetensors.index.json", "model-*.safetensors",
             "pytorch_model.bin", "pytorch_model.bin.index.json", "pytorch_model-*.bin", "vocab.txt",
             "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]
# In order of preference; the .bin files only when no safetensors file is there at all.
WEIGHT_FILES = [("model.safetensors", True), ("model.safetensors.index.json", True),
                ("pytorch_model.bin", False), ("pytorch_model.bin.index.json", False)]
_IGNORED_MISSING = ("position_ids",)


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """A model folder on disk and where it came from (``commit`` is None for a local folder)."""
    folder: Path
    source: str
    revision: str | None
    commit: str | None


def resolve_snapshot(source: str | Path, revision: str | None = None) -> Snapshot:
    """A local folder as is, or a hub repository at ``revision`` (a commit hash, a branch or None for main)."""
    local = Path(str(source)).expanduser()
    if local.is_dir():
        return Snapshot(local, str(source), None, None)
    if str(source).startswith((".", "/", "~")) or str(source).count("/") > 1:
        raise FileNotFoundError(f"{source}: model folder not found")
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(str(source), revision=revision or None, allow_patterns=HUB_FILES))
    except Exception as exc:   # huggingface_hub raises many types (offline, missing revision, no such repo)
        raise FileNotFoundError(f"{source} (revision {revision or 'main'}): cannot be resolved from the hub or "
                                f"its cache ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
                                ) from None
    return Snapshot(folder, str(source), revision, folder.name)


def read_config(folder: Path, arch: str | None = None):
    """The config of ``folder``: by ``model_type``, or by the params ``arch`` when the config has none.

    Unknown keys (TinyBERT's ``cell``, ``structure`` ...) are kept as plain attributes.
    """
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no config.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    model_type = data.get("model_type")
    if model_type is None and arch is None:
        raise ValueError(f"{path}: config has no model_type and no arch was given (pretrain.base.<model>.arch)")
    if model_type is not None and arch is not None and model_type != arch:
        raise ValueError(f"{path}: model_type is {model_type!r} but params arch is {arch!r}")
    kind = model_type or arch
    if kind not in _CLASSES:
        raise ValueError(f"{path}: model type {kind!r} is not supported; expected one of {sorted(_CLASSES)}")
    if model_type is None:
        logger.info("%s has no model_type: reading it as %s (params arch)", path, kind)
    kwargs = {k: v for k, v in data.items() if k not in ("model_type", "transformers_version")}
    try:
        return _CLASSES[kind][0].from_dict(kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: bad {kind} config: {exc}") from None


def weight_file(folder: Path) -> tuple[Path, bool]:
    """The weight file to read and whether it is safetensors.

    ``.bin`` is used only when no safetensors file exists at all: a present
    but corrupt (or dangling) ``model.safetensors`` is an error, not a reason
    to read a pickle instead.
    """
    for name, safe in WEIGHT_FILES:
        path = Path(folder) / name
        if os.path.lexists(path):
            if not path.exists():
                raise FileNotFoundError(f"{path}: dangling link (incomplete download?)")
            return path, safe
    raise FileNotFoundError(f"{folder}: no model.safetensors or pytorch_model.bin")


def load_folder(folder: Path, arch: str | None = None, attn_implementation: str | None = None):
    """``(*ForMaskedLM, info)`` from a model folder; ``info`` lists newly initialised and unused weights."""
    folder = Path(folder)
    cfg = read_config(folder, arch)
    model_cls = _CLASSES[cfg.model_type][1]
    path, safe = weight_file(folder)
    kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
    try:
        # .bin files are read by transformers with torch.load(weights_only=True).
        model, info = model_cls.from_pretrained(str(folder), config=cfg, use_safetensors=safe,
                                                output_loading_info=True, **kwargs)
    except (OSError, RuntimeError, ValueError, EnvironmentError) as exc:
        raise ValueError(f"{path}: cannot load weights ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    except Exception as exc:   # safetensors' own error type, unpickling refusals
        raise ValueError(f"{path}: cannot load weights ({type(exc).__name__}: {exc})") from None
    missing = [k for k in info.get("missing_keys", []) if not k.endswith(_IGNORED_MISSING)]
    unused = list(info.get("unexpected_keys", []))
    if missing:
        logger.warning("%s: %d weights are not in the checkpoint and were initialised randomly: %s", path,
                       len(missing), ", ".join(sorted(missing)[:8]))
    if unused:
        logger.info("%s: %d checkpoint weights are not used by %s: %s", path, len(unused), model_cls.__name__,
                    ", ".join(sorted(unused)[:8]))
    return model, {"weights": path.name, "newly initialised": sorted(missing), "unused": sorted(unused)}


def load_hub_masked_lm(source: str | Path, revision: str | None = None, arch: str | None = None,
                       attn_implementation: str | None = None):
    """``(model, facts)`` for a hub id or local folder; ``facts`` say where the weights came from."""
    snap = resolve_snapshot(source, revision)
    model, info = load_folder(snap.folder, arch, attn_implementation)
    facts = {"source": snap.source, "revision": snap.revision, "resolved commit": snap.commit,
             "weights file": info["weights"],
             "weights initialised randomly": ", ".join(info["newly initialised"]) or "none"}
    return model, facts


def tiny_model(arch: str, config: dict, tokenizer, seed: int, attn_implementation: str | None = None):
    """A randomly initialised ``*ForMaskedLM`` of ``arch`` with the tokenizer's vocabulary."""
    if arch not in _CLASSES:
        raise ValueError(f"pretrain.base: unknown arch {arch!r}; expected one of {sorted(_CLASSES)}")
    if not isinstance(config, dict) or not config:
        raise ValueError(f"pretrain.base: arch {arch} needs a `config` mapping when `hub` is null")
    cfg_cls, model_cls = _CLASSES[arch]
    kwargs = dict(config)
    kwargs.update(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id)
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    try:
        cfg = cfg_cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"pretrain.base: bad config for {arch}: {exc}") from None
    torch.manual_seed(seed)
    return model_cls(cfg)


def load_masked_lm(path_or_hub: str | Path, revision: str | None = None, attn_implementation: str | None = None,
                   arch: str | None = None):
    """Load a masked LM from a folder or the hub (safetensors preferred, ``.bin`` only when absent)."""
    return load_hub_masked_lm(path_or_hub, revision, arch, attn_implementation)[0]
