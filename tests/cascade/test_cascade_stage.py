"""The cascade stage and its summary on small files: contents by hand, costs, bad input, table and figure."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from compactbio.cascade import cost, figure, stage
from compactbio.data.errors import DataError
from compactbio.metrics.re import re_scores

WIDE_COLUMNS = ["device", "dtype", "clock", "model", "display", "latency_128_median_ms", "latency_256_median_ms",
                "timing_warning", "reference"]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def efficiency_csv(path: Path, latencies: dict[str, float], warning: dict | None = None) -> Path:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=WIDE_COLUMNS, lineterminator="\n")
    w.writeheader()
    for device, scale in (("cpu", 1.0), ("cuda", 0.01)):
        for model, ms in latencies.items():
            w.writerow({"device": device, "dtype": "float32", "clock": "wall", "model": model, "display": model,
                        "latency_128_median_ms": ms * scale, "latency_256_median_ms": 2 * ms * scale,
                        "timing_warning": (warning or {}).get(model, ""), "reference": model == "biobert"})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def qa(correct, conf=None, prefix="q"):
    out = []
    for i, ok in enumerate(correct):
        rec = {"id": f"{prefix}{i}", "strict": float(ok), "lenient": float(ok), "rr": 1.0 if ok else 0.5 * (i % 2)}
        if conf is not None:
            rec["confidence"] = conf[i]
        out.append(rec)
    return out


@pytest.fixture
def qa_pair(tmp_path):
    """Compact wrong on its 3 least confident of 10 test questions (and 2 of 8 validation ones); BioBERT right."""
    conf = [0.9, 0.1, 0.8, 0.3, 0.95, 0.2, 0.7, 0.85, 0.6, 0.75]
    vconf = [0.15, 0.25, 0.5, 0.55, 0.65, 0.7, 0.8, 0.9]
    files = {
        "compact_test": write_jsonl(tmp_path / "tiny" / "per_example.jsonl",
                                    qa([i not in (1, 3, 5) for i in range(10)], conf)),
        "fallback_test": write_jsonl(tmp_path / "bio" / "per_example.jsonl", qa([True] * 10)),
        "compact_validation": write_jsonl(tmp_path / "tiny" / "per_example_validation.jsonl",
                                          qa([i >= 2 for i in range(8)], vconf, "v")),
        "fallback_validation": write_jsonl(tmp_path / "bio" / "per_example_validation.jsonl",
                                           qa([True] * 8, None, "v")),
        "efficiency": efficiency_csv(tmp_path / "eff" / "efficiency.csv", {"biobert": 200.0, "tinybiobert": 20.0})}
    return files


def run_qa(files, out, **kw):
    return stage.run_cascade(task="qa", dataset="bioasq7b", compact_model="tinybiobert", seed=42, out=out,
                             n_bootstrap=200, **{**files, **kw})


def test_qa_pair_by_hand(qa_pair, tmp_path):
    out = tmp_path / "runs" / "cascade" / "tinybiobert" / "bioasq7b" / "seed42"
    res = run_qa(qa_pair, out)
    assert sorted(p.name for p in out.iterdir()) == ["cascade.csv", "cascade.json"]
    assert json.loads((out / "cascade.json").read_text()) == json.loads(json.dumps(res))
    assert res["metric"] == "mrr" and res["latency"]["compact_relative"] == pytest.approx(0.1)
    t = res["test"]
    assert t["n"] == 10 and t["compact"]["strict"] == pytest.approx(0.7) and t["fallback"]["mrr"] == 1.0
    # three routed questions recover BioBERT's score: cost (20 + 0.3 x 200) / 200
    point = t["targets"]["99"]
    assert (point["k"], point["share"], point["threshold"], point["score"]) == (3, 0.3, 0.3, 1.0)
    assert point["cost_ms"] == pytest.approx(80.0) and point["relative_cost"] == pytest.approx(0.4)
    assert len(t["curve"]) == 101
    assert t["curve"][-1]["relative_cost"] == pytest.approx(1.1)      # both models run at 100 %
    assert t["curve"][0]["relative_cost"] == pytest.approx(0.1)
    assert t["area"]["value"] > 0 and len(t["area"]["samples"]) == 200
    # validation: wrong below 0.3 -> threshold 0.25, which routes two test questions (0.1, 0.2)
    chosen = res["validation_thresholds"]["99"]
    assert chosen["validation"]["threshold"] == 0.25 and chosen["validation"]["k"] == 2
    assert (chosen["test"]["k"], chosen["test"]["share"]) == (2, 0.2)
    assert chosen["test"]["scores"]["strict"] == pytest.approx(0.9)
    assert chosen["test"]["relative_cost"] == pytest.approx((20 + 0.2 * 200) / 200)
    rows = list(csv.DictReader(io.StringIO((out / "cascade.csv").read_text())))
    assert list(rows[0])[:len(stage.CURVE_COLUMNS)] == list(stage.CURVE_COLUMNS)
    assert [r["split"] for r in rows] == ["validation"] * 101 + ["test"] * 101
    last = rows[-1]
    assert (last["share_pct"], last["k"], last["n"]) == ("100", "10", "10")
    assert float(last["relative_cost"]) == pytest.approx(1.1) and float(last["mrr"]) == 1.0
    assert rows[101]["threshold"] == "" and float(rows[101]["random_strict"]) == pytest.approx(0.7)


def test_long_form_efficiency_csv_and_device(qa_pair, tmp_path):
    wide = cost.read_latencies(qa_pair["efficiency"], "tinybiobert", "biobert")
    long = tmp_path / "results" / "efficiency.csv"
    long.parent.mkdir()
    long.write_text("model,device,dtype,architecture,group,measure,value\n"
                    "biobert,cpu,float32,bert,base,latency_128_median_ms,200\n"
                    "tinybiobert,cpu,float32,bert,small,latency_128_median_ms,20\n"
                    "tinybiobert,cpu,float32,bert,small,params_total,100\n", encoding="utf-8")
    assert cost.read_latencies(long.parent, "tinybiobert", "biobert") == cost.Latencies(
        20.0, 200.0, "cpu", 128, str(long))
    assert (wide.compact_ms, wide.fallback_ms) == (20.0, 200.0)
    gpu = cost.read_latencies(qa_pair["efficiency"], "tinybiobert", "biobert", device="cuda", seq_length=256)
    assert (gpu.compact_ms, gpu.fallback_ms) == pytest.approx((0.4, 4.0))
    with pytest.raises(DataError, match=r"efficiency\.csv:1: no latency_512_median_ms: the efficiency study "
                                        r"measured sequence lengths 128, 256"):
        cost.read_latencies(qa_pair["efficiency"], "tinybiobert", "biobert", seq_length=512)
    with pytest.raises(DataError, match=r"no latency_128_median_ms for model 'mobilebert' on device 'cpu'"):
        cost.read_latencies(long, "mobilebert", "biobert")


def test_timing_warning_is_carried(qa_pair, tmp_path):
    efficiency_csv(qa_pair["efficiency"], {"biobert": 200.0, "tinybiobert": 20.0}, {"tinybiobert": "spread 9%"})
    res = run_qa(qa_pair, tmp_path / "out")
    assert res["latency"]["timing_warning"] == "tinybiobert: spread 9%"


def test_without_validation_files_the_thresholds_are_null(qa_pair, tmp_path):
    files = {k: v for k, v in qa_pair.items() if "validation" not in k}
    res = run_qa(files, tmp_path / "a")
    assert res["validation"] is None and res["validation_thresholds"] is None
    assert "no validation" in res["validation_note"]
    # a dataset without a validation split (paper-scale GAD, BioASQ): both files empty
    write_jsonl(qa_pair["compact_validation"], [])
    write_jsonl(qa_pair["fallback_validation"], [])
    res = run_qa(qa_pair, tmp_path / "b")
    assert res["validation_thresholds"] is None and "no validation split" in res["validation_note"]


def test_gad_uses_binary_f1_of_the_combined_predictions(tmp_path):
    rng = np.random.default_rng(2)
    gold = [str(x) for x in rng.integers(0, 2, 30)]
    comp = [g if rng.random() > 0.4 else str(1 - int(g)) for g in gold]
    conf = rng.random(30)
    c = write_jsonl(tmp_path / "c.jsonl", [{"id": f"train-{i}", "gold": gold[i], "pred": comp[i],
                                             "confidence": float(conf[i])} for i in range(30)])
    f = write_jsonl(tmp_path / "f.jsonl", [{"id": f"train-{i}", "gold": gold[i], "pred": gold[i]} for i in range(30)])
    eff = efficiency_csv(tmp_path / "efficiency.csv", {"biobert": 100.0, "distilbiobert": 50.0})
    res = stage.run_cascade(task="re", dataset="gad", compact_model="distilbiobert", compact_test=c, fallback_test=f,
                            efficiency=eff, out=tmp_path / "out", labels=["0", "1"], n_bootstrap=50)
    want = re_scores(gold, comp, ["0", "1"])
    assert res["test"]["compact"]["f1"] == pytest.approx(want["f1_binary"])
    assert res["test"]["compact"]["f1_macro"] == pytest.approx(want["f1_macro"])
    assert res["labels"] == ["0", "1"] and res["test"]["fallback"]["f1"] == 1.0


# ---------------------------------------------------------------- bad input: one line naming the file

def test_missing_confidence_names_file_and_line(qa_pair, tmp_path):
    rows = [json.loads(x) for x in qa_pair["compact_test"].read_text().splitlines()]
    del rows[2]["confidence"]
    write_jsonl(qa_pair["compact_test"], rows)
    out = tmp_path / "out"
    with pytest.raises(DataError) as err:
        run_qa(qa_pair, out)
    msg = str(err.value)
    assert msg.startswith(f"{qa_pair['compact_test']}:3: missing field(s) confidence for a qa record")
    assert "\n" not in msg and not out.exists()


def test_different_ids_name_both_files(qa_pair, tmp_path):
    rows = [json.loads(x) for x in qa_pair["fallback_test"].read_text().splitlines()]
    rows[4]["id"] = "elsewhere"
    write_jsonl(qa_pair["fallback_test"], rows)
    with pytest.raises(DataError) as err:
        run_qa(qa_pair, tmp_path / "out")
    msg = str(err.value)
    assert msg.startswith(f"{qa_pair['compact_test']}: its example ids differ from those of {qa_pair['fallback_test']}")
    assert "['q4']" in msg and "['elsewhere']" in msg and "\n" not in msg
    assert not (tmp_path / "out").exists()


def test_other_bad_inputs(qa_pair, tmp_path):
    files = {k: v for k, v in qa_pair.items() if k != "fallback_validation"}
    with pytest.raises(DataError, match="validation per-example file is given for one system only"):
        run_qa(files, tmp_path / "out")
    with pytest.raises(DataError, match=r"missing\.jsonl: file not found"):
        run_qa({**qa_pair, "fallback_test": tmp_path / "missing.jsonl"}, tmp_path / "out")
    with pytest.raises(ValueError, match="metric 'f1' is not defined for task 'qa'"):
        run_qa(qa_pair, tmp_path / "out", metric="f1")
    first = qa_pair["compact_test"].read_text().splitlines()[0]
    qa_pair["compact_test"].write_text(first + '\n{"id": "q1"\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"tiny/per_example\.jsonl:2: not valid JSON"):
        run_qa(qa_pair, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- summary: table and figure

def _ner_files(tmp_path, name, seed, shift):
    rng = np.random.default_rng(seed)
    comp, fall = [], []
    for i in range(40):
        ok = rng.random() < 0.6 + shift
        comp.append({"id": f"test-{i}", "tp": int(ok), "fp": int(not ok), "fn": int(not ok),
                     "confidence": float(rng.random() * 0.5 + 0.5 * ok), "confidence_word_min": 0.5})
        fall.append({"id": f"test-{i}", "tp": 1, "fp": 0, "fn": int(rng.random() < 0.1)})
    return (write_jsonl(tmp_path / name / f"seed{seed}" / "c.jsonl", comp),
            write_jsonl(tmp_path / name / f"seed{seed}" / "f.jsonl", fall))


def test_summary_table_and_figure(qa_pair, tmp_path):
    eff = efficiency_csv(tmp_path / "eff.csv", {"biobert": 200.0, "tinybiobert": 20.0, "distilbiobert": 100.0})
    paths = []
    for model, seeds in (("tinybiobert", (1, 2)), ("distilbiobert", (1,))):
        for seed in seeds:
            c, f = _ner_files(tmp_path, model, seed, 0.1 if model == "distilbiobert" else 0.0)
            out = tmp_path / "cascade" / model / "ncbi-disease" / f"seed{seed}"
            stage.run_cascade(task="ner", dataset="ncbi-disease", compact_model=model, seed=seed, compact_test=c,
                              fallback_test=f, efficiency=eff, out=out, n_bootstrap=100)
            paths.append(out / "cascade.json")
    files = {**qa_pair, "efficiency": eff}
    run_qa(files, tmp_path / "cascade" / "tinybiobert" / "bioasq7b" / "seed42")
    paths.append(tmp_path / "cascade" / "tinybiobert" / "bioasq7b" / "seed42" / "cascade.json")
    out = tmp_path / "results" / "cascade"
    rows = stage.run_summary(paths, out, displays={"tinybiobert": "TinyBioBERT", "biobert": "BioBERT-v1.1"},
                             caption_prefix="DEMO SCALE, SYNTHETIC DATA: ", scale="demo (synthetic data)")
    assert sorted(p.name for p in out.iterdir()) == ["cascade.csv", "cascade.md", "cascade.pdf", "cascade.png",
                                                    "cascade.tex"]
    assert [(r["model"], r["dataset"], r["n_seeds"]) for r in rows] == [
        ("tinybiobert", "ncbi-disease", 2), ("distilbiobert", "ncbi-disease", 1), ("tinybiobert", "bioasq7b", 1)]
    # seeds are averaged; the area interval is over the seed-mean area of shared resamples
    seeds = [json.loads(p.read_text()) for p in paths[:2]]
    tiny = rows[0]
    assert tiny["test_share_99"] == pytest.approx(np.mean([s["test"]["targets"]["99"]["share"] for s in seeds]))
    both = np.mean([s["test"]["area"]["samples"] for s in seeds], axis=0)
    assert tiny["area_ci_low"] == pytest.approx(np.percentile(both, 2.5))
    assert tiny["val_share_99"] is None and tiny["val_threshold_99"] is None
    qa_row = rows[2]
    assert (qa_row["test_share_99"], qa_row["test_relative_cost_99"]) == (0.3, pytest.approx(0.4))
    assert qa_row["test_share_at_val_99"] == 0.2 and qa_row["test_retained_at_val_99"] == pytest.approx(
        json.loads(paths[-1].read_text())["validation_thresholds"]["99"]["test"]["score"])
    assert qa_row["val_threshold_99"] == 0.25
    table_csv = list(csv.DictReader(io.StringIO((out / "cascade.csv").read_text())))
    assert list(table_csv[0])[:3] == ["scale", "model", "dataset"]
    assert table_csv[2]["test_share_99.5"] == "0.3" and table_csv[0]["val_share_99"] == ""
    md = (out / "cascade.md").read_text()
    assert md.startswith("DEMO SCALE, SYNTHETIC DATA: A compact model as the front-end of BioBERT-v1.1")
    assert "| TinyBioBERT | bioasq7b | 85.0 | 100.0 | 0.10× | 30% (0.40×) |" in md
    assert "20%, 95.0% kept (0.30×)" in md and "n/a" in md
    tex = (out / "cascade.tex").read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and tex.count(r"\midrule") == 2
    assert r"30\% (0.40$\times$)" in tex
    with Image.open(out / "cascade.png") as img:
        assert img.size == figure.figure_size(2)


def test_summary_rejects_seeds_on_different_test_sets(tmp_path):
    eff = efficiency_csv(tmp_path / "eff.csv", {"biobert": 200.0, "tinybiobert": 20.0})
    paths = []
    for seed in (1, 2):
        c, f = _ner_files(tmp_path, "tiny", seed, 0.0)
        if seed == 2:   # one sentence fewer
            for p in (c, f):
                write_jsonl(p, [json.loads(x) for x in p.read_text().splitlines()][:-1])
        out = tmp_path / "cascade" / f"seed{seed}"
        stage.run_cascade(task="ner", dataset="ncbi-disease", compact_model="tinybiobert", seed=seed,
                          compact_test=c, fallback_test=f, efficiency=eff, out=out, n_bootstrap=20)
        paths.append(out / "cascade.json")
    with pytest.raises(DataError, match=r"seed2/cascade\.json: test\.n is 39 but .*seed1/cascade\.json"):
        stage.run_summary(paths, tmp_path / "table")
    assert not (tmp_path / "table").exists()
    (tmp_path / "bad.json").write_text("{}", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.json: not a cascade\.json"):
        stage.run_summary([tmp_path / "bad.json"], tmp_path / "table")


def test_reads_the_efficiency_stages_own_csv_and_the_results_long_form(tmp_path):
    """The columns as the real writers write them (efficiency.build_rows + tables.write_csv, results)."""
    from compactbio.bench import efficiency, tables
    from compactbio.report.results import efficiency_frame

    def fake(arch, group, lat):
        timing = {"median": lat, "p90": lat, "min": lat, "runs": 3, "uncertainty": 0.01}
        return {"architecture": arch, "group": group, "params_total": 10, "params_non_embedding": 5,
                "devices": {"cpu": {"dtype": "float32", "memory_bytes": 2**20,
                                    "latency_ms": {"128": timing, "256": {**timing, "median": 2 * lat}},
                                    "throughput": {"sequences_per_s": 1.0, "batch_ms": {"median": 1.0}}}}}

    cfg = {"models": ["biobert", "tinybiobert"], "reference": "biobert", "seq_lengths": [128, 256],
           "architectures": {"biobert": "bert-base-cased", "tinybiobert": "bert-4l-312d-cased"}}
    results = {"bert-base-cased": fake("bert-base-cased", "base", 40.0),
               "bert-4l-312d-cased": fake("bert-4l-312d-cased", "small", 5.0)}
    rows = efficiency.build_rows(cfg, results, {})
    tables.write_csv(tmp_path / "eff" / "efficiency.csv", rows)
    lat = cost.read_latencies(tmp_path / "eff", "tinybiobert", "biobert", seq_length=256)
    assert (lat.compact_ms, lat.fallback_ms, lat.compact_relative) == (10.0, 80.0, 0.125)
    (tmp_path / "eff" / "efficiency.json").write_text(json.dumps({"rows": rows}), encoding="utf-8")
    (tmp_path / "results").mkdir()
    efficiency_frame(tmp_path / "eff").to_csv(tmp_path / "results" / "efficiency.csv", index=False)
    assert cost.read_latencies(tmp_path / "results", "tinybiobert", "biobert", seq_length=256).compact_ms == 10.0
