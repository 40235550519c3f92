"""Snakemake's task-distillation jobs are exactly compactbio.taskdistill.jobs (what dvc.yaml gets)."""

from __future__ import annotations

import pytest
import yaml

from compactbio.taskdistill import jobs

from workflow_tools import normalise, snakemake_jobs  # noqa: E402  (tests/ is on sys.path)


@pytest.mark.slow
def test_snakemake_plans_the_same_task_distill_jobs(tmp_path, root, raw_params, copy_workflow):
    schema = yaml.safe_load((root / "workflow" / "schemas" / "params.schema.yaml").read_text())
    if "task_distill" not in raw_params or "task_distill" not in schema.get("properties", {}):
        pytest.skip("params.yaml / its schema have no task_distill section yet")
    wf = copy_workflow(tmp_path / "wf", raw_params)
    snakefile = wf / "Snakefile"
    if "task_distill.smk" not in snakefile.read_text():
        snakefile.write_text(snakefile.read_text() + '\ninclude: "workflow/rules/task_distill.smk"\n')
    planned = [j for j in snakemake_jobs(wf, "task_distill_table", extra=("--forceall",))
               if j["rule"].startswith("task_")]
    ours = [{"cmd": j.cmd, "input": j.deps, "output": j.outs} for j in jobs.jobs(raw_params)]
    assert len(planned) == len(ours) == 2 + len(jobs.student_runs(raw_params))
    assert normalise(planned) == normalise(ours)
