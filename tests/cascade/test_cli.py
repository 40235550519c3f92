"""`compactbio cascade` and `compactbio cascade-table` end to end on hand-made run folders.

The folders are laid out as the fine-tuning and efficiency stages write them
(docs/architecture.md): ``runs/finetune/<model>/<dataset>/seed<s>/{metrics.json,
per_example.jsonl, per_example_validation.jsonl}``, ``data/prepared/<dataset>/meta.json``
and ``results/efficiency/efficiency.csv``; the numbers are worked out by hand.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml

from compactbio import cli

ROOT = Path(__file__).resolve().parents[2]
SEED = 1


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def params_file(root: Path) -> Path:
    """The project's params with a two-model grid: TinyBioBERT (distilled, so a `compact` model) and BioBERT."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    raw["grid"].update(models=["biobert", "tinybiobert"], ner=["ncbi-disease"], re=["gad"], qa=["bioasq7b"],
                       seeds=[SEED])
    raw["cascade"]["n_bootstrap"] = 50
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def run_folder(root: Path, model: str, dataset: str, task: str, test: list[dict], validation: list[dict]) -> Path:
    d = root / "runs" / "finetune" / model / dataset / f"seed{SEED}"
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps({"task": task, "model": model, "dataset": dataset, "seed": SEED,
                                                "test": {}, "validation": {}}), encoding="utf-8")
    write_jsonl(d / "per_example.jsonl", test)
    write_jsonl(d / "per_example_validation.jsonl", validation)
    return d


GAD_GOLD = ["1", "0", "1", "1", "0", "1", "0", "1", "1", "0"]
GAD_CONF = [0.9, 0.8, 0.95, 0.51, 0.7, 0.85, 0.55, 0.99, 0.75, 0.65]    # wrong on the two below 0.6
VAL_CONF = [0.52, 0.58, 0.62, 0.7, 0.8, 0.9]                             # wrong on the two below 0.6


def _flip(label: str) -> str:
    return "0" if label == "1" else "1"


@pytest.fixture
def workspace(tmp_path):
    """Hand-made runs of TinyBioBERT and BioBERT on one NER, one RE and one QA dataset."""
    root = tmp_path
    # GAD: the compact model is wrong exactly on its two least confident test (and validation) examples.
    comp = [{"id": f"gad-{i}", "gold": g, "pred": g if c > 0.6 else _flip(g), "confidence": c}
            for i, (g, c) in enumerate(zip(GAD_GOLD, GAD_CONF))]
    fall = [{"id": f"gad-{i}", "gold": g, "pred": g} for i, g in enumerate(GAD_GOLD)]
    vgold = ["1", "0", "1", "0", "1", "1"]
    vcomp = [{"id": f"v-{i}", "gold": g, "pred": g if c > 0.6 else _flip(g), "confidence": c}
             for i, (g, c) in enumerate(zip(vgold, VAL_CONF))]
    vfall = [{"id": f"v-{i}", "gold": g, "pred": g} for i, g in enumerate(vgold)]
    run_folder(root, "tinybiobert", "gad", "re", comp, vcomp)
    run_folder(root, "biobert", "gad", "re", fall, vfall)
    # NCBI disease: one entity a sentence; the compact model misses it in its least confident sentence.
    # No validation split here (empty files), as at paper scale for GAD and BioASQ.
    ner_c = [{"id": f"s{i}", "tp": int(i != 2), "fp": 0, "fn": int(i == 2), "confidence": c,
              "confidence_word_min": c / 2} for i, c in enumerate([0.9, 0.8, 0.3, 0.7, 0.95])]
    ner_f = [{"id": f"s{i}", "tp": 1, "fp": 0, "fn": 0} for i in range(5)]
    run_folder(root, "tinybiobert", "ncbi-disease", "ner", ner_c, [])
    run_folder(root, "biobert", "ncbi-disease", "ner", ner_f, [])
    # BioASQ: the compact model answers 3 of 4 questions; BioBERT all.
    qa_c = [{"id": f"q{i}", "strict": float(i != 0), "lenient": float(i != 0), "rr": float(i != 0),
             "confidence": c} for i, c in enumerate([0.1, 0.6, 0.7, 0.8])]
    qa_f = [{"id": f"q{i}", "strict": 1.0, "lenient": 1.0, "rr": 1.0} for i in range(4)]
    qv_c = [{"id": f"qv{i}", "strict": float(i != 1), "lenient": float(i != 1), "rr": float(i != 1),
             "confidence": c} for i, c in enumerate([0.5, 0.2, 0.9])]
    qv_f = [{"id": f"qv{i}", "strict": 1.0, "lenient": 1.0, "rr": 1.0} for i in range(3)]
    run_folder(root, "tinybiobert", "bioasq7b", "qa", qa_c, qv_c)
    run_folder(root, "biobert", "bioasq7b", "qa", qa_f, qv_f)
    for dataset, task, labels in (("gad", "re", ["0", "1"]), ("ncbi-disease", "ner", ["B", "I", "O"]),
                                  ("bioasq7b", "qa", [])):
        (root / "data" / "prepared" / dataset).mkdir(parents=True)
        (root / "data" / "prepared" / dataset / "meta.json").write_text(
            json.dumps({"name": dataset, "task": task, "labels": labels}), encoding="utf-8")
    eff = root / "results" / "efficiency"
    eff.mkdir(parents=True)
    (eff / "efficiency.csv").write_text(   # the efficiency stage's wide form (one row per device and model)
        "device,dtype,clock,model,display,latency_128_median_ms,latency_256_median_ms,timing_warning,reference\n"
        "cpu,float32,thread,biobert,BioBERT-v1.1,40.0,80.0,,True\n"
        "cpu,float32,thread,tinybiobert,TinyBioBERT,4.0,8.0,,False\n", encoding="utf-8")
    return root, params_file(root)


