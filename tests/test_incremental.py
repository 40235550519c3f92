"""Changing one hyperparameter reruns exactly the jobs that depend on it, in both front ends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from compactbio.workflow.graph import jobs, render_dvc_yaml

from workflow_tools import snakemake_jobs

HERE = Path(__file__).resolve().parent


def small_grid(raw: dict) -> dict:
    """The paper grid cut down so DVC's per-stage overhead stays small; same structure."""
    raw["grid"].update(models=["biobert", "distilbert", "distilbiobert", "tinybiobert", "biodistilbert"],
                       ner=["ncbi-disease", "bc2gm"], re=["gad"], qa=["bioasq7b"], seeds=[1])
    keep = set(raw["grid"]["models"])
    for t, cfg in raw["tables"].items():
        if t == "style":
            continue
        if "models" in cfg:
            cfg["models"] = [m for m in cfg["models"] if m in keep]
        if "datasets" in cfg:
            cfg["datasets"] = [d for d in cfg["datasets"] if d in {*raw["grid"]["ner"], "gad", "bioasq7b"}]
    raw["pretrain"]["distill"].pop("compactbiobert")
    raw["pretrain"]["continual"] = {"biodistilbert": raw["pretrain"]["continual"]["biodistilbert"]}
    raw["pretrain"]["base"].pop("mobilebert")
    raw["pretrain"]["base"].pop("tinybert")
    for m in ("compactbiobert", "biotinybert", "biomobilebert", "mobilebert", "tinybert"):
        raw["models"].pop(m)
        for task in ("ner", "re", "qa"):   # an override of a model that does not exist is a params error
            raw["finetune"][task].get("learning_rate_by_model", {}).pop(m, None)
    raw["tables"] = {k: v for k, v in raw["tables"].items() if k not in ("table3", "table5", "table7")}
    for cfg in raw["tables"].values():
        if "tables" in cfg:
            cfg["tables"] = [t for t in cfg["tables"] if t in raw["tables"]]
    return raw


def run(cmd, cwd, env):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A workflow copy, fully 'built' by Snakemake with the stand-in CLI, then `dvc commit`ted."""
    from workflow_tools import copy_workflow

    raw = small_grid(yaml.safe_load((HERE.parent / "params.yaml").read_text()))
    wf = copy_workflow(tmp_path_factory.mktemp("inc") / "wf", raw)
    (wf / "dvc.yaml").write_text(render_dvc_yaml(raw))
    bindir = wf / ".bin"
    bindir.mkdir()
    (bindir / "compactbio").write_text(f"#!/bin/sh\nexec {sys.executable} {HERE / 'fake_compactbio.py'} \"$@\"\n")
    (bindir / "compactbio").chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"], ["snakemake", "--cores", "2", "all"],
                ["dvc", "commit", "-f", "-q"]):
        run(cmd, wf, env)
    assert "up to date" in run(["dvc", "status"], wf, env)
    assert snakemake_jobs(wf, "all") == []
    return wf, env


def planned(wf, env, edit):
    """Jobs each front end would rerun after ``edit(params)``; params restored afterwards."""
    path = wf / "params.yaml"
    original = path.read_text()
    raw = yaml.safe_load(original)
    edit(raw)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    try:
        # Name Snakemake's jobs as DVC's stages by their (identical) command.
        names = {j.cmd: j.name.replace("@", ".") for j in jobs(raw)}
        snake_names = {names[j["cmd"]] for j in snakemake_jobs(wf, "all")}
        # --force-downstream: a rerun stage produces new outputs, so everything below it is stale too.
        out = run(["dvc", "repro", "--dry", "--force-downstream"], wf, env)
        dvc_names = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}
    finally:
        path.write_text(original)
    assert snake_names
    return snake_names, dvc_names


@pytest.mark.slow
def test_ner_learning_rate_reruns_ner_finetunes_and_their_tables(built):
    wf, env = built
    snake, dvc = planned(wf, env, lambda p: p["finetune"]["ner"].__setitem__("learning_rate", 1e-4))
    ner = {f"finetune_ner.{m}-{d}-1" for m in ["biobert", "distilbert", "distilbiobert", "tinybiobert", "biodistilbert"]
           for d in ["ncbi-disease", "bc2gm"]}
    expected = ner | {"table.table2", "table.reported", "table.retention", "score_cost"}
    assert snake == expected
    assert dvc == expected


@pytest.mark.slow
def test_table_style_reruns_only_tables(built):
    wf, env = built
    snake, dvc = planned(wf, env, lambda p: p["tables"]["style"].__setitem__("decimals", 1))
    expected = {"table.table1", "table.table2", "table.table4", "table.table6", "table.reported", "table.retention",
                "task_table"}
    assert snake == expected
    assert dvc == expected


@pytest.mark.slow
def test_distill_steps_rerun_that_student_its_finetunes_and_tables(built):
    wf, env = built
    snake, dvc = planned(wf, env, lambda p: p["pretrain"]["distill"]["tinybiobert"]["train"].__setitem__("steps", 7))
    finetunes = {f"finetune_{t}.tinybiobert-{d}-1" for t, ds in
                 {"ner": ["ncbi-disease", "bc2gm"], "re": ["gad"], "qa": ["bioasq7b"]}.items() for d in ds}
    expected = {"distill.tinybiobert"} | finetunes | {"table.table2", "table.table4", "table.table6",
                                                      "table.reported", "table.retention", "score_cost"}
    assert snake == expected
    assert dvc == expected
