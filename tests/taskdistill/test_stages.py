"""The three stages end to end on tiny inputs: teacher -> students -> table."""

from __future__ import annotations

import csv
import json
import math
import shutil

import pytest

from compactbio.taskdistill import jobs, student, table, teacher
from compactbio.taskdistill.common import run_name
from compactbio.workflow import graph

from td_helpers import params, workspace  # noqa: E402  (pytest puts this folder on sys.path)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("td")
    ws = workspace(tmp)
    p = params()
    t = teacher.run(p, ws["base"], ws["data"], ws["prepared"], ws["runs"] / "teacher")
    runs = {}
    for s in p["task_distill"]["students"]:
        for d in p["task_distill"]["distill"]:
            for n in p["task_distill"]["augment_sizes"]:
                mode = "kd" if d else "base"
                runs[(s, d, n)] = student.run(p, s, mode, n, ws["base"], ws["data"], ws["prepared"],
                                              ws["runs"] / run_name(s, d, n),
                                              teacher=ws["runs"] / "teacher" if d else None)
    table.run(p, ws["runs"], tmp / "results" / "tables")
    return {"ws": ws, "tmp": tmp, "teacher": t, "runs": runs, "params": p}


def test_teacher_folder_is_a_loadable_token_classifier(built):
    from transformers import AutoModelForTokenClassification

    folder = built["ws"]["runs"] / "teacher"
    model = AutoModelForTokenClassification.from_pretrained(str(folder))
    assert model.config.id2label == {0: "B", 1: "I", 2: "O"}
    assert (folder / "tokenizer.json").is_file()
    m = json.loads((folder / "metrics.json").read_text())
    assert 0 <= m["test"]["f1"] <= 1 and m["latency"]["cpu"]["sentences"] == 3
    assert m["parameters"] == sum(p.numel() for p in model.parameters())


def test_student_runs_record_the_study(built):
    for (s, d, n), m in built["runs"].items():
        assert m["student"] == s and m["distill"] == d and m["augment"] == n
        assert m["augmented_sentences"] == n * m["train_sentences"] == n * 40
        assert m["augmented_mentions"] == n * m["train_mentions"]
        assert m["latency"]["cpu"]["ms_mean"] > 0
        assert not math.isnan(m["test"]["f1"])
        folder = built["ws"]["runs"] / run_name(s, d, n)
        assert (folder / "student.json").is_file() and (folder / "predictions.conll").is_file()
    # max_steps caps TinyBERT's steps; the BiLSTM runs its epochs (ceil(40 n / 8) steps each)
    assert built["runs"][("tinybert", True, 2)]["steps"] == 5
    assert built["runs"][("bilstm", False, 2)]["steps"] == 2 * 10
    assert built["runs"][("tinybert", True, 1)]["loss"]["attention_weight"] == 1.0


def test_saved_student_reproduces_its_test_predictions(built):
    import torch

    from compactbio.finetune.inputs import load_inputs
    from compactbio.taskdistill.models import load

    ws = built["ws"]
    inp = load_inputs(ws["data"], ws["prepared"])
    folder = ws["runs"] / run_name("bilstm", True, 2)
    model, meta = load(folder)
    got = []
    with torch.inference_mode():
        for ids, wids in zip(inp.rows["test"]["input_ids"], inp.rows["test"]["word_ids"]):
            logits = model(input_ids=torch.tensor([ids])).logits[0]
            first = {}
            for k, w in enumerate(wids):
                if w >= 0 and w not in first:
                    first[w] = meta["labels"][int(logits[k].argmax())]
            got.append([first[w] for w in sorted(first)])
    lines = (folder / "predictions.conll").read_text().strip().split("\n\n")
    want = [[ln.split()[2] for ln in block.splitlines()] for block in lines]
    assert got == want


def test_student_is_deterministic(built, tmp_path):
    ws, p = built["ws"], built["params"]
    again = student.run(p, "bilstm", "kd", 2, ws["base"], ws["data"], ws["prepared"], tmp_path / "again",
                        teacher=ws["runs"] / "teacher")
    first = built["runs"][("bilstm", True, 2)]
    assert again["test"] == first["test"] and again["validation"] == first["validation"]


def test_table_lists_every_run(built):
    out = built["tmp"] / "results" / "tables"
    rows = list(csv.DictReader(open(out / "task_distill.csv")))
    assert [r["run"] for r in rows] == ["teacher"] + [run_name(*k) for k in built["runs"]]
    f1 = {r["run"]: float(r["f1"]) for r in rows}
    assert f1["bilstm-kd-n2"] == pytest.approx(built["runs"][("bilstm", True, 2)]["test"]["f1"], abs=1e-6)
    tex = (out / "task_distill.tex").read_text()
    assert r"\toprule" in tex and "BiLSTM" in tex
    assert "| Model | Teacher |" in (out / "task_distill.md").read_text()


