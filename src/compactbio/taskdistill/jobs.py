"""The study's jobs, paths and rerun keys, derived from params.yaml (like :mod:`compactbio.workflow.graph`).

``workflow/rules/task_distill.smk`` asks this module for its inputs and
params triggers; :func:`jobs` returns the same jobs as
:class:`compactbio.workflow.layout.Job` records so ``graph.jobs`` can append
them and dvc.yaml lists exactly what Snakemake runs.
"""

from __future__ import annotations

import json

from ..params import lookup, resolve
from ..workflow import layout
from .common import run_name

RUNS = "runs/task_distill"
TABLE = "task_distill"


def settings(raw: dict) -> dict:
    return raw["task_distill"]


def runs_dir(raw: dict) -> str:
    return f"{RUNS}/{settings(raw)['dataset']}"


def teacher_dir(raw: dict) -> str:
    return f"{runs_dir(raw)}/teacher"


def student_dir(raw: dict, student: str, distill: bool, n: int) -> str:
    return f"{runs_dir(raw)}/{run_name(student, distill, n)}"


def student_runs(raw: dict) -> list[tuple[str, bool, int]]:
    td = settings(raw)
    return [(s, bool(d), int(n)) for s in td["students"] for d in td["distill"] for n in td["augment_sizes"]]


def table_files() -> list[str]:
    return [layout.table_file(TABLE, ext) for ext in layout.TABLE_FORMATS]


def teacher_inputs(raw: dict) -> dict[str, str]:
    td = settings(raw)
    return {"model": layout.model_dir(td["teacher"]),
            "data": layout.tokenized_dir(layout.family_of(raw, td["teacher"]), td["dataset"]),
            "prepared": layout.prepared_dir(td["dataset"])}


def student_inputs(raw: dict, student: str, distill: bool) -> dict[str, str]:
    t = teacher_inputs(raw)
    out = {"vocab": t["model"], "data": t["data"], "prepared": t["prepared"]}
    if distill:
        out["teacher"] = teacher_dir(raw)
    init = (settings(raw)["models"].get(student) or {}).get("init")
    if student == "tinybert" and init:
        out["init"] = layout.model_dir(init)
    return out


def stage_keys(raw: dict, rule: str, **w) -> list[str]:
    """The params keys a job reads: a change to any of them reruns it, and nothing else does."""
    return layout.with_rehearsal(raw, _stage_keys(raw, rule, **w))


def _stage_keys(raw: dict, rule: str, **w) -> list[str]:
    if rule == "task_teacher":
        return ["scale", "task_distill.seed", "task_distill.teacher_training", "task_distill.latency"]
    if rule == "task_student":
        keys = ["scale", "task_distill.seed", "task_distill.augment", f"task_distill.models.{w['student']}",
                "task_distill.latency", "tokenize.max_length"]
        if str(w.get("mode")) in ("kd", "True", "true"):
            keys.append("task_distill.loss")
        return keys
    if rule == "task_table":   # it prints the teacher's display name, rounds to tables.style.decimals
        style = raw.get("tables", {}).get("style") or {}
        return ["task_distill", *(["tables.style.decimals"] if "decimals" in style else []),
                *layout.model_keys(raw, [settings(raw)["teacher"]])]
    raise KeyError(rule)


def stage_values(raw: dict, rule: str, **w) -> str:
    """Snakemake's params trigger; as in :func:`compactbio.workflow.graph.stage_values`, the resolved
    values carry the rehearsal caps, so the raw `rehearsal` section is left out."""
    res = resolve(raw)
    keys = [k for k in stage_keys(raw, rule, **w) if k != "rehearsal"]
    return json.dumps({k: lookup(res, k) for k in keys}, sort_keys=True, default=str)


def _cmd(stage: str, log: str, *args: str) -> str:
    return layout.command(stage, log, *args)   # one quoting rule for every DVC command


def teacher_job(raw: dict):
    t = teacher_inputs(raw)
    ds = settings(raw)["dataset"]
    log = f"logs/task_distill/{ds}/teacher.log"
    return layout.Job("task_teacher", f"task_teacher@{ds}",
                     _cmd("task-teacher", log, "--model-dir", t["model"], "--data", t["data"],
                          "--prepared", t["prepared"], "--out", teacher_dir(raw)),
                     [t["model"], t["data"], t["prepared"]], [teacher_dir(raw)],
                     stage_keys(raw, "task_teacher"), log)


def student_job(raw: dict, student: str, distill: bool, n: int):
    inp = student_inputs(raw, student, distill)
    mode = "kd" if distill else "base"
    ds = settings(raw)["dataset"]
    name = run_name(student, distill, n)
    log = f"logs/task_distill/{ds}/{name}.log"
    args = ["--student", student, "--mode", mode, "--augment", str(int(n)), "--vocab", inp["vocab"]]
    if distill:
        args += ["--teacher", inp["teacher"]]
    if "init" in inp:
        args += ["--init", inp["init"]]
    args += ["--data", inp["data"], "--prepared", inp["prepared"], "--out", student_dir(raw, student, distill, n)]
    return layout.Job("task_student", f"task_student@{ds}-{name}", _cmd("task-student", log, *args),
                     list(inp.values()), [student_dir(raw, student, distill, n)],
                     stage_keys(raw, "task_student", student=student, mode=mode), log)


def table_job(raw: dict):
    log = "logs/task_distill/table.log"
    files = table_files()
    return layout.Job("task_table", "task_table",
                     _cmd("task-table", log, "--runs", runs_dir(raw), "--out", "results/tables"),
                     [teacher_dir(raw)] + [student_dir(raw, *r) for r in student_runs(raw)], files,
                     stage_keys(raw, "task_table"), log, uncached=files)


def jobs(raw: dict) -> list:
    """Teacher, students and table as ``layout.Job`` records (the commands the Snakemake rules run)."""
    if "task_distill" not in raw:
        return []
    return [teacher_job(raw), *(student_job(raw, *r) for r in student_runs(raw)), table_job(raw)]
