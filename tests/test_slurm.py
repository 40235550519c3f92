"""Cluster execution: the SLURM profile, the torchrun launcher, and a run on a real SLURM.

The fast tests check the launcher's decisions and the profile's resources.
The ``slurm`` tests need a running cluster (``scripts/slurm/start_cluster.sh``
starts a single-node one) and run only when ``COMPACTBIO_SLURM=1`` is set or
``sinfo`` answers: they build Table 1 of the demo through
``snakemake --profile slurm`` in a scratch copy of the workflow, with one job
made to fail on its first attempt, then record and push the outputs with DVC.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from compactbio import launch

from workflow_tools import ROOT, copy_workflow

PROFILE = ROOT / "profiles" / "slurm" / "config.yaml"
TRAINING_RULES = ("base_model", "distill", "continual", "finetune_ner", "finetune_re", "finetune_qa")
# Not training, but at paper size the efficiency study also times the GPU (params `efficiency.gpu`)
PAPER_GPU_RULES = ("efficiency",)


# ------------------------------------------------------------------ launcher
@pytest.mark.parametrize("env, expected", [
    ({}, 0),
    ({"CUDA_VISIBLE_DEVICES": "0,1,2,3"}, 4),
    ({"CUDA_VISIBLE_DEVICES": "2"}, 1),
    ({"CUDA_VISIBLE_DEVICES": ""}, 0),
    ({"CUDA_VISIBLE_DEVICES": "0,-1,2"}, 1),          # CUDA stops at the first invalid id
    ({"CUDA_VISIBLE_DEVICES": "NoDevFiles"}, 0),
    ({"SLURM_GPUS_ON_NODE": "3"}, 3),
    ({"CUDA_VISIBLE_DEVICES": "0,1", "SLURM_GPUS_ON_NODE": "4"}, 2),  # what CUDA will show wins
])
def test_visible_gpus(env, expected):
    assert launch.visible_gpus(env) == expected


def test_process_count_override_and_bad_values():
    assert launch.process_count({}) == 1
    assert launch.process_count({"CUDA_VISIBLE_DEVICES": "0,1"}) == 2
    assert launch.process_count({"CUDA_VISIBLE_DEVICES": "0,1", "COMPACTBIO_NPROC": "1"}) == 1
    with pytest.raises(ValueError, match="COMPACTBIO_NPROC"):
        launch.process_count({"COMPACTBIO_NPROC": "two"})
    with pytest.raises(ValueError, match="COMPACTBIO_NPROC"):
        launch.process_count({"COMPACTBIO_NPROC": "0"})
    with pytest.raises(ValueError, match="SLURM_GPUS_ON_NODE"):
        launch.visible_gpus({"SLURM_GPUS_ON_NODE": "a100:2"})


def test_rank_log():
    assert launch.rank_log("logs/distill/x.log", {}) == "logs/distill/x.log"
    assert launch.rank_log("logs/distill/x.log", {"RANK": "0"}) == "logs/distill/x.log"
    assert launch.rank_log("logs/distill/x.log", {"RANK": "3"}) == "logs/distill/x.log.rank3"
    assert launch.rank_log(None, {"RANK": "3"}) is None


ARGV = ["--log", "logs/distill/s.log", "distill", "--model", "s", "--teacher", "models/t",
        "--corpus", "data/tokenized/t/pubmed", "--out", "models/s"]


def test_multi_gpu_pretraining_stage_reexecs_under_torchrun(monkeypatch):
    calls = []
    monkeypatch.setattr(launch.os, "execv", lambda path, cmd: calls.append((path, cmd)) or (_ for _ in ()).throw(SystemExit(0)))
    with pytest.raises(SystemExit):
        launch.torchrun_if_multi_gpu("distill", "logs/distill/s.log", ARGV, {"CUDA_VISIBLE_DEVICES": "0,1,2,3"})
    (path, cmd), = calls
    assert path == sys.executable
    assert cmd == [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=4",
                   "-m", "compactbio.cli", *ARGV]


@pytest.mark.parametrize("stage, env", [
    ("distill", {"CUDA_VISIBLE_DEVICES": "0"}),                                   # one GPU: one process
    ("distill", {}),                                                              # CPU
    ("finetune", {"CUDA_VISIBLE_DEVICES": "0,1"}),                                # not a DDP stage
    ("continual", {"CUDA_VISIBLE_DEVICES": "0,1", "LOCAL_RANK": "0", "RANK": "0"}),  # already a worker
])
def test_no_relaunch(monkeypatch, stage, env):
    monkeypatch.setattr(launch.os, "execv", lambda *a: pytest.fail(f"execv {a}"))
    assert launch.torchrun_if_multi_gpu(stage, "x.log", ARGV, env) == "x.log"


def test_worker_gets_its_own_log(monkeypatch):
    monkeypatch.setattr(launch.os, "execv", lambda *a: pytest.fail(f"execv {a}"))
    env = {"CUDA_VISIBLE_DEVICES": "0,1", "LOCAL_RANK": "1", "RANK": "1", "TORCHELASTIC_RUN_ID": "x"}
    assert launch.torchrun_if_multi_gpu("base-model", "x.log", ARGV, env) == "x.log.rank1"


def test_torchrun_command_starts_n_workers(tmp_path):
    """The exact command the launcher execs runs `compactbio.cli` once per rank (gloo on CPU)."""
    cmd = launch.torchrun_command(["--params", str(ROOT / "params.yaml"), "check-params"], 2)
    env = {**os.environ, "COMPACTBIO_NPROC": "2"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("is valid (scale: demo)") == 2, proc.stderr[-3000:]


# ------------------------------------------------------------------ profile
def render_profile(scale: str, tmp_path: Path, **env) -> dict:
    import yte

    (tmp_path / "params.yaml").write_text(f"scale: {scale}\n")
    old_cwd, old_env = Path.cwd(), dict(os.environ)
    try:
        os.chdir(tmp_path)
        os.environ.update(env)
        with open(PROFILE) as f:
            return yte.process_yaml(f, require_use_yte=True)
    finally:
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(old_env)


def test_profile_resources_per_scale(tmp_path, monkeypatch):
    for var in ("COMPACTBIO_SLURM_PARTITION", "COMPACTBIO_SLURM_GPU_PARTITION", "COMPACTBIO_SLURM_ACCOUNT",
                "COMPACTBIO_SLURM_PRETRAIN_GPUS"):
        monkeypatch.delenv(var, raising=False)
    demo = render_profile("demo", tmp_path)
    paper = render_profile("paper", tmp_path)
    for prof in (demo, paper):
        assert prof["executor"] == "slurm"
        assert prof["slurm-status-command"] == "squeue" and prof["slurm-requeue"] is True
        assert prof["retries"] >= 1 and prof["show-failed-logs"] is True
        assert "slurm_partition" not in prof["default-resources"]
        assert "slurm_account" not in prof["default-resources"]
        for rule in TRAINING_RULES:
            assert prof["set-resources"][rule]["gpu"] >= 1, rule
        for rule in ("fetch", "prepare", "tokenizer", "tokenize", "table"):
            assert "gpu" not in prof["set-resources"][rule], rule
        for rule, res in prof["set-resources"].items():
            assert re.fullmatch(r"\d+ \* attempt", res["runtime"]), (rule, res["runtime"])
    assert paper["set-resources"]["distill"]["gpu"] == 4 and demo["set-resources"]["distill"]["gpu"] == 1
    assert paper["set-resources"]["distill"]["mem_mb"] > demo["set-resources"]["distill"]["mem_mb"]

    site = render_profile("paper", tmp_path, COMPACTBIO_SLURM_PARTITION="cpu", COMPACTBIO_SLURM_GPU_PARTITION="gpu",
                          COMPACTBIO_SLURM_ACCOUNT="proj1", COMPACTBIO_SLURM_PRETRAIN_GPUS="8")
    assert site["default-resources"]["slurm_partition"] == "'cpu'"
    assert site["default-resources"]["slurm_account"] == "'proj1'"
    assert site["set-resources"]["continual"]["slurm_partition"] == "'gpu'"
    assert site["set-resources"]["continual"]["gpu"] == 8
    assert "slurm_partition" not in site["set-resources"]["table"]      # CPU jobs use the default one


def local_rules() -> set[str]:
    """Rule names under every `localrules:` directive of the workflow."""
    names = set()
    for smk in [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]:
        for block in re.findall(r"^localrules:\s*\n((?:[ \t]+\w+,?[ \t]*\n)+)", smk.read_text(), re.M):
            names |= {n.strip(" \t,") for n in block.splitlines() if n.strip()}
    return names


def job_rules(scale: str) -> set[str]:
    """Every rule that makes jobs (the graph both front ends run), at this scale."""
    from compactbio.params import resolve
    from compactbio.workflow.graph import jobs

    return {j.rule for j in jobs(resolve(yaml.safe_load((ROOT / "params.yaml").read_text()), scale))}


def test_downloads_are_local_rules():
    assert {"fetch", "prefetch"} <= local_rules()
    assert not local_rules() & set(TRAINING_RULES)


@pytest.mark.parametrize("scale", ["demo", "paper"])
def test_every_submitted_rule_has_explicit_resources(scale, tmp_path, monkeypatch):
    monkeypatch.delenv("COMPACTBIO_SLURM_PRETRAIN_GPUS", raising=False)
    res = render_profile(scale, tmp_path)["set-resources"]
    submitted = job_rules(scale) - local_rules()
    assert {"task_teacher", "task_student", "task_table", "efficiency", "score_cost"} <= submitted
    for rule in submitted:
        assert rule in res, f"{rule} would get the default resources"
        assert {"runtime", "mem_mb"} <= set(res[rule]), (rule, res[rule])
    assert set(res) <= job_rules(scale) | local_rules(), set(res) - job_rules(scale)   # no stale names
    for rule, r in res.items():
        if "gpu" in r:   # --gpus is per job: without --nodes=1 SLURM may spread them over nodes
            assert r["nodes"] == 1, rule
            assert r.get("cpus_per_task", 1) >= 2, rule


def test_paper_resources_for_task_distillation_and_efficiency(tmp_path, monkeypatch):
    monkeypatch.delenv("COMPACTBIO_SLURM_GPU_PARTITION", raising=False)
    monkeypatch.delenv("COMPACTBIO_SLURM_PARTITION", raising=False)
    demo, paper = (render_profile(s, tmp_path)["set-resources"] for s in ("demo", "paper"))
    teacher = paper["task_teacher"]          # 80 epochs of BERT-base on BC2GM
    assert teacher["gpu"] == 1 and int(teacher["runtime"].split()[0]) >= 4 * 60
    assert paper["task_student"]["gpu"] == 1
    assert "gpu" not in paper["task_table"] and "gpu" not in paper["score_cost"]
    # efficiency: GPU timings at paper size only; the demo's tiny stand-ins stay off the GPU queue
    assert paper["efficiency"]["gpu"] == 1 and "gpu" not in demo["efficiency"]
    assert paper["efficiency"]["cpus_per_task"] >= 2          # the 1-thread timing gets a core to itself
    site = render_profile("paper", tmp_path, COMPACTBIO_SLURM_GPU_PARTITION="gpu")["set-resources"]
    for rule in ("task_teacher", "task_student", "efficiency"):
        assert site[rule]["slurm_partition"] == "'gpu'", rule


def test_multi_gpu_rules_ask_for_one_node(tmp_path, monkeypatch):
    res = render_profile("paper", tmp_path, COMPACTBIO_SLURM_PRETRAIN_GPUS="8")["set-resources"]
    for rule in ("distill", "continual"):
        assert res[rule]["gpu"] == 8 and res[rule]["nodes"] == 1, res[rule]


def test_sbatch_call_carries_one_node(tmp_path, monkeypatch):
    """The executor plugin turns `nodes: 1` into `--nodes=1` next to the GPUs (its own submit-string code)."""
    from types import SimpleNamespace

    from snakemake_executor_plugin_slurm.submit_string import get_submit_command

    res = render_profile("paper", tmp_path, COMPACTBIO_SLURM_PRETRAIN_GPUS="4")["set-resources"]["distill"]

    class Resources(dict):
        __getattr__ = dict.get

    resources = Resources(res, runtime=1440)
    job = SimpleNamespace(resources=resources, threads=1, is_group=lambda: False, name="distill", wildcards={})
    params = dict(run_uuid="u", slurm_logfile="l", comment_str="c", account="", partition="", workdir=".")
    cmd = get_submit_command(job, params)
    assert " --nodes=1" in cmd, cmd


def test_fetch_runs_on_the_login_node_under_the_slurm_profile(tmp_path):
    """`snakemake --profile slurm prefetch`: every job runs locally; sbatch is never called."""
    wf = scratch_workflow(tmp_path / "wf", "demo")
    fake = tmp_path / "bin"
    fake.mkdir()
    calls = tmp_path / "slurm-calls.txt"
    for tool in ("sbatch", "squeue", "sacct", "sinfo", "scontrol", "sacctmgr", "sshare", "srun", "scancel"):
        (fake / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> "{calls}"\nexit 1\n')
        (fake / tool).chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}{os.pathsep}{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}",
           "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--profile", "slurm", "prefetch",
                           "--slurm-init-seconds-before-status-checks", "1"], cwd=wf, env=env,
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert out.count("localrule fetch:") == 3 and "localrule prefetch:" in out, out[-4000:]
    assert not re.search(r"^rule ", out, re.M), out[-4000:]
    assert "sbatch" not in (calls.read_text() if calls.exists() else "")
    for source in ("biobert", "chemprot", "pubmed"):
        assert (wf / "data/raw" / source).is_dir(), source


def test_slurm_link_at_the_root():
    assert (ROOT / "slurm").is_symlink() and (ROOT / "slurm").resolve() == PROFILE.parent.resolve()
    assert yaml.safe_load((ROOT / "profiles" / "local" / "config.yaml").read_text())["cores"]


def scratch_workflow(dest: Path, scale: str) -> Path:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["scale"] = scale
    wf = copy_workflow(dest, raw)
    shutil.copytree(ROOT / "profiles", wf / "profiles")
    (wf / "slurm").symlink_to("profiles/slurm")
    return wf


JOB_HEADER = re.compile(r"^(?:local)?rule (\S+):$")


def dry_run_resources(wf: Path, target: str) -> dict[str, list[dict]]:
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--profile", "slurm", "-n", target], cwd=wf,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out, rule = {}, None
    for line in (proc.stdout + proc.stderr).splitlines():
        m = JOB_HEADER.match(line.strip())
        if m:
            rule = m.group(1)
        elif rule and line.startswith("    resources: "):
            res = dict(item.split("=", 1) for item in line.split(": ", 1)[1].split(", "))
            out.setdefault(rule, []).append(res)
    return out


@pytest.mark.slow
def test_paper_dry_run_plans_gpus_for_training(tmp_path):
    """`snakemake --profile slurm -n all_tables` at paper scale: GPUs on every training job, none elsewhere."""
    plan = dry_run_resources(scratch_workflow(tmp_path / "wf", "paper"), "all_tables")
    assert set(TRAINING_RULES) <= set(plan)
    for rule, jobs in plan.items():
        for res in jobs:
            assert int(res["runtime"]) > 0 and int(res["mem_mb"]) > 0 and int(res["cpus_per_task"]) >= 1
            if rule in TRAINING_RULES + PAPER_GPU_RULES:
                assert int(res["gpu"]) >= 1, (rule, res)
            else:
                assert "gpu" not in res, (rule, res)
    assert {int(r["gpu"]) for r in plan["efficiency"]} == {1}   # one card timed, alone on it
    assert {int(r["gpu"]) for r in plan["distill"] + plan["continual"]} == {4}
    assert {int(r["gpu"]) for r in plan["finetune_ner"]} == {1}
    assert int(plan["distill"][0]["runtime"]) >= 24 * 60


# ------------------------------------------------------------------ a real SLURM
def slurm_available() -> bool:
    if os.environ.get("COMPACTBIO_SLURM") == "1":
        return True
    if not shutil.which("sinfo"):
        return False
    try:
        return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=10).returncode == 0
    except subprocess.TimeoutExpired:
        return False


slurm = pytest.mark.skipif(not slurm_available(), reason="no SLURM cluster (set COMPACTBIO_SLURM=1 or start one "
                                                       "with scripts/slurm/start_cluster.sh)")

FAIL_ONCE = "prepare --dataset gad "
SHIM = """#!/bin/sh
# Test stand-in for `compactbio`: the first run of one job fails (and says so in
# its rule log); every other run is the real command.
case "$*" in
  *"{match}"*)
    if [ ! -e "{marker}" ]; then
      : > "{marker}"
      mkdir -p logs/prepare && echo "INJECTED FAILURE (attempt 1)" > logs/prepare/gad.log
      echo "INJECTED FAILURE" >&2
      exit 3
    fi;;
