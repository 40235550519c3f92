"""Shell metacharacters planted in params.yaml never run as commands.

Both front ends turn params ids into shell command lines (Snakemake's rule
``shell:`` strings, run by bash; dvc.yaml's ``cmd``, run by the shell DVC
starts).  Two layers keep a planted ``$(touch PWNED)`` inert:

* the params check: every id that reaches a command (table, dataset, source,
  model keys; grid entries; teacher / init / source references; the
  task-distillation dataset, teacher and TinyBERT init) must match the
  schema's id pattern, and a bad one is reported with its key and line;
* quoting: every value a command line interpolates is quoted (``{x:q}`` in the
  rules, ``shlex.quote`` in ``layout.command``), so even an id that got past the
  check stays one argument.  The second layer is tested with the check
  switched off in a scratch copy of the workflow, and the commands both front
  ends would run are executed by ``sh`` and ``bash`` with a stub
  ``compactbio``: no PWNED file may appear.
"""

from __future__ import annotations

import copy
import shlex
import subprocess

import pytest
import yaml

from compactbio.params import ParamsError, load_params
from compactbio.taskdistill import jobs as taskdistill
from compactbio.workflow import graph

from workflow_tools import copy_workflow, snakemake_jobs  # noqa: E402  (tests/ is on sys.path)

PAYLOADS = {
    "subshell": "$(touch PWNED)",
    "backticks": "`touch PWNED`",
    "semicolon": "x;touch PWNED",
    "single-quotes": "x' ; touch PWNED ; '",
    "double-quotes": 'x" ; touch PWNED ; "',
    "spaces": "x touch PWNED",
    "pipe": "x|touch PWNED",
    "and": "x&&touch PWNED",
    "redirect": "x>PWNED",
    "glob": "x*",
    "option": "-rf",
    "hidden": "..",
    "newline": "x\ntouch PWNED",
    "trailing-newline": "x\n",
}


SHELL_SPECIAL = set("'\"\\$`;|&<>()*?[]{}~#!\n\t")

# ------------------------------------------------------------------ planting
def _add_key(section: tuple, like: str):
    """Plant the payload as a new key of ``section`` (a copy of entry ``like``)."""
    def plant(raw, value):
        node = raw
        for k in section:
            node = node[k]
        node[value] = copy.deepcopy(node[like])
        return (*section, value)
    return plant


def _set(path: tuple):
    """Plant the payload as the value at ``path`` (the last item may be a list index)."""
    def plant(raw, value):
        node = raw
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
        return path
    return plant


def first(raw, *section):
    node = raw
    for k in section:
        node = node[k]
    return next(iter(node))


# every params field whose value reaches a command line, as a key or a value
FIELDS = {
    "table id": lambda raw, v: _add_key(("tables",), "table1")(raw, v),
    "dataset id": lambda raw, v: _add_key(("datasets",), "gad")(raw, v),
    "source id": lambda raw, v: _add_key(("sources",), raw["datasets"]["gad"]["source"])(raw, v),
    "model id": lambda raw, v: _add_key(("models",), first(raw, "models"))(raw, v),
    "base model id": lambda raw, v: _add_key(("pretrain", "base"), first(raw, "pretrain", "base"))(raw, v),
    "distilled model id": lambda raw, v: _add_key(("pretrain", "distill"), first(raw, "pretrain", "distill"))(raw, v),
    "continual model id": lambda raw, v: _add_key(("pretrain", "continual"),
                                                  first(raw, "pretrain", "continual"))(raw, v),
    "grid model": _set(("grid", "models", 0)),
    "grid ner dataset": _set(("grid", "ner", 0)),
    "grid re dataset": _set(("grid", "re", 0)),
    "grid qa dataset": _set(("grid", "qa", 0)),
    "grid corpus": _set(("grid", "corpus")),
    "dataset source": _set(("datasets", "gad", "source")),
    "distill teacher": lambda raw, v: _set(("pretrain", "distill", first(raw, "pretrain", "distill"), "teacher"))(raw, v),
    "continual init": lambda raw, v: _set(("pretrain", "continual", first(raw, "pretrain", "continual"), "init"))(raw, v),
    "task_distill dataset": _set(("task_distill", "dataset")),
    "task_distill teacher": _set(("task_distill", "teacher")),
    "task_distill tinybert init": _set(("task_distill", "models", "tinybert", "init")),
}


def dotted(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


# ------------------------------------------------------------------ (a) the params check
@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_params_check_rejects_every_bad_id(tmp_path, raw_params, payload):
    """One file with the payload in every field: each field gets its own message, key and line."""
    planted = {name: plant(raw_params, payload) for name, plant in FIELDS.items()}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw_params, sort_keys=False, width=10_000))
    with pytest.raises(ParamsError) as err:
        load_params(path)
    text = str(err.value)
    assert text.count("is not a valid id") == len(FIELDS), text
    if "\n" in payload:
        return   # the key in the message spans lines; the count above is the check
    lines = path.read_text().splitlines()
    shown = yaml.safe_dump([payload], width=10_000).splitlines()[0][2:]   # how the payload looks in the file
    for name, where in planted.items():
        prefix = f"{path}:"
        entry = next((m for m in text.splitlines() if f": '{dotted(where)}': {payload!r} is not a valid id" in m), None)
        assert entry is not None, f"{name}: no message for '{dotted(where)}' in\n{text}"
        line = int(entry.strip().removeprefix(prefix).split(":", 1)[0])
        assert shown in lines[line - 1], f"{name}: line {line} is {lines[line - 1]!r}"


