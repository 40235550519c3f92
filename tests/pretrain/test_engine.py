"""Masking, batching, accumulation, MLM learning, params-hash restarts and the base/continual stages."""

from __future__ import annotations

import copy
import csv
import json
import logging
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForMaskedLM, AutoModelForTokenClassification

from compactbio.pretrain import base
from compactbio.pretrain import continual, data
from compactbio.pretrain.data import Masker, StepBatches, accumulation_steps, collate, epoch_batches, load_corpus


def test_dynamic_masking_statistics():
    rng = np.random.default_rng(0)
    rows = [np.concatenate([[2], rng.integers(5, 45, 60), [3]]) for _ in range(400)]
    m = Masker(mask_id=4, vocab_size=45, special_ids=(0, 1, 2, 3, 4), probability=0.15)
    out = m(rows, torch.Generator().manual_seed(0))
    chosen = kept = masked = rand = 0
    for (ids, labels), r in zip(out, rows):
        sel = labels != -100
        assert not sel[0] and not sel[-1]  # [CLS] / [SEP] never chosen
        assert np.array_equal(labels[sel], r[sel]) and np.array_equal(ids[~sel], r[~sel])
        chosen += sel.sum()
        masked += (ids[sel] == 4).sum()
        same = ids[sel] == r[sel]
        kept += same.sum()
        rand += (~same & (ids[sel] != 4)).sum()
    total = sum(len(r) - 2 for r in rows)
    assert chosen / total == pytest.approx(0.15, abs=0.01)
    assert masked / chosen == pytest.approx(0.8, abs=0.02)
    # "kept" also includes random draws that hit the original token (1/45 of 10%)
    assert kept / chosen == pytest.approx(0.1 + 0.1 / 45, abs=0.02)
    assert rand / chosen == pytest.approx(0.1 - 0.1 / 45, abs=0.02)


def test_length_grouped_batches_padded_to_multiple_of_8():
    lengths = np.random.default_rng(1).integers(5, 60, 500)
    batches = epoch_batches(lengths, 16, seed=3, epoch=0)
    assert len(batches) == 500 // 16 and len({len(b) for b in batches}) == 1
    assert len(set(np.concatenate(batches).tolist())) == len(batches) * 16  # no row twice
    spread = np.mean([lengths[b].max() - lengths[b].min() for b in batches])
    assert spread < 10  # grouped: random batches would spread ~50
    assert [b.tolist() for b in epoch_batches(lengths, 16, 3, 0)] == [b.tolist() for b in batches]
    assert [b.tolist() for b in epoch_batches(lengths, 16, 3, 1)] != [b.tolist() for b in batches]
    batch = collate([(np.arange(13), np.full(13, -100)), (np.arange(5), np.full(5, -100))], pad_id=0)
    assert batch["input_ids"].shape == (2, 16)
    assert batch["attention_mask"].sum(1).tolist() == [13, 5]


def test_sharding_covers_the_global_batch_once(assets):
    rows = load_corpus(assets["corpus"], 45)
    m = Masker(4, 45, (0, 1, 2, 3, 4))
    whole, n_masked, _ = StepBatches(rows, 8, 1, 1, 0, 0, m, 0)(3)
    parts = [StepBatches(rows, 8, 2, 2, r, 0, m, 0)(3) for r in range(2)]
    assert all(p[1] == n_masked for p in parts)  # same global masks on every rank
    got = sorted(int((b["labels"] != -100).sum()) for p in parts for b in p[0])
    assert sum(got) == n_masked == int((whole[0]["labels"] != -100).sum())


@pytest.mark.parametrize("batch, world, acc, max_rows, expected", [
    (8, 1, 1, None, 1), (8, 1, 3, None, 3),  # as configured (StepBatches checks divisibility)
    (8, 1, 1, 8, 1), (8, 1, 1, 4, 2), (8, 1, 1, 3, 4), (8, 2, 1, 2, 2), (8, 1, 2, 8, 2),
    (192, 8, 1, 16, 2), (192, 3, 1, 30, 4), (192, 1, 1, 1, 192)])
def test_accumulation_derived_from_max_device_batch(batch, world, acc, max_rows, expected):
    got = accumulation_steps(batch, world, acc, max_rows)
    assert got == expected
    if max_rows is not None:
        assert batch % (got * world) == 0 and batch // (got * world) <= max_rows