def cascade_argv(root: Path, params: Path, dataset: str, model: str = "tinybiobert", fallback: str = "biobert"):
    runs = root / "runs" / "finetune"
    return ["--params", str(params), "cascade", "--model", model, "--dataset", dataset, "--seed", str(SEED),
            "--compact", str(runs / model / dataset / f"seed{SEED}"),
            "--fallback", str(runs / fallback / dataset / f"seed{SEED}"),
            "--prepared", str(root / "data" / "prepared" / dataset),
            "--efficiency", str(root / "results" / "efficiency"),
            "--out", str(root / "runs" / "cascade" / model / dataset / f"seed{SEED}")]


def run_cli(capsys, argv):
    code = cli.main(argv)
    cap = capsys.readouterr()
    return code, cap.out + cap.err


def test_cascade_pairs_and_table_end_to_end(workspace, capsys):
    root, params = workspace
    for dataset in ("ncbi-disease", "gad", "bioasq7b"):
        code, text = run_cli(capsys, cascade_argv(root, params, dataset))
        assert code == 0, text
    pair = root / "runs" / "cascade" / "tinybiobert"
    gad = json.loads((pair / "gad" / f"seed{SEED}" / "cascade.json").read_text())
    assert (gad["task"], gad["metric"], gad["fallback_model"], gad["seed"]) == ("re", "f1", "biobert", SEED)
    assert gad["labels"] == ["0", "1"] and gad["test"]["area"]["n_samples"] == 50   # params' n_bootstrap
    # two least confident of ten routed: BioBERT's score; cost (4 + 0.2 x 40) / 40
    point = gad["test"]["targets"]["99"]
    assert (point["k"], point["threshold"], point["score"]) == (2, 0.55, 1.0)
    assert point["relative_cost"] == pytest.approx(0.3)
    # chosen on validation: the threshold 0.58 routes the test examples at 0.51 and 0.55
    chosen = gad["validation_thresholds"]["99"]
    assert chosen["validation"]["threshold"] == 0.58
    assert (chosen["test"]["k"], chosen["test"]["retained"]) == (2, 1.0)
    assert gad["test"]["area"]["value"] > 0
    ner = json.loads((pair / "ncbi-disease" / f"seed{SEED}" / "cascade.json").read_text())
    assert ner["confidence_field"] == "confidence" and ner["validation_thresholds"] is None
    assert "no validation split" in ner["validation_note"]
    assert ner["test"]["targets"]["99"]["k"] == 1 and ner["test"]["compact"]["f1"] == pytest.approx(8 / 9)
    qa = json.loads((pair / "bioasq7b" / f"seed{SEED}" / "cascade.json").read_text())
    assert qa["metric"] == "mrr" and qa["validation_thresholds"]["99"]["validation"]["threshold"] == 0.2
    assert qa["validation_thresholds"]["99"]["test"]["k"] == 1     # 0.1 <= 0.2: the one wrong question

    out = root / "results" / "cascade"
    code, text = run_cli(capsys, ["--params", str(params), "cascade-table", "--runs", str(root / "runs" / "cascade"),
                                  "--out", str(out)])
    assert code == 0, text
    assert sorted(p.name for p in out.iterdir()) == [f"cascade.{e}" for e in ("csv", "md", "pdf", "png", "tex")]
    rows = list(csv.DictReader(io.StringIO((out / "cascade.csv").read_text())))
    assert [(r["scale"], r["model"], r["dataset"]) for r in rows] == [
        ("demo (synthetic data)", "tinybiobert", d) for d in ("ncbi-disease", "gad", "bioasq7b")]
    by = {r["dataset"]: r for r in rows}
    assert float(by["gad"]["test_share_99"]) == 0.2 and float(by["gad"]["test_retained_at_val_99"]) == 1.0
    assert by["ncbi-disease"]["test_share_at_val_99"] == ""          # no validation split: nothing chosen
    assert float(by["bioasq7b"]["compact_relative_cost"]) == pytest.approx(0.1)
    md = (out / "cascade.md").read_text()
    assert md.startswith("DEMO SCALE, SYNTHETIC DATA: A compact model as the front-end of BioBERT-v1.1")
    assert "| TinyBioBERT | GAD |" in md and "| TinyBioBERT | NCBI disease |" in md   # params' display names


