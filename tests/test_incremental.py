"""A params change reruns exactly the jobs that read it, in both front ends; a change to which jobs
exist stops DVC with the fix, never a silently stale result.

The workflow is "built" once with the stand-in CLI (tests/fake_compactbio.py), then committed to
DVC as the README says (`dvc commit -f` after a Snakemake run).  Each case edits params.yaml and
compares, with the set worked out by hand from what each job reads:

* Snakemake: the jobs `snakemake -n all` plans;
* DVC: after the `params` stage has run (it writes each stage's values file), the stages
  `dvc repro --dry --force-downstream` would run: those whose values changed and everything
  below them (a rerun job writes new outputs, as the stand-in does).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from compactbio.workflow.graph import PARAMS_STAGE, dvc_name, jobs, render_dvc_yaml

from workflow_tools import snakemake_jobs

HERE = Path(__file__).resolve().parent
MODELS = ["biobert", "distilbert", "distilbiobert", "tinybiobert", "biodistilbert"]
NER = ["ncbi-disease", "bc2gm"]
TABLES = {"table.table1", "table.table2", "table.table4", "table.table6", "table.reported", "table.retention"}


def small_grid(raw: dict) -> dict:
    """The paper grid cut down so DVC's per-stage overhead stays small; same structure."""
    raw["grid"].update(models=list(MODELS), ner=list(NER), re=["gad"], qa=["bioasq7b"], seeds=[1])
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
    # One NER override in the small grid too (the paper grid's are MobileBERT's, dropped above).
    raw["finetune"]["ner"].setdefault("learning_rate_by_model", {})["distilbert"] = {"demo": 3.0e-3, "paper": 5.0e-5}
    raw["tables"] = {k: v for k, v in raw["tables"].items() if k not in ("table3", "table5", "table7")}
    for cfg in raw["tables"].values():
        if "tables" in cfg:
            cfg["tables"] = [t for t in cfg["tables"] if t in raw["tables"]]
    return raw


