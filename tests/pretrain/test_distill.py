"""Student initialisation, gradients, attention maps and the distill stage's outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors import safe_open
from transformers import AutoModelForMaskedLM, AutoModelForTokenClassification

from compactbio.distill import stage
from compactbio.distill.recipe import parse
from compactbio.distill.task import DistillTask
from compactbio.models.build import load_masked_lm
from compactbio.models.student import alternate_layers, make_student
from compactbio.pretrain.data import Masker, collate


def _batch(assets, n=6, seed=0):
    import pyarrow as pa
    with pa.memory_map(str(assets["corpus"] / "train.arrow")) as src:
        rows = pa.ipc.open_file(src).read_all().column("input_ids").to_pylist()[:n]
    masker = Masker(mask_id=4, vocab_size=45, special_ids=(0, 1, 2, 3, 4), probability=0.3)
    masked = masker([np.asarray(r) for r in rows], torch.Generator().manual_seed(seed))
    return collate(masked, pad_id=0)


def _task(assets, params, name):
    cfg = params["pretrain"]["distill"][name]
    recipe = parse(cfg["recipe"])
    attn = "eager" if recipe.needs_attentions else None
    teacher = load_masked_lm(assets["teacher"], attn_implementation=attn)
    student = make_student(teacher, cfg["student"], 0, attn)
    return DistillTask(student, teacher, recipe), teacher


def test_alternate_layers_copies_embeddings_and_every_other_layer(assets):
    teacher = load_masked_lm(assets["teacher"])
    student = alternate_layers(teacher)
    assert student.config.num_hidden_layers == 2
    t, s = teacher.state_dict(), student.state_dict()
    for key, value in s.items():
        if ".encoder.layer." in key:
            i = int(key.split(".encoder.layer.")[1].split(".")[0])
            tkey = key.replace(f".encoder.layer.{i}.", f".encoder.layer.{2 * i + 1}.")
        else:
            tkey = key
        assert torch.equal(value, t[tkey]), key
    assert torch.equal(student.bert.embeddings.word_embeddings.weight, teacher.bert.embeddings.word_embeddings.weight)
    # copies, not shared storage: training the student leaves the teacher alone
    assert student.bert.embeddings.word_embeddings.weight.data_ptr() != \
        teacher.bert.embeddings.word_embeddings.weight.data_ptr()


def test_random_student_has_teacher_vocab_and_given_sizes(assets, params):
    teacher = load_masked_lm(assets["teacher"])
    spec = params["pretrain"]["distill"]["tinybiobert"]["student"]
    student = make_student(teacher, spec, 0)
    assert student.config.vocab_size == teacher.config.vocab_size
    assert (student.config.hidden_size, student.config.num_hidden_layers) == (24, 2)
    other = make_student(teacher, spec, 1)
    assert not torch.equal(student.bert.encoder.layer[0].attention.self.query.weight,
                           other.bert.encoder.layer[0].attention.self.query.weight)


@pytest.mark.parametrize("name", ["distilbiobert", "tinybiobert", "compactbiobert"])
def test_gradients_reach_every_student_parameter_and_never_the_teacher(assets, params, name):
    task, teacher = _task(assets, params, name)
    batch = _batch(assets)
    norms = task.norms(int((batch["labels"] != -100).sum()), batch["attention_mask"].sum(1).tolist())
    loss, values = task(batch, norms)
    loss.backward()
    for n, p in task.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"{name}: no gradient for {n}"
    if name == "tinybiobert":
        assert task.projection is not None and task.projection.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())
    assert not any(n.startswith("teacher") for n, _ in task.named_parameters())
    assert all(v.item() > 0 for v in values.values()), values


def test_attention_terms_are_real_and_nonzero(assets, params):
    for name, term in (("compactbiobert", "attention_kl"), ("tinybiobert", "attention_mse")):
        task, _ = _task(assets, params, name)
        batch = _batch(assets)
        norms = task.norms(int((batch["labels"] != -100).sum()), batch["attention_mask"].sum(1).tolist())
        _, values = task(batch, norms)
        assert term in values and values[term].item() > 1e-6, (name, values)


def test_attention_recipe_refuses_sdpa_models(assets, params):
    recipe = parse(params["pretrain"]["distill"]["compactbiobert"]["recipe"])
    teacher = load_masked_lm(assets["teacher"])  # default (SDPA) attention returns no maps
    student = alternate_layers(teacher)
    with pytest.raises(ValueError, match="eager"):
        DistillTask(student, teacher, recipe)


def test_bad_recipes_are_rejected():
    with pytest.raises(ValueError, match="unknown loss"):
        parse({"terms": [{"loss": "hiden_mse", "weight": 1}]})
    with pytest.raises(ValueError, match="equal length"):
        parse({"terms": [{"loss": "hidden_mse", "weight": 1, "student_layers": [1], "teacher_layers": [1, 2]}]})
    with pytest.raises(ValueError, match="direction"):
        parse({"terms": [{"loss": "output_kl", "weight": 1, "direction": "sideways"}]})


def test_layer_index_out_of_range(assets, params):
    cfg = params["pretrain"]["distill"]["compactbiobert"]
    cfg["recipe"]["terms"][1]["teacher_layers"] = [2, 9]
    with pytest.raises(ValueError, match="out of range"):
        _task(assets, params, "compactbiobert")


def test_tiny_stage_exports_loadable_model_without_projection(assets, params, tmp_path):
    out, work = tmp_path / "tinybiobert", tmp_path / "work"
    stage.run(params, "tinybiobert", assets["teacher"], assets["corpus"], out, work)
    with safe_open(str(work / "checkpoint" / "model.safetensors"), "pt") as f:
        assert "projection.weight" in f.keys()
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        assert not any("projection" in k for k in f.keys())
    for f in ("config.json", "tokenizer.json", "tokenizer_config.json", "README.md"):
        assert (out / f).is_file(), f
    card = (out / "README.md").read_text()
    assert "params hash" in card and "attention_mse" in card
    # The teacher is named by its params id (and hub id when it is a snapshot), never by a local path.
    assert "**teacher**: teacher" in card and str(assets["root"]) not in card
    m = AutoModelForMaskedLM.from_pretrained(out)
    assert m.config.hidden_size == 24
    tc = AutoModelForTokenClassification.from_pretrained(out, num_labels=3)
    assert torch.equal(tc.bert.embeddings.word_embeddings.weight, m.bert.embeddings.word_embeddings.weight)
    log = (work / "train_log.csv").read_text().splitlines()
    assert log[0].startswith("step,loss,lr,embedding_mse,hidden_mse,attention_mse,output_soft_ce")


def test_custom_fourth_recipe_trains_without_code(assets, params, tmp_path):
    params["pretrain"]["distill"]["mystudent"] = {
        "teacher": "teacher", "student": {"init": "alternate_layers"},
        "train": {"steps": 8, "batch_size": 8, "learning_rate": 3e-3},
        "recipe": {"temperature": 3.0, "terms": [
            {"loss": "output_kl", "weight": 1.0, "direction": "teacher_student"},
            {"loss": "attention_mse", "weight": 10.0, "student_layers": [-1], "teacher_layers": [-1]},
            {"loss": "hidden_mse", "weight": 1.0, "student_layers": [0, 1], "teacher_layers": [0, 3]}]}}
    out, work = tmp_path / "mine", tmp_path / "work"
    stage.run(params, "mystudent", assets["teacher"], assets["corpus"], out, work)
    import csv
    rows = list(csv.DictReader(open(work / "train_log.csv")))
    assert [r["step"] for r in rows][-1] == "8"
    assert all(float(rows[-1][k]) > 0 for k in ("output_kl", "attention_mse", "hidden_mse"))
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    before = load_masked_lm(assets["teacher"])
    after = AutoModelForMaskedLM.from_pretrained(out)
    assert not torch.equal(after.bert.encoder.layer[1].output.dense.weight,
                           before.bert.encoder.layer[3].output.dense.weight)