def test_a_missing_validation_file_fails_in_one_line_naming_it(workspace, capsys):
    root, params = workspace
    missing = root / "runs" / "finetune" / "biobert" / "gad" / f"seed{SEED}" / "per_example_validation.jsonl"
    missing.unlink()
    out = root / "runs" / "cascade" / "tinybiobert" / "gad" / f"seed{SEED}"
    code, text = run_cli(capsys, cascade_argv(root, params, "gad"))
    errors = [line for line in text.splitlines() if " ERROR " in line]
    assert code == 1 and len(errors) == 1 and "Traceback" not in text
    assert f"{missing}: file not found" in errors[0]
    assert not out.exists()


def test_a_run_folder_of_another_model_is_refused(workspace, capsys):
    root, params = workspace
    code, text = run_cli(capsys, cascade_argv(root, params, "gad", fallback="tinybiobert"))
    errors = [line for line in text.splitlines() if " ERROR " in line]
    assert code == 1 and len(errors) == 1
    assert "this run is model 'tinybiobert'" in errors[0] and "not 'biobert'" in errors[0]
    assert not (root / "runs" / "cascade").exists()


def test_the_table_names_a_pair_not_yet_run(workspace, capsys):
    root, params = workspace
    code, text = run_cli(capsys, cascade_argv(root, params, "gad"))
    assert code == 0, text
    code, text = run_cli(capsys, ["--params", str(params), "cascade-table", "--runs", str(root / "runs" / "cascade"),
                                  "--out", str(root / "results" / "cascade")])
    errors = [line for line in text.splitlines() if " ERROR " in line]
    assert code == 1 and len(errors) == 1
    assert "tinybiobert/ncbi-disease/seed1/cascade.json: file not found" in errors[0]
    assert not (root / "results" / "cascade").exists()
