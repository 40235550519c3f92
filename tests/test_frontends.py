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


def test_both_front_ends_list_the_cascade_jobs(tmp_path, raw_params, copy_workflow):
    """One cascade job per compact model x dataset x seed (BioBERT the fallback), then the summary,
    with the same commands, inputs and outputs in Snakemake and DVC; each reads both runs'
    per-example files (test and validation) and the efficiency study."""
    raw_params["cascade"]["models"] = ["tinybiobert", "biodistilbert"]
    wf = copy_workflow(tmp_path / "wf", raw_params)
    (wf / "dvc.yaml").write_text(render_dvc_yaml(raw_params))
    subprocess.run(["git", "init", "-q"], cwd=wf, check=True)
    subprocess.run(["dvc", "init", "-q"], cwd=wf, check=True)
    planned = snakemake_jobs(wf, "cascade_table", extra=("--forceall",))
    snake = [j for j in planned if j["rule"] in ("cascade", "cascade_table")]
    dvc = [j for j in dvc_jobs(wf) if j["name"].split(".")[0] in ("cascade", "cascade_table")]
    n_datasets = sum(len(raw_params["grid"][t]) for t in ("ner", "re", "qa"))
    assert len(snake) == len(dvc) == 2 * n_datasets * len(raw_params["grid"]["seeds"]) + 1
    assert normalise(snake) == normalise(dvc)
    [pair] = [j for j in snake if "--model tinybiobert --dataset gad " in j["cmd"]]
    runs = [f"runs/finetune/{m}/gad/seed42/{f}" for m in ("tinybiobert", "biobert")
            for f in ("metrics.json", "per_example.jsonl", "per_example_validation.jsonl")]
    assert sorted(pair["input"]) == sorted([*runs, "data/prepared/gad", "results/efficiency"])
    assert sorted(pair["output"]) == ["runs/cascade/tinybiobert/gad/seed42/cascade.csv",
                                      "runs/cascade/tinybiobert/gad/seed42/cascade.json"]
    # the target plans exactly the fine-tunes it reads and the efficiency study
    models = {j["cmd"].split()[5] for j in planned if j["rule"].startswith("finetune_")}
    assert models == {"tinybiobert", "biodistilbert", "biobert"}
    assert any(j["rule"] == "efficiency" for j in planned)
    # the job graph (dvc.yaml) holds the summary; Snakemake's `all` is compared with it in the full-grid test
    assert "results/cascade/cascade.png" in {o for j in jobs(raw_params) for o in j.outs}


def test_no_cascade_section_no_cascade_jobs(raw_params):
    del raw_params["cascade"]
    assert not [j for j in jobs(raw_params) if j.rule.startswith("cascade")]


def test_snakemake_config_overrides_are_refused_not_ignored(tmp_path, copy_workflow):
    """params.yaml is the only configuration: `--config scale=paper` would change nothing, so it stops."""
    wf = copy_workflow(tmp_path / "wf")
    proc = subprocess.run(["snakemake", "-n", "--cores", "1", "all", "--config", "scale=paper"], cwd=wf,
                          capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "--config/--configfile is not used (scale)" in out
    assert "params.yaml is the only configuration" in out and "dvc exp run -S scale=" in out


def test_every_dvc_stage_reads_params_through_its_values_file(raw_params, tmp_path):
    """One stage (graph.PARAMS_STAGE) reads params.yaml, declaring every section; each other stage depends
    on its own values file, whose text is that job's Snakemake params trigger (the same values)."""
    import json

    from compactbio.params import lookup, resolve
    from compactbio.workflow.graph import (PARAMS_STAGE, VALUES_DIR, dvc_name, dvc_stages, job_values,
                                           values_file, write_values)

    stages = dvc_stages(raw_params)["stages"]
    assert list(stages)[0] == PARAMS_STAGE and stages[PARAMS_STAGE]["params"] == list(raw_params)
    assert all("params" not in st for name, st in stages.items() if name != PARAMS_STAGE)
    res = resolve(raw_params)
    values = job_values(raw_params)
    for job in jobs(raw_params):
        name = dvc_name(job)
        assert stages[name]["deps"][0] == values_file(name)
        got = json.loads(values[values_file(name)])
        assert got == {k: lookup(res, k) for k in got}   # resolved values...
        assert set(got) >= {k for k in job.params if k != "rehearsal"}   # ...of every key the job reads
    assert write_values(raw_params, tmp_path) == len(values)
    assert write_values(raw_params, tmp_path) == 0   # unchanged files are not rewritten (nor rehashed)
    (tmp_path / VALUES_DIR / "gone.json").write_text("{}")
    assert write_values(raw_params, tmp_path) == 1 and not (tmp_path / VALUES_DIR / "gone.json").exists()


def test_dvc_yaml_check_names_the_fix(raw_params, tmp_path):
    """The params stage's command: a grid change makes dvc.yaml stale, and it says what to do, in one line."""
    import yaml

    (tmp_path / "dvc.yaml").write_text(render_dvc_yaml(raw_params))
    raw_params["grid"]["seeds"] = [42, 43]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw_params, sort_keys=False))
    proc = subprocess.run(["compactbio", "--params", "params.yaml", "dvc-yaml", "--check", "--values", "runs/params"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if "ERROR" in line]
    assert len(lines) == 1 and "dvc.yaml is stale for params.yaml" in lines[0]
    # 110 fine-tunes (10 models x 11 datasets) and 66 cascade pairs (6 compact models x 11 datasets)
    assert "176 stages to add: finetune_ner.biobert-ncbi-disease-43" in lines[0]
    assert "run `compactbio dvc-yaml`" in lines[0]
    assert not (tmp_path / "runs").exists()   # no values written for a stale dvc.yaml