def test_params_check_accepts_unusual_but_valid_ids(tmp_path, raw_params):
    raw_params["tables"]["T.1-x_Y"] = copy.deepcopy(raw_params["tables"]["table1"])
    raw_params["task_distill"]["models"]["tinybert"]["init"] = "tinybiobert"
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw_params, sort_keys=False))
    assert "T.1-x_Y" in load_params(path)["tables"]


def test_commands_of_the_real_params_need_no_quotes(raw_params):
    """Quoting is a no-op for plain ids, so dvc.yaml's text is what it was before quoting."""
    for scale in ("demo", "paper"):
        raw_params["scale"] = scale
        for job in graph.jobs(raw_params):
            assert not set(job.cmd) & SHELL_SPECIAL, job.cmd
            assert job.cmd == " ".join(shlex.split(job.cmd)), job.cmd


# ------------------------------------------------------------------ (b) quoting, with the check switched off
def hostile(raw: dict) -> dict:
    """Payloads in a table id, a dataset and its source, a continual model, and the TinyBERT init."""
    raw = copy.deepcopy(raw)
    ids = {
        "table": "t' ; touch PWNED_TABLE ; `touch PWNED_TABLE2` \"q\"",
        "dataset": "d$(touch PWNED_DATASET)",
        "source": "s;touch PWNED_SOURCE;",
        "model": "m && touch PWNED_MODEL",
        "init": "i|touch PWNED_INIT>x",
    }
    raw["tables"][ids["table"]] = {"title": "t", "kind": "datasets", "datasets": [ids["dataset"]]}
    raw["sources"][ids["source"]] = copy.deepcopy(raw["sources"][raw["datasets"]["gad"]["source"]])
    raw["datasets"][ids["dataset"]] = dict(copy.deepcopy(raw["datasets"]["gad"]), source=ids["source"])
    raw["grid"]["re"].append(ids["dataset"])
    cont = first(raw, "pretrain", "continual")
    raw["pretrain"]["continual"][ids["model"]] = copy.deepcopy(raw["pretrain"]["continual"][cont])
    raw["models"][ids["model"]] = copy.deepcopy(raw["models"][cont])
    raw["grid"]["models"].append(ids["model"])
    raw["task_distill"]["models"]["tinybert"]["init"] = ids["init"]
    raw["_ids"] = ids
    return raw


def run_in_shells(cmds: list[str], where) -> None:
    """Run ``cmds`` with a no-op ``compactbio`` in sh and bash; a planted command would leave PWNED*."""
    where.mkdir(parents=True, exist_ok=True)
    script = "compactbio() { :; }\n" + "\n".join(cmds) + "\n"
    for shell in ("sh", "bash"):
        proc = subprocess.run([shell, "-c", script], cwd=where, capture_output=True, text=True)
        assert sorted(p.name for p in where.iterdir()) == [], f"{shell} ran a planted command: {proc.stderr}"
        assert proc.returncode == 0, proc.stderr


def argument(cmd: str, flag: str) -> str:
    words = shlex.split(cmd)
    return words[words.index(flag) + 1]


def check_arguments(cmds: list[str], ids: dict) -> None:
    """Each planted id arrives as exactly one argument, unchanged."""
    def one(pred):
        found = [c for c in cmds if pred(shlex.split(c))]
        assert found, "no such command"
        return found
    for c in one(lambda w: "--table" in w and w[w.index("--table") + 1] == ids["table"]):
        assert argument(c, "--log") == f"logs/table/{ids['table']}.log"
    for c in one(lambda w: "fetch" in w and w[w.index("--source") + 1] == ids["source"]):
        assert argument(c, "--out") == f"data/raw/{ids['source']}"
    one(lambda w: "prepare" in w and w[w.index("--dataset") + 1] == ids["dataset"])
    one(lambda w: "finetune" in w and w[w.index("--model") + 1] == ids["model"])
    one(lambda w: "task-student" in w and "--init" in w and w[w.index("--init") + 1] == f"models/{ids['init']}")


def test_dvc_commands_keep_planted_ids_inert(tmp_path, raw_params):
    raw = hostile(raw_params)
    ids = raw.pop("_ids")
    stages = yaml.safe_load(graph.render_dvc_yaml(raw))["stages"]
    cmds = [st["cmd"] for st in stages.values()]
    check_arguments(cmds, ids)
    run_in_shells(cmds, tmp_path / "scratch")


def test_snakemake_commands_keep_planted_ids_inert(tmp_path, raw_params):
    raw = hostile(raw_params)
    ids = raw.pop("_ids")
    wf = copy_workflow(tmp_path / "wf", raw)
    common = wf / "workflow" / "rules" / "common.smk"
    text = common.read_text()
    assert 'load_params("params.yaml")' in text
    common.write_text(text.replace('load_params("params.yaml")', 'load_params("params.yaml", validate=False)'))
    (wf / graph.model_dir(ids["init"])).mkdir(parents=True)   # the init model is an input, not built here
    seed = raw["grid"]["seeds"][0]
    n = raw["task_distill"]["augment_sizes"][0]
    targets = [graph.table_file(ids["table"], "tex"),
               graph.finetune_outputs(raw, ids["model"], ids["dataset"], seed)["metrics"],
               taskdistill.student_dir(raw, "tinybert", False, n)]
    cmds = [j["cmd"] for j in snakemake_jobs(wf, *targets)]
    check_arguments(cmds, ids)
    run_in_shells(cmds, tmp_path / "scratch")
    # both front ends quote the same way: each Snakemake command is a dvc.yaml command
    dvc = {job.cmd for job in graph.jobs(raw)}
    assert [c for c in cmds if c not in dvc] == []
