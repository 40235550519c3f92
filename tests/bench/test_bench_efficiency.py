"""Efficiency stage: timing statistics, ratio arithmetic, settings checks and output files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from compactbio.bench import efficiency
from compactbio.bench import measure
from compactbio.bench.measure import summarize_ms
from compactbio.params import resolve

ROOT = Path(__file__).resolve().parents[2]


def test_summarize_ms_median_and_p90_by_hand():
    s = summarize_ms([0.004, 0.001, 0.003, 0.002])
    assert s["median"] == pytest.approx(2.5)
    # p90 with linear interpolation over sorted [1, 2, 3, 4] ms: 3 + 0.7 * (4 - 3)
    assert s["p90"] == pytest.approx(3.7)
    assert s["runs"] == 4 and s["min"] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        summarize_ms([])


def small_params(models=("biobert", "distilbiobert", "tinybiobert"), **eff_overrides) -> dict:
    """The project's params at demo scale, cut to a few models and the cheapest settings."""
    params = resolve(yaml.safe_load((ROOT / "params.yaml").read_text()), "demo")
    params["grid"]["models"] = list(models)
    eff = params["efficiency"]
    eff.update(size="tiny", threads=1, seq_lengths=[16, 32], isolate=False, gpu=False, rounds=2,
               latency={"warmup": 0, "repeats": 2},
               throughput={"batch_size": 2, "seq_length": 16, "warmup": 0, "repeats": 1})
    eff.update(eff_overrides)
    return params


def test_memory_and_round_robin_timing_in_process():
    cfg = efficiency.settings(small_params())
    mem = measure.measure_memory(efficiency._spec(cfg, "bert-4l-312d-cased", ["cpu"]))
    assert mem["group"] == "small" and mem["params_total"] > mem["params_non_embedding"] > 0
    assert mem["devices"]["cpu"]["memory_bytes"] > 0
    assert mem["devices"]["cpu"]["memory_shape"] == {"batch_size": 1, "seq_length": 32}
    names = ["bert-4l-312d-cased", "bert-6l-768d-cased"]
    models = {n: measure.build(n, "tiny", "cpu") for n in names}
    out = measure.time_models(models, {n: measure.vocab_size(n, "tiny") for n in names}, "cpu", cfg)
    for n in names:
        cpu = out[n]
        assert set(cpu["latency_ms"]) == {"16", "32"} and cpu["dtype"] == "float32"
        for lat in cpu["latency_ms"].values():
            assert lat["runs"] == 2 * 2 and 0 < lat["min"] <= lat["median"] <= lat["p90"]  # rounds x repeats
        tp = cpu["throughput"]
        assert tp["batch_ms"]["runs"] == 2 * 1
        assert tp["sequences_per_s"] == pytest.approx(2 / (tp["batch_ms"]["median"] / 1000))


def fake_result(arch, group, params, lat, tput, mem):
    return {"architecture": arch, "group": group, "params_total": params, "params_non_embedding": params // 2,
            "devices": {"cpu": {"dtype": "float32", "memory_bytes": mem,
                                "latency_ms": {"16": {"median": lat, "p90": lat * 1.5, "min": lat / 2, "runs": 3},
                                               "32": {"median": 2 * lat, "p90": 3 * lat, "min": lat, "runs": 3}},
                                "throughput": {"sequences_per_s": tput}}}}


