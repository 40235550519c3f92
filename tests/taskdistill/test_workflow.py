"""Snakemake's task-distillation jobs are exactly compactbio.taskdistill.jobs (what dvc.yaml gets)."""

from __future__ import annotations

import copy

import pytest

from compactbio.taskdistill import jobs

from workflow_tools import normalise, snakemake_jobs  # noqa: E402  (tests/ is on sys.path)


@pytest.mark.slow
@pytest.mark.parametrize("init", [None, "tinybiobert"])
def test_snakemake_plans_the_same_task_distill_jobs(tmp_path, raw_params, copy_workflow, init):
    """The rules spell their commands out; jobs.py builds them for dvc.yaml: both must agree.

    With ``init`` the TinyBERT students start from a grid model, which adds ``--init``.
    """
    raw_params = copy.deepcopy(raw_params)
    raw_params["task_distill"]["models"]["tinybert"]["init"] = init
    wf = copy_workflow(tmp_path / "wf", raw_params)
    planned = [j for j in snakemake_jobs(wf, "task_distill_table", extra=("--forceall",))
               if j["rule"].startswith("task_")]
    ours = [{"cmd": j.cmd, "input": j.deps, "output": j.outs} for j in jobs.jobs(raw_params)]
    assert len(planned) == len(ours) == 2 + len(jobs.student_runs(raw_params))
    assert normalise(planned) == normalise(ours)
    assert any(" --init models/" in j["cmd"] for j in planned) == bool(init)