esac
exec "{real}" "$@"
"""


def run(cmd, cwd, env=None, timeout=900):
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}"
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory):
    from compactbio.workflow.graph import render_dvc_yaml

    assert subprocess.run(["sinfo", "-h"], capture_output=True).returncode == 0, "COMPACTBIO_SLURM=1 but sinfo fails"
    wf = scratch_workflow(tmp_path_factory.mktemp("slurm") / "wf", "demo")
    (wf / "dvc.yaml").write_text(render_dvc_yaml(yaml.safe_load((wf / "params.yaml").read_text())))
    real = shutil.which("compactbio", path=os.path.dirname(sys.executable)) or shutil.which("compactbio")
    (wf / "bin").mkdir()
    shim = wf / "bin" / "compactbio"
    shim.write_text(SHIM.format(match=FAIL_ONCE, marker=wf / "failed-once", real=real))
    shim.chmod(0o755)
    # Snakemake is started with this interpreter directly (not a `snakemake` wrapper that may put its
    # own bin folder first on PATH), so the jobs, which inherit the environment, find the shim.
    env = {**os.environ, "PATH": f"{wf / 'bin'}{os.pathsep}{os.environ['PATH']}",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    run(["git", "init", "-q"], wf)
    run(["dvc", "init", "-q"], wf)
    out = run([sys.executable, "-m", "snakemake", "--profile", "slurm", "table1",
               "--slurm-init-seconds-before-status-checks", "2"], wf, env)
    (wf / "snakemake.out").write_text(out)
    return wf, out


@slurm
@pytest.mark.slurm
@pytest.mark.slow
def test_table1_through_slurm_with_a_retried_failure(cluster_run):
    wf, out = cluster_run
    for ext in ("tex", "md", "csv"):
        assert (wf / "results" / "tables" / f"table1.{ext}").stat().st_size > 0
    assert "GAD" in (wf / "results/tables/table1.md").read_text()
    assert (wf / "failed-once").exists()                    # the failure was injected ...
    assert "Trying to restart job" in out                   # ... Snakemake resubmitted the job ...
    assert "INJECTED FAILURE (attempt 1)" in out            # ... after showing the failed job's log
    assert (wf / "data/prepared/gad/meta.json").is_file()   # ... and the retry built the output
    # one SLURM job per attempt, each with its own log under logs/slurm/rule_<rule>/<wildcards>/
    gad_logs = sorted((wf / "logs/slurm/rule_prepare/gad").glob("*.log"))
    assert len(gad_logs) == 2, gad_logs
    runtimes = [int(m) for m in re.findall(r"wildcards: dataset=gad\n    resources: .*?runtime=(\d+)", out)]
    # runtime scales with the attempt (the failed job's own log, echoed in between, repeats attempt 1's)
    assert runtimes[0] == 10 and runtimes[-1] == 20 and set(runtimes) == {10, 20}, runtimes
    for ds in ("ncbi-disease", "chemprot", "bioasq7b"):
        assert list((wf / "logs/slurm/rule_prepare" / ds).glob("*.log")), ds
        assert (wf / "logs/prepare" / f"{ds}.log").stat().st_size > 0


@slurm
@pytest.mark.slurm
@pytest.mark.slow
def test_dvc_commit_and_push_after_the_cluster_run(cluster_run, tmp_path):
    wf, _ = cluster_run
    targets = ["table.table1", "--with-deps"]
    run(["dvc", "commit", "-f", "-q", *targets], wf)
    assert "up to date" in run(["dvc", "status", *targets], wf)
    remote = tmp_path / "remote"
    run(["dvc", "remote", "add", "-d", "local", str(remote)], wf)
    run(["dvc", "push", "-q", *targets], wf)
    # every cached output (data/raw/*, data/prepared/*) is in the remote, addressed by its md5
    lock = yaml.safe_load((wf / "dvc.lock").read_text())
    md5s = [o["md5"] for name, st in lock["stages"].items() if name.split(".")[0] in ("fetch", "prepare")
            for o in st.get("outs", [])]
    assert len(md5s) >= 13
    for md5 in md5s:
        h = md5.removesuffix(".dir")
        assert (remote / "files" / "md5" / h[:2] / (h[2:] + (".dir" if md5.endswith(".dir") else ""))).is_file(), md5
    # and a pulled copy matches: one prepared file, byte for byte through the remote's cache
    some = next((wf / "data/prepared/gad").glob("*.jsonl"))
    digest = hashlib.md5(some.read_bytes()).hexdigest()
    assert (remote / "files" / "md5" / digest[:2] / digest[2:]).read_bytes() == some.read_bytes()