def test_bad_inputs_fail_cleanly(built, tmp_path):
    ws, p = built["ws"], built["params"]
    with pytest.raises(ValueError, match="--teacher is required"):
        student.run(p, "bilstm", "kd", 1, ws["base"], ws["data"], ws["prepared"], tmp_path / "x")
    with pytest.raises(ValueError, match="mode must be"):
        student.run(p, "bilstm", "distil", 1, ws["base"], ws["data"], ws["prepared"], tmp_path / "x")
    bad = params()
    bad["task_distill"]["models"]["bilstm"]["training"].pop("learning_rate")
    with pytest.raises(ValueError, match="learning_rate"):
        student.run(bad, "bilstm", "base", 1, ws["base"], ws["data"], ws["prepared"], tmp_path / "x")
    bad = params()
    bad["task_distill"]["models"]["tinybert"]["num_attention_heads"] = 4
    with pytest.raises(ValueError, match="head counts"):
        student.run(bad, "tinybert", "kd", 1, ws["base"], ws["data"], ws["prepared"], tmp_path / "x",
                    teacher=ws["runs"] / "teacher")
    assert not (tmp_path / "x").exists()
    with pytest.raises(FileNotFoundError, match="missing"):
        table.run(p, tmp_path, tmp_path / "tables")
    assert not (tmp_path / "tables" / "task_distill.md").exists()


def test_a_trained_student_can_teach(built, tmp_path):
    """A student folder (here the plain BiLSTM) teaches like the fine-tuned BERT teacher does."""
    ws, p = built["ws"], built["params"]
    bilstm_teacher = ws["runs"] / run_name("bilstm", False, 2)
    m = student.run(p, "bilstm", "kd", 1, ws["base"], ws["data"], ws["prepared"], tmp_path / "born-again",
                    teacher=bilstm_teacher)
    assert m["distill"] and m["loss"]["alpha"] == 0.5 and (tmp_path / "born-again" / "student.json").is_file()
    # TinyBERT's hidden and attention terms need a transformer on both sides
    with pytest.raises(ValueError, match="transformer teacher"):
        student.run(p, "tinybert", "kd", 1, ws["base"], ws["data"], ws["prepared"], tmp_path / "x",
                    teacher=bilstm_teacher)
    # a teacher that reads other sub-words cannot be matched position by position
    other = tmp_path / "other-teacher"
    shutil.copytree(bilstm_teacher, other)
    tok = json.loads((other / "tokenizer.json").read_text())
    tok["model"]["vocab"]["zzz-extra"] = len(tok["model"]["vocab"])
    (other / "tokenizer.json").write_text(json.dumps(tok))
    with pytest.raises(ValueError, match="not the tokenizer of"):
        student.run(p, "bilstm", "kd", 1, ws["base"], ws["data"], ws["prepared"], tmp_path / "x", teacher=other)
    assert not (tmp_path / "x").exists()


def test_jobs_match_the_runs(built):
    raw = {**params(), "pretrain": {"base": {"biobert": {}}, "distill": {}, "continual": {}}}
    js = jobs.jobs(raw)
    assert [j.rule for j in js].count("task_student") == 8
    kd = next(j for j in js if j.name.endswith("bilstm-kd-n2"))
    assert "--teacher runs/task_distill/bc2gm/teacher" in kd.cmd and "task_distill.loss" in kd.params
    base = next(j for j in js if j.name.endswith("bilstm-base-n2"))
    assert "--teacher" not in base.cmd and "runs/task_distill/bc2gm/teacher" not in base.deps
    assert "task_distill.loss" not in base.params and "task_distill.models.bilstm" in base.params
    assert js[-1].outs == [f"results/tables/task_distill.{ext}" for ext in graph.TABLE_FORMATS]


def test_teacher_and_students_carry_hub_model_cards(built):
    """Each study folder's README.md is a token-classification card whose model-index is its own test scores."""
    from huggingface_hub import ModelCard

    runs = built["ws"]["runs"]
    folders = {"teacher": (runs / "teacher", built["teacher"])}
    folders.update({run_name(s, d, n): (runs / run_name(s, d, n), m) for (s, d, n), m in built["runs"].items()})
    for name, (folder, metrics) in folders.items():
        data = ModelCard.load(folder / "README.md").data
        assert data.pipeline_tag == "token-classification" and "task-distillation" in data.tags, name
        assert {r.metric_type: r.metric_value for r in data.eval_results} == pytest.approx(
            {k: v for k, v in metrics["test"].items() if isinstance(v, float)}, abs=1e-6), name
        assert data.base_model is None    # the toy base folder is no hub snapshot; students start from scratch
        assert (folder / "vocab.txt").read_text().splitlines()[:1] == ["[PAD]"], name
        assert str(built["tmp"]) not in (folder / "README.md").read_text(), name
        assert data.library_name == (None if name.startswith("bilstm") else "transformers"), name
    assert (runs / "teacher" / "tokenizer.json").read_bytes() == (built["ws"]["base"] / "tokenizer.json").read_bytes()
