"""Build the demo's tiny models of the real architectures, or load hub snapshots."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from transformers import (AutoModelForMaskedLM, BertConfig, BertForMaskedLM, DistilBertConfig,
                          DistilBertForMaskedLM, MobileBertConfig, MobileBertForMaskedLM)

logger = logging.getLogger(__name__)

_CLASSES = {
    "bert": (BertConfig, BertForMaskedLM),
    "distilbert": (DistilBertConfig, DistilBertForMaskedLM),
    "mobilebert": (MobileBertConfig, MobileBertForMaskedLM),
}


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


def load_masked_lm(path_or_hub: str | Path, revision: str | None = None, attn_implementation: str | None = None):
    """Load a masked LM from a folder or the hub, preferring safetensors weights."""
    kwargs = {}
    if revision:
        kwargs["revision"] = revision
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    try:
        return AutoModelForMaskedLM.from_pretrained(str(path_or_hub), use_safetensors=True, **kwargs)
    except (OSError, EnvironmentError) as exc:
        if Path(str(path_or_hub)).is_dir():
            raise
        # Some hub snapshots ship only pytorch_model.bin; transformers loads it with weights_only.
        logger.warning("no safetensors weights for %s (%s); falling back to the .bin file", path_or_hub, exc)
        return AutoModelForMaskedLM.from_pretrained(str(path_or_hub), use_safetensors=False, **kwargs)
