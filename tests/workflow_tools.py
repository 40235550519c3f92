"""Helpers for the workflow tests: scratch copies of the workflow; the jobs Snakemake and DVC would run.

A plain module (not conftest) so that tests in sub-folders with conftests of
their own import it unambiguously.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ["Snakefile", "workflow", "params.yaml"]


def copy_workflow(dest: Path, params: dict | None = None) -> Path:
    """A scratch checkout of the workflow (no data), optionally with other params."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    if params is not None:
        (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return dest


JOB_HEADER = re.compile(r"^(?:local)?rule (\S+):$")


def snakemake_jobs(workdir: Path, *targets: str, extra: tuple[str, ...] = ()) -> list[dict]:
    """Parse ``snakemake -n -p`` into jobs: rule, inputs, outputs, shell command."""
    # Targets first: options such as --forcerun take a list and would swallow them.
    proc = subprocess.run(["snakemake", "-n", "-p", "--cores", "1", *targets, *extra], cwd=workdir,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(proc.stdout + proc.stderr)
    jobs, job = [], None
    for line in proc.stdout.splitlines():
        m = JOB_HEADER.match(line.strip())
        if m:
            job = {"rule": m.group(1), "input": [], "output": [], "cmd": None}
            jobs.append(job)
        elif job is not None and line.startswith("    input: "):
            job["input"] = line.split(": ", 1)[1].split(", ")
        elif job is not None and line.startswith("    output: "):
            job["output"] = line.split(": ", 1)[1].split(", ")
        elif job is not None and line.startswith("Shell command: "):
            job["cmd"] = line.split(": ", 1)[1].strip()
    return [j for j in jobs if j["cmd"] and j["cmd"] != "None"]


def dvc_jobs(workdir: Path) -> list[dict]:
    """Stages of dvc.yaml as jobs: name, path deps, all outputs (incl. metrics/plots), command.

    The params stage (graph.PARAMS_STAGE, DVC's reader of params.yaml) and every stage's
    dependency on its values file are left out: Snakemake reads the same values directly.
    """
    from dvc.repo import Repo

    from compactbio.workflow.graph import PARAMS_STAGE, values_file

    with Repo(str(workdir)) as repo:
        out = []
        for stage in repo.index.stages:
            if stage.name == PARAMS_STAGE:
                continue
            deps = [d.def_path for d in stage.deps if d.def_path != values_file(stage.name)]
            outs = [o.def_path for o in stage.outs]
            out.append({"name": stage.name, "cmd": stage.cmd, "input": deps, "output": outs})
        return out


def normalise(jobs: list[dict]) -> set[tuple]:
    return {(j["cmd"], tuple(sorted(j["input"])), tuple(sorted(j["output"]))) for j in jobs}
