"""Parameter counts against hand computation, at tiny and at the published sizes."""

from __future__ import annotations

import pytest
import torch

from compactbio.bench.architectures import ARCHITECTURES, GROUP_ORDER, build_model, count_parameters, get


def bert_params(V, H, L, I, P=512, T=2, pooler=True):
    """Hand count of a BertModel: embeddings, L layers, pooler (weights + biases)."""
    emb = (V + P + T) * H + 2 * H  # word, position, type tables + LayerNorm
    layer = (4 * (H * H + H)      # Q, K, V, attention output
             + 2 * H               # attention LayerNorm
             + (H * I + I) + (I * H + H)  # feed-forward
             + 2 * H)              # output LayerNorm
    return emb + L * layer + (H * H + H if pooler else 0), emb


def distilbert_params(V, H, L, I, P=512):
    emb = (V + P) * H + 2 * H
    layer = 4 * (H * H + H) + 2 * H + (H * I + I) + (I * H + H) + 2 * H
    return emb + L * layer, emb


def test_tiny_bert_count_matches_hand_computation():
    cfg = dict(vocab_size=50, hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
               intermediate_size=16, max_position_embeddings=20, type_vocab_size=2)
    total, non_emb = count_parameters(build_model("bert", cfg))
    want_total, want_emb = bert_params(50, 8, 2, 16, P=20)
    # by hand: emb = 72*8 + 16 = 592; layer = 4*72 + 16 + 144 + 136 + 16 = 600; pooler 72
    assert want_total == 592 + 2 * 600 + 72
    assert (total, non_emb) == (want_total, want_total - want_emb)


def _meta_count(name):
    arch = get(name)
    with torch.device("meta"):  # no memory, no init time: only shapes
        return count_parameters(build_model(arch.kind, arch.config("paper")))


@pytest.mark.parametrize("name,expected", [
    ("bert-base-cased", bert_params(28996, 768, 12, 3072)),
    ("bert-6l-768d-cased", bert_params(28996, 768, 6, 3072)),
    ("bert-4l-312d-cased", bert_params(28996, 312, 4, 1200)),
    ("tinybert-4l-312d", bert_params(30522, 312, 4, 1200)),
    ("distilbert-base-cased", distilbert_params(28996, 768, 6, 3072)),
])
def test_paper_sizes_match_hand_computation(name, expected):
    total, emb = expected
    assert _meta_count(name) == (total, total - emb)


def test_paper_sizes_are_the_published_ones():
    # BioBERT-base 108.3M, DistilBERT-cased 65.2M, TinyBioBERT ~14M ("15M"), MobileBERT ~25M.
    assert _meta_count("bert-base-cased")[0] == 108_310_272
    assert _meta_count("distilbert-base-cased")[0] == 65_190_912
    assert _meta_count("bert-4l-312d-cased")[0] == 13_874_136
    assert 24e6 < _meta_count("mobilebert-uncased")[0] < 26e6
    mobile = get("mobilebert-uncased").config("paper")
    assert (mobile["num_hidden_layers"], mobile["hidden_size"], mobile["embedding_size"],
            mobile["intra_bottleneck_size"], mobile["num_attention_heads"],
            mobile["num_feedforward_networks"], mobile["vocab_size"]) == (24, 512, 128, 128, 4, 4, 30522)


def test_tiny_configs_keep_the_size_ordering():
    counts = {n: count_parameters(build_model(a.kind, a.config("tiny")))[0] for n, a in ARCHITECTURES.items()}
    assert counts["bert-base-cased"] > counts["bert-6l-768d-cased"] > counts["bert-4l-312d-cased"]
    assert all(a.group in GROUP_ORDER for a in ARCHITECTURES.values())


def test_unknown_size_or_architecture_is_a_value_error():
    with pytest.raises(ValueError, match="efficiency.size"):
        get("bert-base-cased").config("huge")
    with pytest.raises(ValueError, match="unknown architecture"):
        get("gpt-5")
