"""Uniform access to the encoder and the MLM head of the supported architectures.

The training loop runs the encoder, gathers the hidden states at masked
positions and only then applies the vocabulary-sized head, which is the most
expensive matmul of a small model; stock ``*ForMaskedLM.forward`` would
compute it for every token.
"""

from __future__ import annotations

import torch
from torch import nn

ARCHS = ("bert", "distilbert", "mobilebert")


def arch_of(model: nn.Module) -> str:
    kind = getattr(model.config, "model_type", None)
    if kind not in ARCHS:
        raise ValueError(f"unsupported architecture {kind!r}; supported: {', '.join(ARCHS)}")
    return kind


def mlm_head(model: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """Vocabulary logits for hidden states of any leading shape (``[M, D]`` at masked positions)."""
    kind = arch_of(model)
    if kind in ("bert", "mobilebert"):
        return model.cls(hidden)
    x = model.vocab_layer_norm(model.activation(model.vocab_transform(hidden)))
    return model.vocab_projector(x)


def encode(model: nn.Module, input_ids, attention_mask, hidden_states: bool = False, attentions: bool = False):
    """Run the encoder only (no head).  Returns the HF output with optional hidden states / maps."""
    return model.base_model(input_ids=input_ids, attention_mask=attention_mask,
                            output_hidden_states=hidden_states, output_attentions=attentions,
                            return_dict=True)


def num_layers(model: nn.Module) -> int:
    return int(model.config.num_hidden_layers)


def hidden_size(model: nn.Module) -> int:
    return int(model.config.hidden_size)


def num_heads(model: nn.Module) -> int:
    return int(model.config.num_attention_heads)
