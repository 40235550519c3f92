"""Student initialisation for distillation (paper Sections 4.1.2, 4.2.2, 4.3).

* ``alternate_layers`` (DistilBioBERT, CompactBioBERT): the teacher's own
  architecture with half the layers; embeddings, MLM head and every other
  encoder layer are copied.  Teacher layers 2, 4, ..., L (1-based) are kept,
  so student layer ``l`` starts as teacher layer ``2l`` -- the same map
  ``g(l) = 2l`` the layer-wise losses use, and the last student layer starts
  as the teacher's last layer, which feeds the copied MLM head.
* ``random`` (TinyBioBERT): a BERT with the teacher's vocabulary and the
  sizes in ``config``, randomly initialised.
"""

from __future__ import annotations

import copy
import re

import torch
from transformers import BertConfig, BertForMaskedLM

_LAYER = re.compile(r"^(.*\.(?:encoder|transformer)\.layer\.)(\d+)(\..*)$")


def kept_layers(n_teacher: int) -> list[int]:
    """0-based teacher layers copied by ``alternate_layers``: 1, 3, ..., n-1."""
    if n_teacher < 2:
        raise ValueError(f"alternate_layers needs a teacher with >= 2 layers, got {n_teacher}")
    return list(range(1, n_teacher, 2))


def alternate_layers(teacher, attn_implementation: str | None = None):
    """A half-depth copy of ``teacher`` (same class and sizes)."""
    keep = kept_layers(int(teacher.config.num_hidden_layers))
    cfg = copy.deepcopy(teacher.config)
    cfg.num_hidden_layers = len(keep)
    if attn_implementation:
        cfg._attn_implementation = attn_implementation
    student = type(teacher)(cfg)
    new_index = {t: i for i, t in enumerate(keep)}
    state = {}
    for key, value in teacher.state_dict().items():
        m = _LAYER.match(key)
        if m is None:
            state[key] = value.detach().clone()
        elif int(m.group(2)) in new_index:
            state[f"{m.group(1)}{new_index[int(m.group(2))]}{m.group(3)}"] = value.detach().clone()
    missing, unexpected = student.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise ValueError(f"alternate_layers: could not map teacher weights (missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]})")
    student.tie_weights()
    return student


def random_bert(teacher, config: dict, seed: int, attn_implementation: str | None = None):
    """A random BERT with the teacher's vocabulary, positions and special tokens."""
    if not isinstance(config, dict) or not config:
        raise ValueError("pretrain.distill: init random needs student.config with the student's sizes")
    t = teacher.config
    kwargs = dict(vocab_size=t.vocab_size, pad_token_id=t.pad_token_id,
                  max_position_embeddings=getattr(t, "max_position_embeddings", 512),
                  type_vocab_size=getattr(t, "type_vocab_size", 2))
    kwargs.update(config)
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    try:
        cfg = BertConfig(**kwargs)
    except TypeError as exc:
        raise ValueError(f"pretrain.distill: bad student config: {exc}") from None
    torch.manual_seed(seed)
    return BertForMaskedLM(cfg)


def make_student(teacher, spec: dict, seed: int, attn_implementation: str | None = None):
    init = spec.get("init")
    if init == "alternate_layers":
        return alternate_layers(teacher, attn_implementation)
    if init == "random":
        return random_bert(teacher, spec.get("config"), seed, attn_implementation)
    raise ValueError(f"pretrain.distill: student.init must be alternate_layers or random, got {init!r}")
