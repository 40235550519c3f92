"""Student initialisation for distillation (paper Sections 4.1.2, 4.2.2, 4.3).

* ``alternate_layers`` (DistilBioBERT, CompactBioBERT): the teacher's own
  architecture with half the layers; embeddings and every other encoder
  layer are copied.  ``layers`` picks which half (0-based teacher indices):
  ``even`` keeps 0, 2, ..., L-2 (DistilBioBERT-Distillation.py:
  ``bertModel.encoder.layer[2*index]``), ``odd`` keeps 1, 3, ..., L-1
  (CompactBioBERT-Distillation.py: ``layer[2*index + 1]``), or an explicit
  list of 0-based indices.  ``mlm_head``: ``copy`` takes the teacher's MLM
  head; ``fresh`` (the authors' scripts) keeps only the decoder tied to the
  copied word embeddings and initialises the head's transform and bias anew
  -- their ``initializeStudent`` saves a headless ``BertModel`` that
  ``AutoModelForMaskedLM`` then loads.
* ``random`` (TinyBioBERT): a BERT with the teacher's vocabulary and the
  sizes in ``config``, randomly initialised.
"""

from __future__ import annotations

import copy
import re

import torch
from transformers import BertConfig, BertForMaskedLM

_LAYER = re.compile(r"^(.*\.(?:encoder|transformer)\.layer\.)(\d+)(\..*)$")


LAYER_RULES = ("even", "odd")
MLM_HEADS = ("copy", "fresh")


def kept_layers(n_teacher: int, layers="odd") -> list[int]:
    """0-based teacher layers copied by ``alternate_layers``.

    ``even``: 0, 2, ..., n-2; ``odd``: 1, 3, ..., n-1; a list: those indices
    (increasing, each in 0..n-1).
    """
    if n_teacher < 2:
        raise ValueError(f"alternate_layers needs a teacher with >= 2 layers, got {n_teacher}")
    if isinstance(layers, str):
        if layers not in LAYER_RULES:
            raise ValueError(f"pretrain.distill: student.layers must be even, odd or a list, got {layers!r}")
        return list(range(0 if layers == "even" else 1, n_teacher, 2))
    keep = [int(i) for i in layers]
    if not keep or any(not 0 <= i < n_teacher for i in keep) or keep != sorted(set(keep)):
        raise ValueError(f"pretrain.distill: student.layers {list(layers)} must be increasing, distinct "
                         f"0-based teacher layers in 0..{n_teacher - 1}")
    return keep


def fresh_mlm_head(student, seed: int) -> None:
    """Re-initialise the MLM head's transform and output bias (the decoder stays tied to the embeddings)."""
    cls = getattr(student, "cls", None)
    pred = getattr(cls, "predictions", None)
    if pred is None or not hasattr(pred, "transform"):
        raise ValueError(f"pretrain.distill: student.mlm_head fresh needs a BERT MLM head, "
                         f"got {type(student).__name__}")
    # Explicit BERT init (normal(0, initializer_range), LayerNorm 1/0): transformers 5's
    # _init_weights skips modules it has marked as loaded.
    gen = torch.Generator().manual_seed(int(seed))
    std = float(getattr(student.config, "initializer_range", 0.02))
    with torch.no_grad():
        for module in pred.transform.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * std)
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, torch.nn.LayerNorm):
                module.weight.fill_(1.0)
                module.bias.zero_()
        pred.bias.zero_()
    student.tie_weights()


def alternate_layers(teacher, attn_implementation: str | None = None, layers="odd",
                     mlm_head: str = "copy", seed: int = 0):
    """A half-depth copy of ``teacher`` (same class and sizes)."""
    if mlm_head not in MLM_HEADS:
        raise ValueError(f"pretrain.distill: student.mlm_head must be one of {MLM_HEADS}, got {mlm_head!r}")
    keep = kept_layers(int(teacher.config.num_hidden_layers), layers)
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
    if mlm_head == "fresh":
        fresh_mlm_head(student, seed)
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
        return alternate_layers(teacher, attn_implementation, spec.get("layers", "odd"),
                                spec.get("mlm_head", "copy"), seed)
    if init == "random":
        return random_bert(teacher, spec.get("config"), seed, attn_implementation)
    raise ValueError(f"pretrain.distill: student.init must be alternate_layers or random, got {init!r}")
