"""The tidy runs frame (a row per model × dataset × seed × split × metric) and the seed summary of the tables."""

from __future__ import annotations

import json
import math
import random
import statistics

import numpy as np
import pandas as pd
import pytest

from compactbio.report.runs import Results
from compactbio.report.runs_frame import COLUMNS, over_seeds, runs_frame

from report.report_fakes import write_run


def test_one_row_per_run_split_and_metric(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, "biobert", "ncbi", 1, "ner", 0.8)     # 6 test scores, validation the same 6
    write_run(runs, "biobert", "gad", 1, "re", 0.7)       # 3 + 3
    d = write_run(runs, "distilbert", "gad", 2, "re", 0.6)
    m = json.loads((d / "metrics.json").read_text())
    m["validation"] = {}                                    # select: last without a validation split
    m["test"].update(n_examples=533, note="x", flag=True)   # not scores: no rows
    (d / "metrics.json").write_text(json.dumps(m))
    triples = [("biobert", "ncbi", 1), ("biobert", "gad", 1), ("distilbert", "gad", 2), ("biobert", "gad", 1)]
    frame = runs_frame(runs, triples, {"ncbi": "ner", "gad": "re"})
    assert tuple(frame.columns) == COLUMNS
    assert len(frame) == 12 + 6 + 3                       # the run listed twice is read once
    assert frame["seed"].dtype == np.int64 and frame["value"].dtype == np.float64
    first = frame[(frame["model"] == "biobert") & (frame["dataset"] == "ncbi") & (frame["split"] == "test")]
    # the table's metrics first (runs.TEST_KEYS), then the file's other scores in its order
    assert list(first["metric"]) == ["f1", "precision", "recall", "f1_subword", "precision_subword", "recall_subword"]
    assert list(first["value"]) == [0.8, 0.8, 0.8, 0.8 - 0.01, 0.8, 0.8]
    assert set(first["task"]) == {"ner"}
    last = frame[frame["model"] == "distilbert"]
    assert list(zip(last["split"], last["metric"], last["value"])) == [
        ("test", "f1", 0.6), ("test", "f1_micro", 0.6), ("test", "f1_macro", 0.6)]
    again = runs_frame(runs, triples, {"ncbi": "ner", "gad": "re"})
    pd.testing.assert_frame_equal(frame, again)


def test_over_seeds_mean_and_sample_std_in_grid_order(tmp_path):
    runs = tmp_path / "runs"
    hand = {3: 0.80, 1: 0.84, 2: 0.83}
    for seed, score in hand.items():
        write_run(runs, "distilbert", "gad", seed, "re", score)
    frame = runs_frame(runs, [("distilbert", "gad", s) for s in hand], {"gad": "re"})
    summary = over_seeds(frame, [3, 1, 2])
    row = summary.loc[("distilbert", "gad", "f1")]
    assert [row[3], row[1], row[2]] == [100 * 0.80, 100 * 0.84, 100 * 0.83]
    assert row["mean"] == pytest.approx(statistics.mean([80, 84, 83]), abs=1e-12)
    assert row["std"] == pytest.approx(statistics.stdev([80, 84, 83]), abs=1e-12)   # ddof=1
    assert list(summary.columns[:3]) == [3, 1, 2]
    assert math.isnan(over_seeds(frame[frame["seed"] == 3], [3])["std"].iloc[0])    # one seed: no std
    val = over_seeds(frame, [3, 1, 2], split="validation")
    assert val.loc[("distilbert", "gad", "f1"), "mean"] == row["mean"]


def test_over_seeds_is_bit_identical_to_numpy_per_cell():
    """The tables' numbers must not move: mean and std equal numpy's on each cell's own array, to the bit."""
    rng = random.Random(7)
    for n in range(1, 10):
        seeds = rng.sample(range(100), n)
        cells = {(f"m{i}", "d", "f1"): [rng.random() for _ in seeds] for i in range(200)}
        frame = pd.DataFrame.from_records(
            [(m, d, "re", s, "test", k, v) for (m, d, k), vals in cells.items() for s, v in zip(seeds, vals)],
            columns=list(COLUMNS))
        summary = over_seeds(frame, seeds)
        for key, vals in cells.items():
            ref = np.array(vals, dtype=float) * 100.0
            assert summary.loc[key, "mean"] == ref.mean(), (n, key)
            if n > 1:
                assert summary.loc[key, "std"] == ref.std(ddof=1), (n, key)


def test_a_metric_one_seed_lacks_is_named_with_that_seeds_file(tmp_path):
    runs = tmp_path / "runs"
    for seed in (1, 2):
        write_run(runs, "biobert", "bioasq", seed, "qa", 0.3)
    path = runs / "biobert" / "bioasq" / "seed2" / "metrics.json"
    m = json.loads(path.read_text())
    del m["test"]["strict_authors"]
    path.write_text(json.dumps(m))
    results = Results(runs, [1, 2])
    assert results.score("biobert", "bioasq", "qa", "strict").values == (30.0, 30.0)
    with pytest.raises(ValueError, match=r"biobert/bioasq/seed2/metrics\.json: no test\.strict_authors"):
        results.score("biobert", "bioasq", "qa", "strict_authors")


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(model="tinybiobert"), r"distilbert/gad/seed1/metrics\.json: model is 'tinybiobert' but the run folder is for 'distilbert'"),
    (lambda m: m.update(seed=7), r"seed1/metrics\.json: seed is 7 but the run folder is for 1"),
    (lambda m: m.update(task="ner"), r"seed1/metrics\.json: task is 'ner' but the table expects 're'"),
    (lambda m: m.update(validation=[0.5]), r"seed1/metrics\.json: 'validation' must be an object of scores"),
    (lambda m: m["test"].update(f1=1.5), r"seed1/metrics\.json: test\.f1 must be a score in \[0, 1\], got 1\.5"),
])
def test_bad_metrics_name_the_file(tmp_path, edit, message):
    runs = tmp_path / "runs"
    d = write_run(runs, "distilbert", "gad", 1, "re", 0.6)
    m = json.loads((d / "metrics.json").read_text())
    edit(m)
    (d / "metrics.json").write_text(json.dumps(m))
    with pytest.raises(ValueError, match=message):
        runs_frame(runs, [("distilbert", "gad", 1)], {"gad": "re"})


def test_missing_run_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"biobert/gad/seed1/metrics\.json"):
        runs_frame(tmp_path, [("biobert", "gad", 1)], {"gad": "re"})
