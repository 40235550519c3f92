"""Score per cost: shares of the reference's score and latency, by hand, and bad inputs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from compactbio.bench import score_cost
from compactbio.io import write_json


def params():
    return {"grid": {"models": ["biobert", "tinybiobert", "distilbiobert", "mobilebert"],
                     "ner": ["ncbi-disease"], "re": ["gad"], "qa": ["bioasq7b"], "seeds": [1, 2]},
            "models": {"biobert": {"display": "BioBERT-v1.1"}, "tinybiobert": {"display": "TinyBioBERT"}},
            "efficiency": {"reference": "biobert",
                           "score_cost": {"device": "cpu", "seq_length": 128,
                                          "primary": {"ner": "f1", "re": "f1", "qa": "mrr"}}}}


def put(runs: Path, model, dataset, seed, test: dict):
    write_json(runs / model / dataset / f"seed{seed}" / "metrics.json",
               {"task": "x", "model": model, "dataset": dataset, "seed": seed, "test": test, "validation": {}})


def efficiency_json(path: Path):
    rows = [{"device": "cpu", "model": m, "group": g, "latency_128_median_ms": lat, "latency_256_median_ms": 2 * lat}
            for m, g, lat in [("biobert", "base", 200.0), ("tinybiobert", "small", 20.0),
                              ("distilbiobert", "distilled", 100.0), ("mobilebert", "mobile", 90.0)]]
    write_json(path / "efficiency.json", {"rows": rows})


@pytest.fixture
def setup(tmp_path):
    runs, eff = tmp_path / "runs", tmp_path / "eff"
    efficiency_json(eff)
    # BioBERT: ncbi 0.8/0.9 -> 0.85, gad 0.7 (both seeds), bioasq mrr 0.5
    put(runs, "biobert", "ncbi-disease", 1, {"f1": 0.8})
    put(runs, "biobert", "ncbi-disease", 2, {"f1": 0.9})
    put(runs, "biobert", "gad", 1, {"f1": 0.7})
    put(runs, "biobert", "gad", 2, {"f1": 0.7})
    put(runs, "biobert", "bioasq7b", 1, {"strict": 0.3, "mrr": 0.5})
    # TinyBioBERT: ncbi 0.765 (one seed only), gad 0.63, no QA run
    put(runs, "tinybiobert", "ncbi-disease", 1, {"f1": 0.765})
    put(runs, "tinybiobert", "gad", 1, {"f1": 0.63})
    # DistilBioBERT: all three
    put(runs, "distilbiobert", "ncbi-disease", 1, {"f1": 0.85})
    put(runs, "distilbiobert", "gad", 1, {"f1": 0.7})
    put(runs, "distilbiobert", "bioasq7b", 1, {"strict": 0.2, "mrr": 0.45})
    # mobilebert: no runs at all -> skipped
    return runs, eff, tmp_path / "out"


def test_shares_by_hand(setup):
    runs, eff, out = setup
    score_cost.run(params(), eff, runs, out)
    assert sorted(p.name for p in out.iterdir()) == ["score_cost.csv", "score_cost.json", "score_cost.pdf",
                                                     "score_cost.png"]
    with open(out / "score_cost.csv") as f:
        rows = {r["model"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"tinybiobert", "distilbiobert"}
    tiny = rows["tinybiobert"]
    # common datasets: ncbi, gad. model mean (0.765 + 0.63)/2 = 0.6975; reference (0.85 + 0.7)/2 = 0.775
    assert tiny["n_datasets"] == "2" and tiny["datasets"] == "ncbi-disease gad"
    assert float(tiny["score_share"]) == pytest.approx(0.6975 / 0.775, rel=1e-5)  # 0.9
    assert float(tiny["latency_share"]) == pytest.approx(0.1)
    assert float(tiny["score_per_cost"]) == pytest.approx(9.0, rel=1e-5)
    assert tiny["display"] == "TinyBioBERT" and tiny["group"] == "small"
    distil = rows["distilbiobert"]
    # (0.85 + 0.7 + 0.45)/3 over (0.85 + 0.7 + 0.5)/3
    assert float(distil["score_share"]) == pytest.approx(2.0 / 2.05, rel=1e-5)
    assert float(distil["latency_share"]) == pytest.approx(0.5)


def test_timing_warnings_of_the_model_or_the_reference_reach_the_rows(setup):
    runs, eff, out = setup
    data = json.loads((eff / "efficiency.json").read_text())
    for row in data["rows"]:
        row["timing_warning"] = "latency at L=128 uncertain by 9% (limit 5%)" if row["model"] == "biobert" else ""
    write_json(eff / "efficiency.json", data)
    score_cost.run(params(), eff, runs, out)
    rows = {r["model"]: r for r in json.loads((out / "score_cost.json").read_text())["rows"]}
    # the reference's noisy timing makes every latency share unreliable
    assert all(r["timing_warning"] == "biobert: latency at L=128 uncertain by 9% (limit 5%)" for r in rows.values())
    efficiency_json(eff)      # rows without the field (an older efficiency.json): no warning
    score_cost.run(params(), eff, runs, tmp := out.parent / "out2")
    assert all(not r["timing_warning"] for r in json.loads((tmp / "score_cost.json").read_text())["rows"])


def test_out_of_range_score_names_the_file(setup):
    runs, eff, out = setup
    put(runs, "distilbiobert", "gad", 2, {"f1": 70.0})
    with pytest.raises(ValueError, match=r"distilbiobert/gad/seed2/metrics.json: test.f1 = 70.0"):
        score_cost.run(params(), eff, runs, out)
    assert not out.exists()


def test_missing_metric_and_bad_json(setup):
    runs, eff, out = setup
    put(runs, "tinybiobert", "bioasq7b", 1, {"strict": 0.2})
    with pytest.raises(ValueError, match=r"bioasq7b/seed1/metrics.json: test.mrr is missing"):
        score_cost.run(params(), eff, runs, out)
    (runs / "tinybiobert" / "bioasq7b" / "seed1" / "metrics.json").write_text('{"test":\n  {"mrr": }\n}')
    with pytest.raises(ValueError, match=r"metrics.json: line 2: not valid JSON"):
        score_cost.run(params(), eff, runs, out)


def test_reference_without_runs_or_latency(setup, tmp_path):
    runs, eff, out = setup
    with pytest.raises(ValueError, match="reference model 'biobert'"):
        score_cost.run(params(), eff, tmp_path / "no-runs", out)
    p = params()
    p["efficiency"]["score_cost"]["seq_length"] = 512
    with pytest.raises(ValueError, match="sequence length 512"):
        score_cost.run(p, eff, runs, out)
    p = params()
    p["efficiency"]["score_cost"]["device"] = "cuda"
    with pytest.raises(ValueError, match="device 'cuda'"):
        score_cost.run(p, eff, runs, out)
    assert not out.exists()
