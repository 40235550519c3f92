"""The results stage: runs.csv / runs.parquet for the whole grid, efficiency.csv, learning curves."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from compactbio import cli
from compactbio.report import curves, results, stage
from compactbio.workflow import graph

from report.report_fakes import write_log, write_run

ROOT = Path(__file__).resolve().parents[2]
METRICS = {"ner": 6, "re": 3, "qa": 9}    # test scores write_run gives each task (validation: the same)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.fixture
def grid(tmp_path):
    """Three models × NER/RE/QA × seeds [2, 1], with train logs and an efficiency study."""
    params = {"grid": {"models": ["biobert", "distilbert", "tinybiobert"], "ner": ["ncbi"], "re": ["gad"],
                       "qa": ["bioasq"], "seeds": [2, 1]},
              "models": {"biobert": {"display": "BioBERT-v1.1", "kind": "base"},
                         "distilbert": {"display": "DistilBERT", "kind": "base"},
                         "tinybiobert": {"display": "TinyBioBERT", "kind": "distilled"}}}
    runs = tmp_path / "runs"
    for i, model in enumerate(params["grid"]["models"]):
        for dataset, task in (("ncbi", "ner"), ("gad", "re"), ("bioasq", "qa")):
            for seed in (2, 1):
                d = write_run(runs, model, dataset, seed, task, 0.5 + 0.1 * i + 0.01 * seed)
                write_log(d, [1.0 / (e + i + seed) for e in range(1, 4)],
                          validation=[0.3 + 0.1 * e for e in range(3)] if task == "ner" else None)
    eff = tmp_path / "efficiency"
    eff.mkdir()
    rows = [{"device": "cpu", "dtype": "float32", "model": m, "display": m.title(), "label": f"{m} [cpu]",
             "architecture": "bert", "group": "base", "params_total": 100 - 10 * i,
             "latency_128_median_ms": 10.0 / (i + 1), "memory_mib": 400.0 - i, "memory_ratio": 1.0 - i / 10,
             "reference": m == "biobert"} for i, m in enumerate(params["grid"]["models"])]
    (eff / "efficiency.json").write_text(json.dumps({"reference": "biobert", "rows": rows}))
    return params, runs, eff


def test_writes_the_tidy_tables_and_one_curve_per_dataset(grid, tmp_path):
    params, runs, eff = grid
    out = tmp_path / "results"
    results.run(params, runs, out, efficiency=eff)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == \
        sorted(results.output_names(params, efficiency=True))
    frame = pd.read_csv(out / "runs.csv")
    # models × datasets × seeds × splits × metrics
    assert len(frame) == 3 * 2 * 2 * (METRICS["ner"] + METRICS["re"] + METRICS["qa"])
    sizes = frame.groupby(["model", "dataset", "seed", "split"]).size()
    assert len(sizes) == 3 * 3 * 2 * 2
    assert all(n == METRICS[{"ncbi": "ner", "gad": "re", "bioasq": "qa"}[k[1]]] for k, n in sizes.items())
    row = frame[(frame["model"] == "distilbert") & (frame["dataset"] == "gad") & (frame["seed"] == 1)
                & (frame["split"] == "test") & (frame["metric"] == "f1")]
    assert row["value"].tolist() == [0.5 + 0.1 + 0.01] and row["task"].tolist() == ["re"]
    # the parquet file holds the same table, typed
    pd.testing.assert_frame_equal(pd.read_parquet(out / "runs.parquet"), frame, check_dtype=False)
    assert pd.read_parquet(out / "runs.parquet")["seed"].dtype == "int64"
    # efficiency: the numeric measures of each row, long form; flags and labels are not measures
    eff_rows = list(csv.DictReader(open(out / "efficiency.csv", encoding="utf-8")))
    assert len(eff_rows) == 3 * 4
    assert {r["measure"] for r in eff_rows} == {"params_total", "latency_128_median_ms", "memory_mib", "memory_ratio"}
    tiny = {r["measure"]: float(r["value"]) for r in eff_rows if r["model"] == "tinybiobert"}
    assert tiny == {"params_total": 80.0, "latency_128_median_ms": 10.0 / 3, "memory_mib": 398.0, "memory_ratio": 0.8}
    # learning curves: every run's log, long form, and a figure of the documented size
    log = pd.read_csv(out / "curves" / "ncbi.csv")
    assert list(log.columns) == ["model", "seed", "step", "epoch", "loss", "validation_score"]
    assert len(log) == 3 * 2 * 3
    b = log[(log["model"] == "biobert") & (log["seed"] == 2)]
    assert b["step"].tolist() == [10, 20, 30] and b["loss"].tolist() == [1 / 3, 1 / 4, 1 / 5]
    assert b["validation_score"].tolist() == pytest.approx([0.3, 0.4, 0.5])
    assert pd.read_csv(out / "curves" / "gad.csv")["validation_score"].isna().all()
    for d in ("ncbi", "gad", "bioasq"):
        assert png_size(out / "curves" / f"{d}.png") == curves.curve_size() == (800, 500)


def test_rerun_gives_identical_files(grid, tmp_path):
    params, runs, eff = grid
    results.run(params, runs, tmp_path / "a", efficiency=eff)
    results.run(params, runs, tmp_path / "b", efficiency=eff)
    names = results.output_names(params, efficiency=True)
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_without_efficiency_there_is_no_efficiency_csv(grid, tmp_path):
    params, runs, _ = grid
    results.run(params, runs, tmp_path / "r")
    assert not (tmp_path / "r" / "efficiency.csv").exists()
    assert (tmp_path / "r" / "runs.csv").is_file()


def test_a_scores_table_is_a_pivot_of_runs_csv(grid, tmp_path):
    """Table 4's mean ± std cells, recomputed from runs.csv with a pandas pivot, match the table stage's CSV."""
    params, runs, _ = grid
    results.run(params, runs, tmp_path / "r")
    params = {**params, "scale": "demo",
              "datasets": {"gad": {"entity": "Gene-disease"}},
              "tables": {"style": {"decimals": 2, "best": "bold", "second": "underline", "bootstrap_samples": 50},
                         "table4": {"title": "RE", "kind": "scores", "task": "re",
                                    "models": ["distilbert", "tinybiobert", "biobert"], "datasets": ["gad"]}}}
    stage.run(params, "table4", runs, tmp_path, tmp_path / "tables")
    table = {r["model"]: r for r in csv.DictReader(open(tmp_path / "tables" / "table4.csv", encoding="utf-8"))}
    frame = pd.read_csv(tmp_path / "r" / "runs.csv")
    f1 = frame[(frame["split"] == "test") & (frame["metric"] == "f1") & (frame["dataset"] == "gad")]
    wide = f1.assign(value=100 * f1["value"]).pivot(index="seed", columns="model", values="value")
    for model, row in table.items():
        assert row["mean"] == f"{wide[model].mean():.4f}"
        assert row["std"] == f"{wide[model].std(ddof=1):.4f}"
        assert row["values"] == ";".join(f"{wide.loc[s, model]:.4f}" for s in (2, 1))


def test_missing_inputs_are_all_named_and_nothing_is_written(grid, tmp_path):
    params, runs, eff = grid
    (runs / "tinybiobert" / "gad" / "seed1" / "train_log.csv").unlink()
    (runs / "biobert" / "bioasq" / "seed2" / "metrics.json").unlink()
    out = tmp_path / "results"
    with pytest.raises(FileNotFoundError) as err:
        results.run(params, runs, out, efficiency=eff)
    assert "2 missing input(s)" in str(err.value)
    assert "tinybiobert/gad/seed1/train_log.csv" in str(err.value)
    assert "biobert/bioasq/seed2/metrics.json" in str(err.value)
    assert not out.exists()


@pytest.mark.parametrize("text, message", [
    ("step,epoch,loss,validation_score\n10,1,0.5,\n20,2,high,\n", r"train_log\.csv: line 3: loss must be a number, got 'high'"),
    ("step,epoch,loss,validation_score\n10,1,0.5,\n10,2,0.4,\n", r"train_log\.csv: line 3: step 10 does not follow step 10"),
    ("step,loss\n10,0.5\n", r"train_log\.csv: line 1: header lacks column\(s\) epoch"),
    ("step,epoch,loss,validation_score\n", r"train_log\.csv: no logged steps"),
    ("step,epoch,loss,validation_score\n-1,1,0.5,\n", r"train_log\.csv: line 2: step must not be negative"),
])
def test_bad_train_log_names_file_and_line(grid, tmp_path, text, message):
    params, runs, eff = grid
    (runs / "distilbert" / "ncbi" / "seed2" / "train_log.csv").write_text(text)
    out = tmp_path / "results"
    with pytest.raises(ValueError, match=message):
        results.run(params, runs, out, efficiency=eff)
    assert not out.exists()


def test_bad_efficiency_json_names_the_file(grid, tmp_path):
    params, runs, eff = grid
    (eff / "efficiency.json").write_text('{"rows": []}')
    with pytest.raises(ValueError, match=r"efficiency\.json: no 'rows' list"):
        results.run(params, runs, tmp_path / "r", efficiency=eff)
    (eff / "efficiency.json").write_text('{"rows": [{"model": "biobert"}]}')
    with pytest.raises(ValueError, match=r"efficiency\.json: rows\[0\] is not a measurement"):
        results.run(params, runs, tmp_path / "r", efficiency=eff)
    assert not (tmp_path / "r").exists()


def test_cli_on_the_project_grid(tmp_path, capsys):
    """`compactbio results` with params.yaml: every grid run, then a one-line error for a broken one."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    runs = tmp_path / "runs" / "finetune"
    g = raw["grid"]
    for m in g["models"]:
        for d in graph.finetune_datasets(raw):
            for s in g["seeds"]:
                write_log(write_run(runs, m, d, s, graph.task_of(raw, d), 0.5), [0.9, 0.5])
    out = tmp_path / "results"
    argv = ["--params", str(ROOT / "params.yaml"), "results", "--runs", str(runs), "--out", str(out)]
    assert cli.main(argv) == 0
    frame = pd.read_csv(out / "runs.csv")
    n_metrics = sum(METRICS[graph.task_of(raw, d)] for d in graph.finetune_datasets(raw))
    assert len(frame) == len(g["models"]) * len(g["seeds"]) * 2 * n_metrics
    assert sorted(frame["model"].unique()) == sorted(g["models"])
    assert [p.name for p in sorted((out / "curves").glob("*.png"))] == \
        sorted(f"{d}.png" for d in graph.finetune_datasets(raw))
    capsys.readouterr()
    bad = runs / g["models"][0] / "gad" / f"seed{g['seeds'][0]}" / "train_log.csv"
    bad.write_text("step,epoch,loss\n1,1,x\n")
    assert cli.main(argv + ["--efficiency", str(tmp_path / "none")]) == 1
    text = capsys.readouterr().err
    errors = [line for line in text.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "Traceback" not in text
    assert "results failed: 1 missing input(s)" in errors[0] and "none" in errors[0]
    assert cli.main(argv) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and f"{bad}: line 2: loss must be a number" in errors[0]
