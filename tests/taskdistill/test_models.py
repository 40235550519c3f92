"""Students: shapes, padding independence, parameter counts by hand, save/load round trips."""

from __future__ import annotations

import pytest
import torch

from compactbio.taskdistill import models

BILSTM = {"embedding_size": 6, "hidden_size": 5, "num_layers": 2, "classifier_size": 4, "dropout": 0.0}
TINY = {"hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 16}
LABELS = ["B", "I", "O"]


def test_bilstm_row_does_not_depend_on_its_batch():
    torch.manual_seed(0)
    net = models.make("bilstm", BILSTM, vocab_size=20, pad_id=0, labels=LABELS).eval()
    short = torch.tensor([[2, 7, 8, 3]])
    batch = torch.tensor([[2, 7, 8, 3, 0, 0], [2, 9, 10, 11, 12, 3]])
    mask = (batch != 0).long()
    alone = net(input_ids=short).logits
    together = net(input_ids=batch, attention_mask=mask).logits
    assert alone.shape == (1, 4, 3) and together.shape == (2, 6, 3)
    torch.testing.assert_close(together[0, :4], alone[0])


def test_bilstm_parameter_count_by_hand():
    e, h, c, v, k = 6, 5, 4, 20, 3
    lstm1 = 2 * (4 * h * (e + h) + 8 * h)          # both directions: W_ih, W_hh, two biases
    lstm2 = 2 * (4 * h * (2 * h + h) + 8 * h)
    want = v * e + lstm1 + lstm2 + (2 * h * c + c) + (c * k + k)
    net = models.make("bilstm", BILSTM, vocab_size=v, pad_id=0, labels=LABELS)
    assert models.count_parameters(net) == want
    assert models.size_mb(net) == pytest.approx(want * 4 / 1e6)
    linear = models.make("bilstm", {**BILSTM, "classifier_size": 0}, vocab_size=v, pad_id=0, labels=LABELS)
    assert models.count_parameters(linear) == v * e + lstm1 + lstm2 + 2 * h * k + k


@pytest.mark.parametrize("kind,cfg", [("bilstm", BILSTM), ("tinybert", TINY)])
def test_save_and_load_give_the_same_logits(tmp_path, kind, cfg):
    torch.manual_seed(1)
    net = models.make(kind, cfg, vocab_size=30, pad_id=0, labels=LABELS, max_length=64).eval()
    ids = torch.tensor([[2, 5, 6, 7, 3]])
    before = net(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
    models.save(net, kind, tmp_path / "s", LABELS)
    again, meta = models.load(tmp_path / "s")
    assert meta["kind"] == kind and meta["labels"] == LABELS
    torch.testing.assert_close(again(input_ids=ids, attention_mask=torch.ones_like(ids)).logits, before)


def test_tinybert_with_eager_attention_returns_maps():
    net = models.make("tinybert", TINY, vocab_size=30, pad_id=0, labels=LABELS, eager=True).eval()
    ids = torch.tensor([[2, 5, 6, 3]])
    out = net(input_ids=ids, attention_mask=torch.ones_like(ids), output_attentions=True, output_hidden_states=True)
    assert len(out.attentions) == 2 and out.attentions[0].shape == (1, 2, 4, 4)
    assert len(out.hidden_states) == 3
    assert net.config.num_labels == 3 and net.config.id2label[0] == "B"


def test_unknown_student_and_bad_folder(tmp_path):
    with pytest.raises(ValueError, match="unknown student"):
        models.make("gru", {}, vocab_size=5, pad_id=0, labels=LABELS)
    with pytest.raises(ValueError, match="student.json missing"):
        models.load(tmp_path)
