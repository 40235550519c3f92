"""finetune.common.keep_model: both front ends declare the kept model folder exactly when it is on."""

from __future__ import annotations

import subprocess

import pytest

from compactbio.workflow.graph import finetune_outputs, jobs, keeps_models, render_dvc_yaml

from workflow_tools import dvc_jobs, normalise, snakemake_jobs

RUN = "runs/finetune/biobert/ncbi-disease/seed42"


def finetune_job(found, cmd_part="--model biobert --dataset ncbi-disease --seed 42"):
    [job] = [j for j in found if cmd_part in j["cmd"] and j["cmd"].split()[3] == "finetune"]
    return job


@pytest.mark.slow
@pytest.mark.parametrize("keep", [False, True, {"demo": False, "paper": True}])
def test_both_front_ends_declare_the_kept_model_folder(tmp_path, raw_params, copy_workflow, keep):
    raw_params["finetune"]["common"]["keep_model"] = keep
    on = keeps_models(raw_params)
    assert on is (keep is True)   # the scale is demo: a scaled pair picks demo's value
    wf = copy_workflow(tmp_path / "wf", raw_params)
    (wf / "dvc.yaml").write_text(render_dvc_yaml(raw_params))
    subprocess.run(["git", "init", "-q"], cwd=wf, check=True)
    subprocess.run(["dvc", "init", "-q"], cwd=wf, check=True)
    snake = finetune_job(snakemake_jobs(wf, f"{RUN}/metrics.json", extra=("--forceall",)))
    dvc = finetune_job(dvc_jobs(wf))
    assert normalise([snake]) == normalise([dvc])
    assert (f"{RUN}/model" in snake["output"]) is on
    assert ("model" in finetune_outputs(raw_params, "biobert", "ncbi-disease", 42)) is on
    [job] = [j for j in jobs(raw_params) if j.name == "finetune_ner@biobert-ncbi-disease-42"]
    assert (f"{RUN}/model" in job.outs) is on