def test_accumulation_cannot_split_unevenly():
    with pytest.raises(ValueError, match="over 3 processes"):
        accumulation_steps(8, 3, 1, 2)
    with pytest.raises(ValueError, match="max_device_batch"):
        accumulation_steps(8, 1, 1, 0)


def test_bad_corpus_names_file_and_row(tmp_path):
    import pyarrow as pa
    table = pa.table({"input_ids": pa.array([[2, 5, 3], [2, 99, 3]], type=pa.list_(pa.int32()))})
    with pa.OSFile(str(tmp_path / "train.arrow"), "wb") as s, pa.ipc.new_file(s, table.schema) as w:
        w.write_table(table)
    with pytest.raises(ValueError, match=r"train.arrow: row 1: token id out of range"):
        load_corpus(tmp_path, 45)


def _final_weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_gradient_accumulation_equals_one_big_batch(assets, params, tmp_path, monkeypatch):
    """Configured or derived from max_device_batch, accumulation does not change the gradient."""
    rows_seen = []
    real_collate = data.collate
    monkeypatch.setattr(data, "collate", lambda m, pad: rows_seen.append(len(m)) or real_collate(m, pad))
    outs = []
    # (gradient_accumulation, max_device_batch) -> rows of every micro-batch of the batch of 8
    for acc, max_rows, micro_rows in ((1, None, 8), (2, None, 4), (1, 4, 4), (1, 3, 2), (2, 8, 4)):
        p = params
        p["pretrain"]["engine"].update(gradient_accumulation=acc, max_device_batch=max_rows)
        out = tmp_path / f"acc{acc}_{max_rows}"
        rows_seen.clear()
        continual.run(p, "biocontinual", assets["teacher"], assets["corpus"], out, tmp_path / f"w{acc}_{max_rows}")
        steps = p["pretrain"]["continual"]["biocontinual"]["train"]["steps"]
        assert rows_seen == [micro_rows] * (steps * 8 // micro_rows), (acc, max_rows)
        outs.append(_final_weights(out))
    for other in outs[1:]:
        for k in outs[0]:
            if k.endswith("attention.self.key.bias"):
                # Its exact gradient is zero (softmax ignores a per-query constant); Adam turns the
                # rounding noise into lr-sized steps, so it differs with any change of summation order.
                continue
            torch.testing.assert_close(outs[0][k], other[k], rtol=1e-4, atol=1e-5)
    init = load_file(str(assets["teacher"] / "model.safetensors"))
    assert not torch.equal(init["bert.encoder.layer.0.output.dense.weight"],
                           outs[0]["bert.encoder.layer.0.output.dense.weight"])


def _eval_mlm_loss(model, assets):
    """Mean MLM loss of ``model`` on a fixed masking of the first 64 corpus rows."""
    from compactbio.distill.losses import mlm_loss
    rows = load_corpus(assets["corpus"], 45)[:64]
    m = Masker(4, 45, (0, 1, 2, 3, 4), probability=0.15)
    batch = collate(m(rows, torch.Generator().manual_seed(123)), pad_id=0)
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return mlm_loss(logits, batch["labels"]).item()


def test_demo_base_model_learns_and_exports(assets, params, tmp_path):
    params["pretrain"]["base"]["teacher"]["mlm"].update(steps=100, learning_rate=1e-2)
    params["pretrain"]["engine"]["checkpoint_every"] = 100
    out, work = tmp_path / "teacher", tmp_path / "work"
    base.run(params, "teacher", assets["tok"], assets["corpus"], out, work)
    rows = list(csv.DictReader(open(work / "train_log.csv")))
    assert float(rows[0]["loss"]) > 3.5  # ~ln(45): a fresh model knows nothing
    trained = AutoModelForMaskedLM.from_pretrained(out)
    from compactbio.models.build import tiny_model
    from transformers import AutoTokenizer
    fresh = tiny_model("bert", params["pretrain"]["base"]["teacher"]["config"],
                       AutoTokenizer.from_pretrained(str(assets["tok"])), seed=0)
    before, after = _eval_mlm_loss(fresh.eval(), assets), _eval_mlm_loss(trained.eval(), assets)
    assert after < before - 0.4, (before, after)  # the toy language's bigram rule is being learnt
    AutoModelForTokenClassification.from_pretrained(out, num_labels=5)
    assert "demo" in (out / "README.md").read_text()


def test_hub_entry_loads_a_local_folder(assets, params, tmp_path):
    params["pretrain"]["base"]["teacher"]["hub"] = str(assets["teacher"])
    out = tmp_path / "snap"
    base.run(params, "teacher", assets["tok"], assets["corpus"], out, tmp_path / "w")
    a, b = _final_weights(out), load_file(str(assets["teacher"] / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert "hub snapshot" in (out / "README.md").read_text()


def test_params_change_restarts_afresh(assets, params, tmp_path, caplog):
    work = tmp_path / "w"
    continual.run(params, "biocontinual", assets["teacher"], assets["corpus"], tmp_path / "a", work)
    again = _final_weights(tmp_path / "a")
    # same params: the finished checkpoint is reused, nothing retrains, same result
    continual.run(params, "biocontinual", assets["teacher"], assets["corpus"], tmp_path / "b", work)
    assert all(torch.equal(again[k], v) for k, v in _final_weights(tmp_path / "b").items())
    params["pretrain"]["continual"]["biocontinual"]["train"]["learning_rate"] = 2e-3
    with caplog.at_level(logging.WARNING):
        continual.run(params, "biocontinual", assets["teacher"], assets["corpus"], tmp_path / "c", work)
    assert "starting afresh" in caplog.text
    assert not all(torch.equal(again[k], v) for k, v in _final_weights(tmp_path / "c").items())


def test_failure_leaves_no_output(assets, params, tmp_path):
    params["tokenize"]["corpus_max_length"] = 16
    with pytest.raises(ValueError, match="corpus_max_length"):
        continual.run(params, "biocontinual", assets["teacher"], assets["corpus"], tmp_path / "o", tmp_path / "w")
    assert not (tmp_path / "o").exists()


def test_a_base_model_continues_its_init(assets, params, tmp_path):
    """`init`: v1.2 continues v1.1.  At demo scale the init's weights are trained further (with a zero
    learning rate, they come out unchanged, not a fresh model's); the vocabularies must be one."""
    entry = params["pretrain"]["base"]["teacher"]
    params["pretrain"]["base"]["v12"] = {**copy.deepcopy(entry), "init": "teacher", "config": None,
                                         "mlm": {**entry["mlm"], "steps": 2, "learning_rate": 0.0}}
    params["pretrain"]["engine"]["weight_decay"] = 0.0
    out = tmp_path / "v12"
    base.run(params, "v12", assets["tok"], assets["corpus"], out, tmp_path / "w", init=assets["teacher"])
    a, b = _final_weights(out), load_file(str(assets["teacher"] / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert "teacher" in (out / "README.md").read_text()
    with pytest.raises(ValueError, match="but the command gives no --init"):
        base.run(params, "v12", assets["tok"], assets["corpus"], tmp_path / "x", tmp_path / "w2")


def test_a_base_model_refuses_an_init_of_another_vocabulary(assets, params, tmp_path):
    params["pretrain"]["base"]["v12"] = {**copy.deepcopy(params["pretrain"]["base"]["teacher"]), "init": "teacher"}
    other = tmp_path / "other_tok"
    shutil.copytree(assets["tok"], other)
    spec = json.loads((other / "tokenizer.json").read_text())
    vocab = spec["model"]["vocab"]
    word = next(w for w in vocab if not w.startswith("["))
    vocab[word + "x"] = vocab.pop(word)   # same size, one token differs
    (other / "tokenizer.json").write_text(json.dumps(spec))
    with pytest.raises(ValueError, match=r"other_tok/tokenizer.json: its vocabulary .* is not that of"):
        base.run(params, "v12", other, assets["corpus"], tmp_path / "o", tmp_path / "w", init=assets["teacher"])
    assert not (tmp_path / "o").exists()


def test_a_checkpoint_of_other_inputs_is_not_resumed(assets, params, tmp_path, caplog):
    """Rerun after the model it starts from changed (a retrained teacher or init), with params unchanged:
    the finished checkpoint was made from the old weights, so training starts afresh."""
    work = tmp_path / "w"
    continual.run(params, "biocontinual", assets["teacher"], assets["corpus"], tmp_path / "a", work)
    first = _final_weights(tmp_path / "a")
    init = tmp_path / "retrained"
    shutil.copytree(assets["teacher"], init)
    weights = load_file(str(init / "model.safetensors"))
    save_file({k: v + 0.01 for k, v in weights.items()}, str(init / "model.safetensors"), metadata={"format": "pt"})
    with caplog.at_level(logging.WARNING):
        continual.run(params, "biocontinual", init, assets["corpus"], tmp_path / "b", work)
    assert "starting afresh" in caplog.text
    assert not all(torch.equal(first[k], v) for k, v in _final_weights(tmp_path / "b").items())
