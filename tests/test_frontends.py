"""Snakemake and DVC list the same jobs, commands, inputs and outputs."""

from __future__ import annotations

import subprocess

import pytest

from compactbio.workflow.graph import jobs, render_dvc_yaml

from workflow_tools import dvc_jobs, normalise, snakemake_jobs  # noqa: E402  (tests/ is on sys.path)


@pytest.fixture
def paper_workflow(tmp_path, raw_params, copy_workflow):
    raw_params["scale"] = "paper"
    wf = copy_workflow(tmp_path / "wf", raw_params)
    (wf / "dvc.yaml").write_text(render_dvc_yaml(raw_params))
    subprocess.run(["git", "init", "-q"], cwd=wf, check=True)
    subprocess.run(["dvc", "init", "-q"], cwd=wf, check=True)
    return wf, raw_params


@pytest.mark.slow
def test_same_jobs_for_the_full_paper_grid(paper_workflow):
    wf, raw = paper_workflow
    snake = snakemake_jobs(wf, "all", extra=("--forceall",))
    dvc = dvc_jobs(wf)
    assert len(snake) == len(dvc) == len(jobs(raw))
    assert normalise(snake) == normalise(dvc)
    # Every paper grid cell is fine-tuned: 10 models x 11 datasets x seeds.
    n_finetune = sum(j["rule"].startswith("finetune_") for j in snake)
    assert n_finetune == len(raw["grid"]["models"]) * 11 * len(raw["grid"]["seeds"])


def test_table_target_builds_only_what_it_needs(root):
    """`snakemake table4` plans the RE fine-tunes of Table 4's models, nothing of NER or QA."""
    planned = snakemake_jobs(root, "table4", extra=("--forceall",))
    finetunes = {tuple(j["cmd"].split()[5:8:2]) for j in planned if j["rule"].startswith("finetune_")}
    assert {f[1] for f in finetunes} == {"gad", "chemprot"}
    assert {f[0] for f in finetunes} == {"distilbert", "distilbiobert", "compactbiobert", "tinybiobert", "biobert"}
    assert not any(j["rule"] == "continual" for j in planned)