def test_ratios_to_the_reference_by_hand():
    cfg = efficiency.settings(small_params())
    results = {"bert-base-cased": fake_result("bert-base-cased", "base", 100, 40.0, 50.0, 400 * 2**20),
               "bert-6l-768d-cased": fake_result("bert-6l-768d-cased", "distilled", 60, 20.0, 100.0, 300 * 2**20),
               "bert-4l-312d-cased": fake_result("bert-4l-312d-cased", "small", 15, 5.0, 400.0, 100 * 2**20)}
    rows = efficiency.build_rows(cfg, results, {"biobert": "BioBERT"})
    by = {r["model"]: r for r in rows}
    assert [r["model"] for r in rows] == ["biobert", "distilbiobert", "tinybiobert"]
    assert by["biobert"]["reference"] and by["biobert"]["latency_16_ratio"] == 1.0
    assert by["distilbiobert"]["params_ratio"] == pytest.approx(0.6)
    assert by["distilbiobert"]["latency_16_ratio"] == pytest.approx(0.5)
    assert by["tinybiobert"]["latency_32_ratio"] == pytest.approx(10.0 / 80.0)
    assert by["tinybiobert"]["latency_32_p90_ms"] == pytest.approx(15.0)
    assert by["tinybiobert"]["latency_16_min_ms"] == pytest.approx(2.5)
    assert by["tinybiobert"]["throughput_ratio"] == pytest.approx(8.0)
    assert by["tinybiobert"]["memory_mib"] == pytest.approx(100.0)
    assert by["tinybiobert"]["memory_ratio"] == pytest.approx(0.25)
    assert by["biobert"]["display"] == "BioBERT" and by["tinybiobert"]["display"] == "tinybiobert"
    assert by["biobert"]["label"] == "BioBERT [cpu]"
    assert efficiency.ratio(3.0, 0.0) != efficiency.ratio(3.0, 0.0)  # NaN, not a crash


@pytest.mark.parametrize("change,message", [
    (lambda p: p["efficiency"]["architectures"].pop("tinybiobert"), "no entry for grid model 'tinybiobert'"),
    (lambda p: p["efficiency"]["architectures"].update(tinybiobert="bert-xxl"), "unknown architecture 'bert-xxl'"),
    (lambda p: p["efficiency"].update(reference="gpt"), "efficiency.reference"),
    (lambda p: p["efficiency"].update(seq_lengths=[128, 1024]), r"seq_lengths\[1\] = 1024"),
    (lambda p: p["efficiency"].update(size="medium"), "efficiency.size"),
    (lambda p: p["efficiency"]["latency"].update(repeats=0), "latency.repeats"),
    (lambda p: p["efficiency"].update(rounds=0), "efficiency.rounds"),
])
def test_bad_settings_raise_value_error_naming_the_key(change, message, tmp_path):
    params = small_params()
    change(params)
    with pytest.raises(ValueError, match=message):
        efficiency.run(params, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_project_params_resolve_for_both_scales():
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert efficiency.settings(resolve(raw, "demo"))["size"] == "tiny"
    paper = efficiency.settings(resolve(raw, "paper"))
    assert paper["size"] == "paper" and paper["seq_lengths"] == [128, 256]


def test_run_writes_every_output(tmp_path):
    out = tmp_path / "efficiency"
    efficiency.run(small_params(), out)
    assert sorted(p.name for p in out.iterdir()) == [
        "efficiency.csv", "efficiency.json", "efficiency.md", "efficiency.pdf", "efficiency.png", "efficiency.tex"]
    data = json.loads((out / "efficiency.json").read_text())
    assert set(data["architectures"]) == {"bert-base-cased", "bert-6l-768d-cased", "bert-4l-312d-cased"}
    with open(out / "efficiency.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["model"] for r in rows] == ["biobert", "distilbiobert", "tinybiobert"]
    assert float(rows[0]["latency_16_ratio"]) == 1.0
    ref = float(rows[0]["latency_32_median_ms"])
    assert float(rows[2]["latency_32_ratio"]) == pytest.approx(float(rows[2]["latency_32_median_ms"]) / ref, rel=1e-4)
    md = (out / "efficiency.md").read_text()
    assert "| **BioBERT-v1.1** | base |" in md and "TinyBioBERT" in md
    tex = (out / "efficiency.tex").read_text()
    assert r"\toprule" in tex and r"\textbf{BioBERT-v1.1}" in tex and tex.count(r"\\") >= 4
    assert (out / "efficiency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_subprocess_isolation_gives_the_same_shape_of_result(tmp_path):
    """The default path: each architecture measured in a fresh interpreter."""
    params = small_params(models=("biobert",), isolate=True)
    efficiency.run(params, tmp_path / "e")
    data = json.loads((tmp_path / "e" / "efficiency.json").read_text())
    res = data["architectures"]["bert-base-cased"]
    assert res["isolated"] is True and res["devices"]["cpu"]["memory_method"].startswith("VmHWM")
    assert res["devices"]["cpu"]["memory_bytes"] > 0