def run(cmd, cwd, env, ok=True):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def ran_stages(text: str) -> set[str]:
    return {line.split("'")[1] for line in text.splitlines() if line.startswith("Running stage")}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A fresh clone (git + DVC, nothing built), run by Snakemake with the stand-in CLI, then
    `dvc commit -f` as the README says, and committed to git (`dvc exp run` needs a commit)."""
    from workflow_tools import copy_workflow

    raw = small_grid(yaml.safe_load((HERE.parent / "params.yaml").read_text()))
    wf = copy_workflow(tmp_path_factory.mktemp("inc") / "wf", raw)
    (wf / "dvc.yaml").write_text(render_dvc_yaml(raw))
    for name in (".gitignore", ".dvcignore"):
        shutil.copy2(HERE.parent / name, wf / name)
    with open(wf / ".gitignore", "a") as f:
        f.write("/.bin/\n")
    bindir = wf / ".bin"
    bindir.mkdir()
    (bindir / "compactbio").write_text(f"#!/bin/sh\nexec {sys.executable} {HERE / 'fake_compactbio.py'} \"$@\"\n")
    (bindir / "compactbio").chmod(0o755)
    # The stand-in first on PATH, and this interpreter's snakemake/dvc (not a shim that would put the
    # real compactbio first again).
    env = {**os.environ, "PATH": f"{bindir}:{Path(sys.executable).parent}:{os.environ['PATH']}",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"], ["snakemake", "--cores", "2", "all"],
                ["dvc", "commit", "-f", "-q"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", "built"]):
        run(cmd, wf, env)
    assert "up to date" in run(["dvc", "status"], wf, env).stdout
    assert snakemake_jobs(wf, "all") == []
    return wf, env


def edited(wf: Path, edit) -> tuple[str, dict]:
    path = wf / "params.yaml"
    original = path.read_text()
    raw = yaml.safe_load(original)
    edit(raw)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return original, raw


def restore(wf: Path, env, original: str) -> None:
    (wf / "params.yaml").write_text(original)
    run(["dvc", "repro", PARAMS_STAGE], wf, env)   # the values files back to what dvc.lock holds
    assert "up to date" in run(["dvc", "status"], wf, env).stdout


def planned(wf, env, edit, dry_first=False):
    """(Snakemake's jobs, DVC's stages) after ``edit(params)``; params restored afterwards."""
    original, raw = edited(wf, edit)
    try:
        # DVC first: `snakemake` in a DVC repository refreshes the values files itself.
        if dry_first:   # before the params stage has run, DVC can only say that it must
            dry = ran_stages(run(["dvc", "repro", "--dry"], wf, env).stdout)
            assert dry == {PARAMS_STAGE}, dry
        run(["dvc", "repro", PARAMS_STAGE], wf, env)
        dvc = ran_stages(run(["dvc", "repro", "--dry", "--force-downstream"], wf, env).stdout)
        # Name Snakemake's jobs as DVC's stages by their (identical) command.
        names = {j.cmd: dvc_name(j) for j in jobs(raw)}
        snake = {names[j["cmd"]] for j in snakemake_jobs(wf, "all")}
    finally:
        restore(wf, env, original)
    assert snake
    return snake, dvc


def finetunes(task: str, models, datasets) -> set[str]:
    return {f"finetune_{task}.{m}-{d}-1" for m in models for d in datasets}


AGGREGATES = {"score_cost", "results"}   # every run's scores
COMPACT = ["distilbiobert", "tinybiobert", "biodistilbert"]   # the grid's compact models (models.<m>.kind)


def cascades(models, datasets) -> set[str]:
    """The cascade study's jobs that read these runs: a (compact model, dataset) pair reads its own
    runs and the reference's (BioBERT's), and its table reads every pair."""
    pairs = {f"cascade.{m}-{d}-1" for m in COMPACT for d in datasets if m in models or "biobert" in models}
    return pairs | {"cascade_table"} if pairs else set()


def setter(*path, value):
    def edit(raw):
        node = raw
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


CASES = {
    # a shared hyperparameter: every NER fine-tune and what holds NER scores
    "ner_learning_rate": (setter("finetune", "ner", "learning_rate", value=1e-4),
                          finetunes("ner", MODELS, NER) | {"table.table2", "table.reported", "table.retention"}
                          | cascades(MODELS, NER) | AGGREGATES),
    # one model's own value: that model's fine-tunes of that task only, and the tables holding them
    # (DistilBERT is a baseline column of Table 2, not one of the retention table's models, nor compact)
    "ner_override_of_one_model": (setter("finetune", "ner", "learning_rate_by_model", "distilbert", value=7e-3),
                                  finetunes("ner", ["distilbert"], NER) | {"table.table2", "table.reported"}
                                  | AGGREGATES),
    "qa_override_of_one_model": (setter("finetune", "qa", "learning_rate_by_model", "tinybiobert", value=4e-3),
                                 finetunes("qa", ["tinybiobert"], ["bioasq7b"])
                                 | {"table.table6", "table.reported", "table.retention"}
                                 | cascades(["tinybiobert"], ["bioasq7b"]) | AGGREGATES),
    # a new override (a key the params did not have): dvc.yaml holds no keys, so no re-render;
    # BioDistilBERT's NER runs, which no NER table of this grid holds (Table 3 is not in it)
    "new_override_of_one_model": (setter("finetune", "ner", "learning_rate_by_model", "biodistilbert", value=4e-3),
                                  finetunes("ner", ["biodistilbert"], NER) | cascades(["biodistilbert"], NER)
                                  | AGGREGATES),
    # styling: every table, nothing else
    "table_style": (setter("tables", "style", "decimals", value=1), TABLES | {"task_table"}),
    # one dataset's column header: only the scores table showing it (not its data, nor the runs)
    "entity_of_one_dataset": (setter("datasets", "gad", "entity", value="Gene/disease"), {"table.table4"}),
    # one dataset's display name: the tables that name it
    "name_of_one_dataset": (setter("tables", "style", "dataset_names", "gad", value="GAD (binary)"),
                            {"table.table1", "table.table4", "table.reported", "table.retention", "cascade_table"}),
    # one dataset's split: its data, tokens, runs and everything holding them
    "split_of_one_dataset": (setter("datasets", "gad", "split", "seed", value=14),
                             {"prepare.gad", "tokenize.biobert-gad", "tokenize.biobert_v12-gad",
                              "tokenize.distilbert-gad"} | finetunes("re", MODELS, ["gad"])
                             | {"table.table1", "table.table4", "table.reported", "table.retention"}
                             | cascades(MODELS, ["gad"]) | AGGREGATES),
    # a recipe's step count: that student, its fine-tunes, its tables
    "distill_steps_of_one_student": (
        setter("pretrain", "distill", "tinybiobert", "train", "steps", value=7),
        {"distill.tinybiobert"} | finetunes("ner", ["tinybiobert"], NER) | finetunes("re", ["tinybiobert"], ["gad"])
        | finetunes("qa", ["tinybiobert"], ["bioasq7b"])
        | {"table.table2", "table.table4", "table.table6", "table.reported", "table.retention"}
        | cascades(["tinybiobert"], [*NER, "gad", "bioasq7b"]) | AGGREGATES),
    # a paper-scale value at demo scale: nothing (both front ends compare resolved values)
    "paper_value_at_demo_scale": (lambda raw: raw["finetune"]["ner"]["epochs"].update(paper=9), set()),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_a_change_reruns_exactly_the_jobs_that_read_it(built, case):
    edit, expected = CASES[case]
    wf, env = built
    if not expected:   # nothing to plan: Snakemake says so, DVC runs only its params stage
        original, _ = edited(wf, edit)
        try:
            assert snakemake_jobs(wf, "all") == []
            assert ran_stages(run(["dvc", "repro"], wf, env).stdout) == {PARAMS_STAGE}
        finally:
            restore(wf, env, original)
        return
    snake, dvc = planned(wf, env, edit, dry_first=case == "ner_learning_rate")
    assert snake == expected
    assert dvc == expected


def stale_message(text: str) -> bool:
    return "dvc.yaml is stale" in text and "run `compactbio dvc-yaml`" in text


@pytest.mark.slow
def test_a_grid_change_stops_dvc_with_the_fix_and_snakemake_follows_it(built):
    wf, env = built
    original, raw = edited(wf, setter("grid", "seeds", value=[1, 2]))
    try:
        assert "params" in run(["dvc", "status"], wf, env).stdout   # not "up to date"
        proc = run(["dvc", "repro"], wf, env, ok=False)
        assert proc.returncode != 0 and stale_message(proc.stdout + proc.stderr), proc.stdout + proc.stderr
        assert ran_stages(proc.stdout) == {PARAMS_STAGE}   # stopped first, nothing else ran
        seed2 = {f"finetune_{t}.{m}-{d}-2" for m in MODELS
                 for t, ds in {"ner": NER, "re": ["gad"], "qa": ["bioasq7b"]}.items() for d in ds}
        names = {j.cmd: dvc_name(j) for j in jobs(raw)}
        assert seed2 <= {names[j["cmd"]] for j in snakemake_jobs(wf, "all")}
    finally:
        restore(wf, env, original)


@pytest.mark.slow
def test_dvc_exp_run_reruns_exactly_and_refuses_a_new_job(built, tmp_path):
    """`dvc exp run -S` for real (in a copy): the stand-in writes new outputs, so DVC itself decides
    what runs below a rerun job."""
    wf, env = built
    copy = tmp_path / "wf"
    shutil.copytree(wf, copy, symlinks=True)
    out = run(["dvc", "exp", "run", "-S", "finetune.qa.learning_rate_by_model.tinybiobert=0.004"], copy, env)
    assert ran_stages(out.stdout) == {PARAMS_STAGE} | CASES["qa_override_of_one_model"][1]
    proc = run(["dvc", "exp", "run", "-S", "grid.seeds=[1,2]"], copy, env, ok=False)
    assert proc.returncode != 0 and stale_message(proc.stdout + proc.stderr), proc.stdout + proc.stderr
    assert ran_stages(proc.stdout) == {PARAMS_STAGE}


@pytest.mark.slow
def test_dvc_metrics_are_the_test_scores_and_plots_need_no_internet(built, tmp_path):
    wf, env = built
    import json

    shown = json.loads(run(["dvc", "metrics", "show", "--json"], wf, env).stdout)
    files = {f for rev in shown.values() for f in rev["data"]}
    runs = [j for j in jobs(yaml.safe_load((wf / "params.yaml").read_text())) if j.rule.startswith("finetune_")]
    assert files == {f"{j.cmd.split('--out ')[1]}/scores.json" for j in runs}
    run(["dvc", "plots", "show", "-o", str(tmp_path / "plots")], wf, env)
    page = (tmp_path / "plots" / "index.html").read_text()
    assert "<script" not in page and "http" not in page   # static images only: no Vega from a CDN
    assert "results/curves/gad.png" in page


def test_finetune_keys_cover_everything_the_stage_reads(raw_params):
    """hparams.hyperparameters, the fine-tuning stage's only reader of params, gives the same settings
    from the declared keys alone: no undeclared value (another model's override...) can matter."""
    from compactbio.finetune.hparams import hyperparameters
    from compactbio.params import lookup, resolve
    from compactbio.workflow.graph import stage_keys

    res = resolve(raw_params)
    for task in ("ner", "re", "qa"):
        for model in raw_params["grid"]["models"]:
            only: dict = {}
            for key in stage_keys(raw_params, f"finetune_{task}", model=model):
                node, *parts = key.split(".")
                target = only
                for part in [node, *parts][:-1]:
                    target = target.setdefault(part, {})
                target[[node, *parts][-1]] = lookup(res, key)
            assert hyperparameters(only, task, model) == hyperparameters(res, task, model), (task, model)
    # and the override is this model's own: MobileBERT's NER jobs read it, BioBERT's do not
    keys = stage_keys(raw_params, "finetune_ner", model="mobilebert")
    assert "finetune.ner.learning_rate_by_model.mobilebert" in keys
    assert not any("learning_rate_by_model" in k for k in stage_keys(raw_params, "finetune_ner", model="biobert"))
