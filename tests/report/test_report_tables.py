"""The table stage on hand-built runs: layout, marking, seeds, significance, errors."""

from __future__ import annotations

import csv
import math
import statistics

import pytest

from compactbio.report import stage
from compactbio.report.paper_numbers import lookup

from report.report_fakes import SCORES, records, write_prepared, write_run


def md_rows(text: str) -> list[list[str]]:
    """Body rows of the (first) Markdown table, cells stripped."""
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    return [[c.strip() for c in ln.strip("|").split(" | ")] for ln in lines[2:]]


def read_csv(path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_scores_table_marks_best_and_second_per_row(small_params, small_runs, tmp_path):
    out = tmp_path / "tables"
    stage.run(small_params, "table2", small_runs, tmp_path / "prepared", out)
    md = (out / "table2.md").read_text()
    rows = md_rows(md)
    # ncbi: compact 88.67 > biobert 88.62 > distil 86.38 > tiny 85.22
    assert rows[0][:3] == ["Disease", "NCBI disease", "F1"]
    assert rows[0][3].startswith("86.38") and "**" not in rows[0][3] and "<u>" not in rows[0][3]
    assert rows[0][4].startswith("**88.67**")
    assert rows[0][6] == "<u>88.62</u>"        # the reference carries no significance marker
    # bc2gm: biobert best, compact second; no display name configured -> id
    assert rows[1][:2] == ["Gene/protein", "bc2gm"]
    assert rows[1][6] == "**87.62**" and rows[1][4].startswith("<u>86.71</u>")
    tex = (out / "table2.tex").read_text()
    assert r"\textbf{88.67}" in tex and r"\underline{88.62}" in tex
    assert r"\textbf{87.62}" in tex and r"\underline{86.71}" in tex
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"\caption{DEMO SCALE, SYNTHETIC DATA: NER scores}" in tex
    # footnote attached to the TinyBioBERT column, escaped display name
    assert r"TinyBioBERT\textsuperscript{a}" in tex and r"\textsuperscript{a}Tiny is 15M." in tex
    assert r"Distil\_BERT \& co" in tex and "Plain note." in tex
    assert "TinyBioBERT<sup>a</sup>" in md and "Distil\\_BERT & co" in md


def test_style_options_change_the_marking(small_params, small_runs, tmp_path):
    small_params["tables"]["style"].update(best="underline", second="none", decimals=1)
    stage.run(small_params, "table2", small_runs, tmp_path / "prepared", tmp_path / "t")
    tex = (tmp_path / "t" / "table2.tex").read_text()
    assert r"\underline{88.7}" in tex and r"\textbf" not in tex
    assert " & 88.6 \\\\" in tex    # biobert, second best, unmarked
    small_params["tables"]["style"]["best"] = "italic"
    with pytest.raises(ValueError, match="tables.style.best"):
        stage.run(small_params, "table2", small_runs, tmp_path / "prepared", tmp_path / "u")


def test_ties_share_the_mark(small_params, tmp_path):
    runs = tmp_path / "runs"
    for model, score in (("distilbert", 0.2098), ("compactbiobert", 0.2098), ("biobert", 0.2407)):
        write_run(runs, model, "bioasq", 1, "qa", score)
    stage.run(small_params, "table6", runs, tmp_path, tmp_path / "out")
    rows = md_rows((tmp_path / "out" / "table6.md").read_text())
    assert [r[1] for r in rows] == ["S", "L", "M"]
    s = rows[0]
    assert s[4] == "**24.07**" and s[2].startswith("<u>20.98</u>") and s[3].startswith("<u>20.98</u>")


def test_mean_and_std_over_seeds(small_params, tmp_path):
    small_params["grid"]["seeds"] = [1, 2, 3]
    runs = tmp_path / "runs"
    hand = {"distilbert": [0.80, 0.84, 0.83], "compactbiobert": [0.85, 0.86, 0.90], "biobert": [0.88, 0.88, 0.88]}
    for model, scores in hand.items():
        for seed, s in zip([1, 2, 3], scores):
            write_run(runs, model, "gad", seed, "re", s)
    stage.run(small_params, "table4", runs, tmp_path, tmp_path / "out")
    rows = md_rows((tmp_path / "out" / "table4.md").read_text())
    # independent reference: statistics module on the hand values (×100)
    ref = {m: (statistics.mean([100 * x for x in v]), statistics.stdev([100 * x for x in v])) for m, v in hand.items()}
    assert ref["distilbert"] == pytest.approx((82.333333, 2.081666), abs=1e-5)
    assert rows[0][2].startswith(f"{ref['distilbert'][0]:.2f} ± {ref['distilbert'][1]:.2f}")
    assert rows[0][3].startswith(f"<u>{ref['compactbiobert'][0]:.2f} ± {ref['compactbiobert'][1]:.2f}</u>")
    assert rows[0][4] == "**88.00 ± 0.00**"
    assert "mean ± standard deviation (sample) over 3 fine-tuning seeds (1, 2, 3)" in \
        (tmp_path / "out" / "table4.md").read_text()
    tex = (tmp_path / "out" / "table4.tex").read_text()
    assert r"\textbf{88.00 $\pm$ 0.00}" in tex
    rows_csv = read_csv(tmp_path / "out" / "table4.csv")
    d = next(r for r in rows_csv if r["model"] == "distilbert")
    assert float(d["mean"]) == pytest.approx(ref["distilbert"][0], abs=1e-4)
    assert float(d["std"]) == pytest.approx(ref["distilbert"][1], abs=1e-4)
    assert d["values"] == "80.0000;84.0000;83.0000" and d["n_seeds"] == "3"


def test_csv_has_subword_f1_and_p_values(small_params, small_runs, tmp_path):
    stage.run(small_params, "table2", small_runs, tmp_path / "prepared", tmp_path / "out")
    rows = read_csv(tmp_path / "out" / "table2.csv")
    assert len(rows) == 2 * 4
    r = next(r for r in rows if r["model"] == "compactbiobert" and r["dataset"] == "ncbi")
    assert float(r["mean"]) == pytest.approx(88.67) and float(r["f1_subword_mean"]) == pytest.approx(87.67)
    assert r["rank"] == "best" and r["type"] == "Disease" and r["model_name"] == "CompactBioBERT"
    assert 0 < float(r["p_value_vs_biobert"]) <= 1
    assert next(r for r in rows if r["model"] == "biobert")["p_value_vs_biobert"] == ""


def test_significance_markers(small_params, tmp_path):
    """A much worse model is marked ‡; one with BioBERT's exact predictions is not."""
    runs = tmp_path / "runs"
    good = records("re", 0.95, 200, seed=1)
    write_run(runs, "biobert", "gad", 1, "re", 0.95, rec=good)
    write_run(runs, "compactbiobert", "gad", 1, "re", 0.95, rec=good)
    write_run(runs, "distilbert", "gad", 1, "re", 0.50, rec=records("re", 0.5, 200, seed=2))
    stage.run(small_params, "table4", runs, tmp_path, tmp_path / "out")
    md = (tmp_path / "out" / "table4.md").read_text()
    row = md_rows(md)[0]
    assert row[2].endswith(" ‡") and not row[3].endswith(("†", "‡"))
    assert "paired bootstrap with 200 resamples" in md
    assert "‡" not in (tmp_path / "out" / "table4.tex").read_text()   # LaTeX stays like the paper
    rows = {r["model"]: r for r in read_csv(tmp_path / "out" / "table4.csv")}
    assert float(rows["distilbert"]["p_value_vs_biobert"]) < 0.01
    assert float(rows["compactbiobert"]["p_value_vs_biobert"]) == 1.0


def test_table_without_biobert_compares_only_when_its_runs_exist(small_params, small_runs, tmp_path):
    stage.run(small_params, "table3", small_runs, tmp_path / "prepared", tmp_path / "a")
    assert "paired bootstrap" in (tmp_path / "a" / "table3.md").read_text()
    import shutil
    shutil.rmtree(small_runs / "biobert" / "ncbi")
    stage.run(small_params, "table3", small_runs, tmp_path / "prepared", tmp_path / "b")
    md = (tmp_path / "b" / "table3.md").read_text()
    assert "paired bootstrap" not in md and "†" not in md and "‡" not in md
    assert all(r["p_value_vs_biobert"] == "" for r in read_csv(tmp_path / "b" / "table3.csv"))


def test_missing_run_is_named_and_nothing_is_written(small_params, small_runs, tmp_path):
    (small_runs / "tinybiobert" / "bc2gm" / "seed1" / "per_example.jsonl").unlink()
    out = tmp_path / "out"
    with pytest.raises(FileNotFoundError, match=r"tinybiobert/bc2gm/seed1/per_example\.jsonl"):
        stage.run(small_params, "table2", small_runs, tmp_path / "prepared", out)
    assert not out.exists() or not any(out.iterdir())


def test_bad_metrics_file_names_file_and_key(small_params, small_runs, tmp_path):
    path = small_runs / "distilbert" / "gad" / "seed1" / "metrics.json"
    path.write_text('{"task": "re", "test": {"f1": 85.2}}')
    with pytest.raises(ValueError, match=r"distilbert/gad/seed1/metrics\.json: test\.f1 must be a score in \[0, 1\]"):
        stage.run(small_params, "table4", small_runs, tmp_path, tmp_path / "out")
    path.write_text('{"task": "re",\n "test": {')
    with pytest.raises(ValueError, match=r"metrics\.json: line 2: not valid JSON"):
        stage.run(small_params, "table4", small_runs, tmp_path, tmp_path / "out")
    rec = small_runs / "biobert" / "gad" / "seed1" / "per_example.jsonl"
    write_run(small_runs, "distilbert", "gad", 1, "re", 0.8)
    rec.write_text('{"id": "r0", "gold": "1", "pred": "1"}\n{"id": "r1", "gold": "0"}\n')
    with pytest.raises(ValueError, match=r"per_example\.jsonl: line 2: missing field\(s\) pred"):
        stage.run(small_params, "table4", small_runs, tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="no table 'table9'"):
        stage.run(small_params, "table9", small_runs, tmp_path, tmp_path / "out")


def test_output_is_deterministic(small_params, small_runs, tmp_path):
    for name in ("a", "b"):
        for t in ("table2", "table6", "reported", "retention", "table1"):
            stage.run(small_params, t, small_runs, tmp_path / "prepared", tmp_path / name)
    for f in sorted((tmp_path / "a").iterdir()):
        assert f.read_bytes() == (tmp_path / "b" / f.name).read_bytes(), f.name
    assert len(list((tmp_path / "a").iterdir())) == 5 * 4   # .tex, .md, .csv, .html


def test_datasets_table_sizes_from_prepared(small_params, small_runs, tmp_path):
    prepared = tmp_path / "prepared"
    stage.run(small_params, "table1", small_runs, prepared, tmp_path / "out")
    rows = md_rows((tmp_path / "out" / "table1.md").read_text())
    assert rows[0][:6] == ["NCBI disease", "NER", str(5424 + 923 + 940), "5424", "923", "940"]
    assert rows[0][6] == "Disease mentions (50% of abstracts)."   # from params, not meta
    assert rows[1][:3] == ["gad", "RE", "5330"] and rows[2][:3] == ["bioasq", "QA", "6100"]
    tex = (tmp_path / "out" / "table1.tex").read_text()
    assert r"(50\% of abstracts)" in tex
    csv_rows = read_csv(tmp_path / "out" / "table1.csv")
    assert csv_rows[0]["size"] == "7287" and csv_rows[2]["task"] == "qa"
    (prepared / "gad" / "meta.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"gad/meta\.json"):
        stage.run(small_params, "table1", small_runs, prepared, tmp_path / "o2")
    write_prepared(prepared, "gad", "re", {"train": -1})
    with pytest.raises(ValueError, match=r"gad/meta\.json: 'splits'"):
        stage.run(small_params, "table1", small_runs, prepared, tmp_path / "o2")


def test_reported_diff(small_params, tmp_path):
    """Our score minus the paper's, for the figures the paper has (bc2gm, GAD), '–' elsewhere."""
    small_params["grid"]["seeds"] = [1, 2]
    runs = tmp_path / "runs"
    hand = {"distilbert": (0.80, 0.90), "compactbiobert": (0.85, 0.86), "tinybiobert": (0.70, 0.70),
            "biobert": (0.88, 0.87)}
    for model, pair in hand.items():
        for seed, s in zip((1, 2), pair):
            for d, task in (("ncbi", "ner"), ("bc2gm", "ner"), ("gad", "re"), ("bioasq", "qa")):
                if model == "tinybiobert" and task != "ner":
                    continue
                write_run(runs, model, d, seed, task, s)
    small_params["tables"]["reported"]["tables"] = ["table2", "table4"]
    stage.run(small_params, "reported", runs, tmp_path, tmp_path / "out")
    rows = read_csv(tmp_path / "out" / "reported.csv")
    by = {(r["table"], r["dataset"], r["model"]): r for r in rows}
    # paper Table 2, BC2GM: DistilBERT 84.61, BioBERT 87.62; Table 4, GAD: CompactBioBERT 85.52
    # NER compares the paper with our sub-word F1 (the fake's f1_subword = f1 - 0.01), word F1 beside it
    r = by[("table2", "bc2gm", "distilbert")]
    assert r["paper"] == "84.61" and float(r["diff"]) == pytest.approx(84.0 - 84.61)
    assert r["ours_metric"] == "f1_subword" and float(r["ours_word_f1"]) == pytest.approx(85.0)
    assert r["paper_source"] == "Table 2, row Gene/protein / BC2GM / F1" and r["paper_line"] == "241"
    assert float(by[("table2", "bc2gm", "biobert")]["diff"]) == pytest.approx(86.5 - 87.62)
    assert float(by[("table4", "gad", "compactbiobert")]["diff"]) == pytest.approx(85.5 - 85.52)
    assert by[("table2", "ncbi", "biobert")]["paper"] == "" and by[("table2", "ncbi", "biobert")]["diff"] == ""
    md = (tmp_path / "out" / "reported.md").read_text()
    assert "| bc2gm | F1 | Distil\\_BERT & co | 84.61 | 84.00 ± 7.07 | -0.61 | 85.00 ± 7.07 |" in md
    assert "| GAD" not in md and "| gad | F1 | Distil\\_BERT & co | 82.54 | 85.00 ± 7.07 | +2.46 | – |" in md
    assert "Model selection: the last epoch's model (as the authors' scripts) (finetune select: last)." in md
    diffs = [84.0 - 84.61, 84.5 - 86.71, 69.0 - 82.52, 86.5 - 87.62, 85.0 - 82.54, 85.5 - 85.52, 87.5 - 86.80]
    assert f"Mean |Δ| over 7 figures: {sum(map(abs, diffs)) / 7:.2f}".replace("|", "\\|") in md
    tex = (tmp_path / "out" / "reported.tex").read_text()
    assert r"\begin{longtable}" in tex and r"$-$1.12" in tex


def test_reported_uses_the_authors_qa_protocol(small_params, small_runs, tmp_path):
    """Table 6 figures are compared with strict_authors etc. (fake: merged - 0.02), not the shown merged."""
    small_params["tables"]["reported"]["tables"] = ["table6"]
    stage.run(small_params, "reported", small_runs, tmp_path / "prepared", tmp_path / "out")
    rows = read_csv(tmp_path / "out" / "reported.csv")
    r = next(r for r in rows if r["model"] == "distilbert" and r["metric"] == "strict")
    assert r["ours_metric"] == "strict_authors"
    assert float(r["ours"]) == pytest.approx(100 * (SCORES["distilbert"]["bioasq"] - 0.02))
    assert r["ours_word_f1"] == ""
    md = (tmp_path / "out" / "reported.md").read_text()
    assert "(scoring: authors)" in md and "(scoring: merged)" not in md


def test_score_tables_name_the_protocol(small_params, small_runs, tmp_path):
    stage.run(small_params, "table6", small_runs, tmp_path / "prepared", tmp_path / "out")
    md = (tmp_path / "out" / "table6.md").read_text()
    assert "(scoring: merged)" in md and "(answer\\_cleanup: biobert)" in md and "(finetune select: last)" in md


def test_retention_arithmetic(small_params, small_runs, tmp_path):
    stage.run(small_params, "retention", small_runs, tmp_path / "prepared", tmp_path / "out")
    rows = read_csv(tmp_path / "out" / "retention.csv")
    by = {(r["source"], r["dataset"], r["metric"], r["model"]): r for r in rows}
    s = SCORES
    # ours as the paper measures: NER sub-word F1 (fake: f1 - 0.01), QA the authors' protocol (fake: - 0.02)
    ours_ncbi = 100 * (s["compactbiobert"]["ncbi"] - 0.01) / (s["biobert"]["ncbi"] - 0.01)
    assert float(by[("ours", "ncbi", "f1", "compactbiobert")]["retention"]) == pytest.approx(ours_ncbi, abs=1e-4)
    # QA: strict/lenient/mrr rows (the fake run sets lenient = strict + 0.1)
    lenient = 100 * (s["compactbiobert"]["bioasq"] + 0.08) / (s["biobert"]["bioasq"] + 0.08)
    assert float(by[("ours", "bioasq", "lenient", "compactbiobert")]["retention"]) == pytest.approx(lenient, abs=1e-4)
    # tinybiobert has no RE/QA run in the listed tables: not available, and left out of the means
    assert by[("ours", "gad", "f1", "tinybiobert")]["retention"] == ""
    tiny = [100 * (s["tinybiobert"][d] - 0.01) / (s["biobert"][d] - 0.01) for d in ("ncbi", "bc2gm")]
    assert float(by[("ours", "mean", "", "tinybiobert")]["retention"]) == pytest.approx(sum(tiny) / 2, abs=1e-4)
    compact = [100 * (s["compactbiobert"][d] - 0.01) / (s["biobert"][d] - 0.01) for d in ("ncbi", "bc2gm")] + [
        100 * s["compactbiobert"]["gad"] / s["biobert"]["gad"]] + [
        100 * (s["compactbiobert"]["bioasq"] + k) / (s["biobert"]["bioasq"] + k) for k in (-0.02, 0.08, 0.03)]
    all_mean = next(r for r in rows if r["source"] == "ours" and r["task"] == "all" and r["model"] == "compactbiobert")
    assert float(all_mean["retention"]) == pytest.approx(statistics.mean(compact), abs=1e-4)
    # paper panel: the transcribed figures, e.g. BC2GM CompactBioBERT 86.71 / BioBERT 87.62 and GAD TinyBioBERT
    assert float(by[("paper", "bc2gm", "f1", "compactbiobert")]["retention"]) == pytest.approx(100 * 86.71 / 87.62, abs=1e-4)
    assert float(by[("paper", "gad", "f1", "tinybiobert")]["retention"]) == pytest.approx(100 * 82.46 / 86.80, abs=1e-4)
    md = (tmp_path / "out" / "retention.md").read_text()
    assert "***Ours***" in md and "***Paper (reported figures)***" in md
    assert f"**{ours_ncbi:.2f}**" in md


def test_retention_of_paper_reproduces_the_headline(real_params, tmp_path):
    """The abstract's 98.8% / 98.6%: NER means of DistilBioBERT and BioDistilBERT over BioBERT."""
    from compactbio.report.retention import ratio
    ner = real_params["grid"]["ner"]
    means = {m: statistics.mean(ratio(lookup(m, d, "f1").value, lookup("biobert", d, "f1").value) for d in ner)
             for m in ("distilbiobert", "biodistilbert")}
    assert round(means["distilbiobert"], 1) == 98.8 and round(means["biodistilbert"], 1) == 98.6
    assert ratio(0.5, 0.0) is None and math.isclose(ratio(0.5, 0.25), 200.0)


def test_required_and_optional_inputs(small_params, tmp_path):
    req = stage.required_inputs(small_params, "table3", tmp_path / "runs", tmp_path / "prep")
    assert req == [tmp_path / "runs" / m / "ncbi" / "seed1" / f
                   for m in ("distilbert", "tinybiobert") for f in ("metrics.json", "per_example.jsonl")]
    assert stage.optional_inputs(small_params, "table3", tmp_path / "runs") == [
        tmp_path / "runs" / "biobert" / "ncbi" / "seed1" / f for f in ("metrics.json", "per_example.jsonl")]
    assert stage.optional_inputs(small_params, "table2", tmp_path / "runs") == []
    assert stage.required_inputs(small_params, "table1", tmp_path / "runs", tmp_path / "prep") == [
        tmp_path / "prep" / d / "meta.json" for d in ("ncbi", "gad", "bioasq")]
    ret = stage.required_inputs(small_params, "retention", tmp_path / "runs", tmp_path / "prep")
    assert all(p.name == "metrics.json" for p in ret) and len(ret) == len(set(ret))
    assert tmp_path / "runs" / "biobert" / "bioasq" / "seed1" / "metrics.json" in ret
    assert tmp_path / "runs" / "tinybiobert" / "gad" / "seed1" / "metrics.json" not in ret
