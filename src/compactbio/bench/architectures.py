"""The architectures of the study, as hard-coded configs, and how to count their parameters.

Timing and memory depend only on an architecture's shape, not on its trained
weights, so the efficiency stage builds every model from its config with random
weights and never touches the hub: it runs offline and needs none of the
pre-training outputs.  The ``paper`` configs copy the real ``config.json`` of
each published checkpoint; the ``tiny`` configs keep the same model class and
the same ordering of sizes (base > distilled > small) so the demo scale
exercises exactly the same code in seconds.

Several models of the grid share one architecture (DistilBioBERT and
CompactBioBERT are both BERT 6x768; BioTinyBERT is TinyBERT with other
weights), so each architecture is measured once and reported under every
model id that uses it.  ``group`` is the label of the paper's Fig. 2
('small', 'mobile', 'distilled', 'base').
"""

from __future__ import annotations

from dataclasses import dataclass, field

SIZES = ("tiny", "paper")
GROUP_ORDER = ("small", "mobile", "distilled", "base")


@dataclass(frozen=True)
class Architecture:
    name: str
    kind: str  # transformers model family: bert | distilbert | mobilebert
    group: str  # Fig. 2 label
    description: str
    paper: dict = field(default_factory=dict)
    tiny: dict = field(default_factory=dict)

    def config(self, size: str) -> dict:
        if size not in SIZES:
            raise ValueError(f"efficiency.size must be one of {SIZES}, got {size!r}")
        return dict(self.paper if size == "paper" else self.tiny)


# BERT keys shared by the BERT-family configs of the published checkpoints.
_BERT_COMMON = dict(max_position_embeddings=512, type_vocab_size=2, hidden_act="gelu",
                    layer_norm_eps=1e-12, pad_token_id=0)

ARCHITECTURES: dict[str, Architecture] = {a.name: a for a in [
    Architecture(
        "bert-base-cased", "bert", "base",
        "BERT-base, cased vocabulary (dmis-lab/biobert-base-cased-v1.1)",
        paper=dict(_BERT_COMMON, vocab_size=28996, hidden_size=768, num_hidden_layers=12,
                   num_attention_heads=12, intermediate_size=3072),
        tiny=dict(_BERT_COMMON, vocab_size=4000, hidden_size=128, num_hidden_layers=8,
                  num_attention_heads=4, intermediate_size=512),
    ),
    Architecture(
        "bert-6l-768d-cased", "bert", "distilled",
        "BERT 6x768, cased vocabulary (nlpie/distil-biobert, nlpie/compact-biobert)",
        paper=dict(_BERT_COMMON, vocab_size=28996, hidden_size=768, num_hidden_layers=6,
                   num_attention_heads=12, intermediate_size=3072),
        tiny=dict(_BERT_COMMON, vocab_size=4000, hidden_size=128, num_hidden_layers=4,
                  num_attention_heads=4, intermediate_size=512),
    ),
    Architecture(
        "distilbert-base-cased", "distilbert", "distilled",
        "DistilBERT 6x768, cased vocabulary (distilbert-base-cased)",
        paper=dict(vocab_size=28996, dim=768, n_layers=6, n_heads=12, hidden_dim=3072,
                   max_position_embeddings=512, sinusoidal_pos_embds=False, activation="gelu",
                   pad_token_id=0),
        tiny=dict(vocab_size=4000, dim=128, n_layers=4, n_heads=4, hidden_dim=512,
                  max_position_embeddings=512, sinusoidal_pos_embds=False, activation="gelu",
                  pad_token_id=0),
    ),
    Architecture(
        "bert-4l-312d-cased", "bert", "small",
        "BERT 4x312, 12 heads, cased vocabulary (nlpie/tiny-biobert)",
        paper=dict(_BERT_COMMON, vocab_size=28996, hidden_size=312, num_hidden_layers=4,
                   num_attention_heads=12, intermediate_size=1200),
        tiny=dict(_BERT_COMMON, vocab_size=4000, hidden_size=48, num_hidden_layers=2,
                  num_attention_heads=4, intermediate_size=192),
    ),
    Architecture(
        "tinybert-4l-312d", "bert", "small",
        "BERT 4x312, 12 heads, uncased vocabulary (huawei-noah/TinyBERT_General_4L_312D)",
        paper=dict(_BERT_COMMON, vocab_size=30522, hidden_size=312, num_hidden_layers=4,
                   num_attention_heads=12, intermediate_size=1200),
        tiny=dict(_BERT_COMMON, vocab_size=4000, hidden_size=48, num_hidden_layers=2,
                  num_attention_heads=4, intermediate_size=192),
    ),
    Architecture(
        "mobilebert-uncased", "mobilebert", "mobile",
        "MobileBERT 24 layers, hidden 512, bottleneck 128, 4 FFNs (google/mobilebert-uncased)",
        paper=dict(vocab_size=30522, hidden_size=512, embedding_size=128, num_hidden_layers=24,
                   num_attention_heads=4, intermediate_size=512, intra_bottleneck_size=128,
                   true_hidden_size=128, num_feedforward_networks=4, trigram_input=True,
                   use_bottleneck=True, key_query_shared_bottleneck=True,
                   use_bottleneck_attention=False, normalization_type="no_norm",
                   hidden_act="relu", max_position_embeddings=512, type_vocab_size=2,
                   classifier_activation=False, layer_norm_eps=1e-12, pad_token_id=0),
        tiny=dict(vocab_size=4000, hidden_size=64, embedding_size=32, num_hidden_layers=6,
                  num_attention_heads=4, intermediate_size=64, intra_bottleneck_size=32,
                  true_hidden_size=32, num_feedforward_networks=2, trigram_input=True,
                  use_bottleneck=True, key_query_shared_bottleneck=True,
                  use_bottleneck_attention=False, normalization_type="no_norm",
                  hidden_act="relu", max_position_embeddings=512, type_vocab_size=2,
                  classifier_activation=False, layer_norm_eps=1e-12, pad_token_id=0),
    ),
]}


def get(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; known: {sorted(ARCHITECTURES)}") from None


def model_classes(kind: str):
    """``(config class, model class)`` of a family; importing them is the slow, memory-hungry part."""
    import transformers

    classes = {
        "bert": ("BertConfig", "BertModel"),
        "distilbert": ("DistilBertConfig", "DistilBertModel"),
        "mobilebert": ("MobileBertConfig", "MobileBertModel"),
    }
    if kind not in classes:
        raise ValueError(f"unknown model family {kind!r}; known: {sorted(classes)}")
    return tuple(getattr(transformers, name) for name in classes[kind])


def build_model(kind: str, config: dict):
    """A randomly initialised bare encoder (no task head) of the given family.

    The bare encoder is what every task head sits on; the heads (a linear layer
    or two) are negligible next to it, so they are left out to keep the
    measurement about the architectures the paper compares.
    """
    config_cls, model_cls = model_classes(kind)
    model = model_cls(config_cls(**config))
    model.eval()
    return model


def count_parameters(model) -> tuple[int, int]:
    """``(total, without embeddings)``; embeddings are everything under ``model.embeddings``.

    For MobileBERT that includes its embedding up-projection (128*3 -> 512),
    which is part of its embedding block in the published model.
    """
    total = sum(p.numel() for p in model.parameters())
    embeddings = sum(p.numel() for p in model.embeddings.parameters())
    return total, total - embeddings
