"""The demo, end to end: Snakemake builds every table from nothing, offline; DVC agrees afterwards."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from compactbio.workflow.graph import render_dvc_yaml

from workflow_tools import snakemake_jobs


def run(cmd, cwd, **env):
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **env})
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def demo(tmp_path_factory, request):
    from workflow_tools import ROOT, copy_workflow
    import yaml

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert raw["scale"] == "demo"
    wf = copy_workflow(tmp_path_factory.mktemp("demo") / "wf")
    (wf / "dvc.yaml").write_text(render_dvc_yaml(raw))
    run(["git", "init", "-q"], wf)
    run(["dvc", "init", "-q"], wf)
    run(["snakemake", "--cores", "2", "all_tables"], wf)
    return wf, raw


@pytest.mark.slow
def test_all_tables_are_built(demo):
    wf, raw = demo
    for t in [t for t in raw["tables"] if t != "style"]:
        for ext in ("tex", "md", "csv"):
            assert (wf / "results" / "tables" / f"{t}.{ext}").stat().st_size > 0
    assert "\\toprule" in (wf / "results/tables/table2.tex").read_text()


REFRESH = ("snakemake --cores 2 all_tables` at the repository root (the demo, in place), then commit "
           "results/tables/*.md and *.csv")


@pytest.mark.slow
def test_tables_equal_the_committed_reference(demo):
    """Every number of the demo is pinned: results/tables/*.md and *.csv in git are what the demo writes.
    A change of any score, from any cause, fails here; when it is intended, refresh the reference."""
    import difflib

    from workflow_tools import ROOT

    wf, raw = demo
    tables = [t for t in raw["tables"] if t != "style"]
    reference = ROOT / "results" / "tables"
    committed = sorted(p.name for p in reference.glob("*.md")) + sorted(p.name for p in reference.glob("*.csv"))
    assert committed == sorted(f"{t}.md" for t in tables) + sorted(f"{t}.csv" for t in tables), (
        f"results/tables/ holds {committed}; expected the .md and .csv of every table: run `{REFRESH}")
    changed = []
    for name in committed:
        want, got = (reference / name).read_text(), (wf / "results" / "tables" / name).read_text()
        if want != got:
            diff = difflib.unified_diff(want.splitlines(), got.splitlines(), f"committed/{name}", f"demo/{name}",
                                        n=0, lineterm="")
            changed.append("\n".join(list(diff)[:12]))
    assert not changed, ("the demo's tables differ from the committed reference:\n" + "\n".join(changed)
                         + f"\nIf the change is intended, run `{REFRESH}.")


@pytest.mark.slow
def test_every_model_beats_the_majority_baseline(demo):
    wf, raw = demo
    primary = {"ner": "f1", "re": "f1", "qa": "lenient"}
    weak = []
    for metrics in sorted((wf / "runs" / "finetune").rglob("metrics.json")):
        m = json.loads(metrics.read_text())
        key = primary[m["task"]]
        if not m["test"][key] > m["baseline"][key]:
            weak.append(f"{m['model']}/{m['dataset']}: {m['test'][key]:.3f} <= baseline {m['baseline'][key]:.3f}")
    assert not weak, "\n".join(weak)


@pytest.mark.slow
def test_rerun_is_a_no_op_and_dvc_commit_makes_status_clean(demo):
    wf, raw = demo
    assert snakemake_jobs(wf, "all_tables") == []
    # Record what all_tables built: the table stages and everything upstream of them.
    stages = [f"table.{t}" for t in raw["tables"] if t != "style"]
    run(["dvc", "commit", "-f", "-q", "--with-deps", *stages], wf)
    assert "Data and pipelines are up to date" in run(["dvc", "status", "--with-deps", *stages], wf)


@pytest.mark.slow
def test_single_table_target_after_a_change(demo):
    """`snakemake table1` rebuilds Table 1 alone after its styling changes."""
    wf, _ = demo
    planned = snakemake_jobs(wf, "table1", extra=("--forcerun", "table"))
    assert {j["rule"] for j in planned} == {"table"}
    run(["snakemake", "--cores", "1", "table1", "--forcerun", "table"], wf)
    assert (wf / "results/tables/table1.tex").exists()


@pytest.mark.slow
def test_efficiency_study_and_html_report(demo, tmp_path):
    """The efficiency figures and every table end up, captioned, in one self-contained HTML report."""
    import shutil
    import struct

    wf, raw = demo
    run(["snakemake", "--cores", "2", "efficiency_study"], wf)
    for name in ("efficiency/efficiency.png", "efficiency/efficiency.csv", "score_cost/score_cost.png"):
        assert (wf / "results" / name).stat().st_size > 0
    run(["snakemake", "--report", "results/report.html", "all_tables", "efficiency_study"], wf)
    html = (wf / "results/report.html").read_text(encoding="utf-8", errors="replace")
    for t in [t for t in raw["tables"] if t != "style"]:
        assert f"{t}.html" in html   # each table is a report item as HTML (workflow/rules/report.smk)
    assert "efficiency.png" in html and "Run parameters" in html

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("Chromium is not installed: report built but not screenshotted")
    shot = tmp_path / "report.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,900", "--virtual-time-budget=5000",
                    f"--screenshot={shot}", (wf / "results/report.html").as_uri()],
                   check=True, capture_output=True, timeout=120)
    header = shot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (1280, 900)
