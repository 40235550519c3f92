"""The job graph of the pipeline, derived from params.yaml alone.

Snakemake's rules (workflow/rules/*.smk) ask this module for their inputs and
the params values that trigger reruns; ``dvc.yaml`` is rendered from it
(:func:`render_dvc_yaml`), because DVC's own templating cannot express a
stage whose dependency list is a product of params lists (a table depends on
exactly its models x datasets x seeds).  A test checks that both front ends
list the same jobs, commands, inputs and outputs.
"""

from __future__ import annotations

import yaml

from .. import checkpoints
from ..cascade import plan as cascade
from ..params import resolve
from ..report.common import REFERENCE
from ..report.results import output_names as results_output_names
from ..report.sizes import footnote_models
from ..taskdistill import jobs as task_distill
from .layout import (  # noqa: F401 (the rules and other modules read these through the graph)
    EFFICIENCY_DIR, PREDICTIONS, RESULTS_DIR, SCORE_COST_DIR, TABLE_FORMATS, TASK_OF_FORMAT, Job, command,
    corpus_of, family_of, finetune_datasets, model_dir, model_keys, prepared_dir, raw_dir, run_dir, table_file,
    task_of, tokenized_dir, tokenizer_dir, with_rehearsal,
)


def base_init(raw: dict, model: str) -> str | None:
    """The base model that ``model`` continues (``pretrain.base.<model>.init``; BioBERT v1.2 continues
    v1.1), or None: a job input at both scales, so not a scaled value."""
    return (raw["pretrain"]["base"].get(model) or {}).get("init")


def keeps_models(raw: dict) -> bool:
    """``finetune.common.keep_model``: each run also writes its task model, ``<run>/model/`` (a folder)."""
    from ..params import is_scaled

    value = ((raw.get("finetune") or {}).get("common") or {}).get("keep_model", False)
    return bool(value.get(raw.get("scale", "demo")) if is_scaled(value) else value)


def finetune_outputs(raw: dict, model: str, dataset: str, seed) -> dict[str, str]:
    d = run_dir(model, dataset, seed)
    out = {"metrics": f"{d}/metrics.json", "scores": f"{d}/scores.json", "per_example": f"{d}/per_example.jsonl",
           # the selected model's validation records (empty without a validation split): cascade thresholds
           "per_example_validation": f"{d}/per_example_validation.jsonl",
           "predictions": f"{d}/{PREDICTIONS[task_of(raw, dataset)]}", "curve": f"{d}/train_log.csv"}
    if keeps_models(raw):
        out["model"] = f"{d}/model"   # compactbio.finetune.kept_model.FOLDER
    return out


# ------------------------------------------------------------------ params keys per stage
def tokenize_keys(raw: dict, dataset: str) -> list[str]:
    task = task_of(raw, dataset)
    if task == "mlm":
        return ["scale", "tokenize.corpus_max_length",
                *(["tokenize.corpus_packing"] if "corpus_packing" in raw.get("tokenize", {}) else [])]
    if task == "qa":
        return ["scale", "tokenize.qa_max_length", "tokenize.qa_stride"]
    return ["scale", "tokenize.max_length"]


def stage_keys(raw: dict, rule: str, **w) -> list[str]:
    """The params.yaml keys a job reads: a change to any of them reruns it, and nothing else does.

    Every job that reads ``scale`` also reads ``rehearsal``, whose caps apply at paper scale.
    """
    keys = _stage_keys(raw, rule, **w)
    return with_rehearsal(raw, keys)


def _stage_keys(raw: dict, rule: str, **w) -> list[str]:
    if rule == "fetch":
        return ["scale", f"sources.{w['source']}"]
    if rule == "prepare":   # the readers get the whole entry; `entity` is only the tables' column header
        d = w["dataset"]
        return ["scale", *(f"datasets.{d}.{k}" for k in raw["datasets"][d] if k not in TABLE_ONLY_DATASET_KEYS)]
    if rule == "tokenizer":   # a published checkpoint's entry: pretrain.published.<m> (compactbio.checkpoints)
        *switch, b = checkpoints.entry_keys(raw, w["base"])
        return ["scale", *switch, f"{b}.hub", f"{b}.revision", f"{b}.tokenizer"]
    if rule == "tokenize":
        return tokenize_keys(raw, w["dataset"])
    if rule == "base_model":
        return ["scale", "pretrain.engine", *checkpoints.entry_keys(raw, w["model"]), "tokenize.corpus_max_length"]
    if rule == "distill":   # distill_gate: the teacher check before distilling (compactbio.distill.gate)
        gate = ["pretrain.distill_gate"] if "distill_gate" in raw["pretrain"] else []
        return ["scale", "pretrain.engine", *gate, f"pretrain.distill.{w['model']}", "tokenize.corpus_max_length"]
    if rule == "continual":
        return ["scale", "pretrain.engine", f"pretrain.continual.{w['model']}", "tokenize.corpus_max_length"]
    if rule.startswith("finetune_"):
        return ["scale", "finetune.common", *finetune_task_keys(raw, rule.removeprefix("finetune_"), w.get("model"))]
    if rule == "efficiency":
        return ["scale", "grid.models", *model_keys(raw, raw["grid"]["models"]),
                *[f"efficiency.{k}" for k in raw.get("efficiency", {}) if k not in ("score_cost", "reference")]]
    if rule == "score_cost":
        reference = (raw.get("efficiency") or {}).get("reference")
        return ["scale", *GRID_RUN_KEYS, *model_keys(raw, [*raw["grid"]["models"], reference]),
                "efficiency.reference", "efficiency.score_cost"]
    if rule == "cascade":   # one pair: its settings; cascade.models only says which pairs exist
        return ["scale", *(f"cascade.{k}" for k in raw["cascade"] if k != "models")]
    if rule == "cascade_table":   # which pairs (grid, kinds), display names, the scale label
        return ["scale", *(["rehearsal.enabled"] if "rehearsal" in raw else []), *GRID_RUN_KEYS, "cascade",
                *model_keys(raw, raw["grid"]["models"]),
                *(f"tables.style.dataset_names.{d}" for d in finetune_datasets(raw)
                  if d in (((raw.get("tables") or {}).get("style") or {}).get("dataset_names") or {}))]
    if rule == "results":   # the grid's runs; display names and kinds label the learning curves
        return [*GRID_RUN_KEYS, *model_keys(raw, raw["grid"]["models"])]
    if rule == "table":   # scale and rehearsal: the tables say when they hold demo or rehearsal numbers
        return table_keys(raw, w["table"])
    raise KeyError(rule)


# The grid lists that say which fine-tuning runs exist (grid.corpus only feeds pre-training).
GRID_RUN_KEYS = ("grid.models", "grid.ner", "grid.re", "grid.qa", "grid.seeds")
# Keys of a `datasets` entry that only the tables read (the column header of the scores tables).
TABLE_ONLY_DATASET_KEYS = ("entity",)


def finetune_task_keys(raw: dict, task: str, model: str | None) -> list[str]:
    """What :func:`compactbio.finetune.hparams.hyperparameters` reads of ``finetune.<task>`` for ``model``.

    Key by key: every shared value of the task, and of ``learning_rate_by_model``
    only ``model``'s own entry, so another model's override reruns none of this
    model's jobs.  A key added later (a new override) is read from then on: the
    keys are not in dvc.yaml, only in each job's values file.  Without
    ``model``: the keys every model's job reads.
    """
    section = (raw.get("finetune") or {}).get(task) or {}
    keys = [f"finetune.{task}.{k}" for k in section if k != "learning_rate_by_model"]
    if model in (section.get("learning_rate_by_model") or {}):
        keys.append(f"finetune.{task}.learning_rate_by_model.{model}")
    return keys


def table_reads(raw: dict, table: str) -> tuple[list[str], list[str], list[str]]:
    """(tables, models, datasets) whose params entries ``table`` reads: its own and, for the
    reported / retention tables, those of the tables they gather."""
    tables = raw["tables"]
    cfg = tables[table]
    subs = [t for t in cfg.get("tables") or [] if t in tables]
    models = [*(m for m, _, _ in table_runs(raw, table)), *(cfg.get("models") or []),
              *([cfg["reference"]] if cfg.get("reference") else [])]
    datasets = [*(cfg.get("datasets") or []), *(d for t in subs for d in tables[t].get("datasets") or [])]
    return [table, *subs], list(dict.fromkeys(models)), list(dict.fromkeys(datasets))


def table_keys(raw: dict, table: str) -> list[str]:
    """The params keys one table reads: the shared style, the dataset names of its own datasets,
    its entry (and those it gathers), its models' and datasets' entries, and the seeds it averages."""
    tabs, models, datasets = table_reads(raw, table)
    style = raw["tables"].get("style") or {}
    names = style.get("dataset_names") or {}
    kind = raw["tables"][table]["kind"]
    # The datasets table prints each description, the scores tables each entity (column header).
    field = {"datasets": "description", "scores": "entity"}.get(kind)
    return ["scale",
            *(["grid.seeds"] if kind != "datasets" else []),
            *(f"tables.style.{k}" for k in style if k != "dataset_names"),
            *(f"tables.style.dataset_names.{d}" for d in datasets if d in names),
            *(f"tables.{t}" for t in tabs),
            *model_keys(raw, models),
            *(f"datasets.{d}.{field}" for d in datasets if field and field in raw["datasets"].get(d, {})),
            *checkpoints.table_keys(raw, table)]   # pretrain.source: published labels the table


def stage_values(raw: dict, rule: str, **w) -> str:
    """Resolved values of :func:`stage_keys`, as one stable string (Snakemake's params trigger, and the
    content of the job's values file for DVC, :func:`write_values`)."""
    return values_text(raw, resolve(raw), rule, stage_keys(raw, rule, **w))


def values_text(raw: dict, res: dict, rule: str, keys: list[str]) -> str:
    """The resolved values (``res``) of ``keys`` as one stable string."""
    import json

    from ..params import lookup

    # The other keys' resolved values already carry the rehearsal caps, so a cap reruns only the jobs it
    # changes; the tables read the switch itself (their rehearsal label).
    keys = [k for k in keys if k != "rehearsal"]
    if rule == "table" and "rehearsal" in raw:
        keys.append("rehearsal.enabled")
    return json.dumps({k: lookup(res, k) for k in keys}, sort_keys=True, default=str)


# ------------------------------------------------------------------ table inputs
def table_names(raw: dict) -> list[str]:
    """Every table id (``tables.style`` holds styling, not a table)."""
    return [t for t in raw["tables"] if t != "style"]


def table_runs(raw: dict, table: str) -> list[tuple[str, str, int]]:
    """(model, dataset, seed) runs a scores table reads, in a stable order."""
    cfg = raw["tables"][table]
    seeds = raw["grid"]["seeds"]
    if cfg["kind"] == "scores":
        # The reference's runs feed the significance markers even where it has no column.
        models = list(dict.fromkeys([*cfg["models"], *([REFERENCE] if REFERENCE in raw["grid"]["models"] else [])]))
        return [(m, d, s) for m in models for d in cfg["datasets"] for s in seeds]
    if cfg["kind"] in ("reported", "retention"):
        out: dict[tuple, None] = {}
        extra = [cfg["reference"]] if cfg.get("reference") else []
        for t in cfg["tables"]:
            sub = raw["tables"][t]
            models = [m for m in [*sub["models"], *extra] if cfg["kind"] == "reported" or m in cfg["models"] or m in extra]
            for m in models:
                for d in sub["datasets"]:
                    for s in seeds:
                        out[(m, d, s)] = None
        return list(out)
    return []


def table_inputs(raw: dict, table: str) -> list[str]:
    """The run files a table reads, as the table stage itself lists them (the scores tables read
    metrics and per-example records, BioBERT's too for the significance markers; the reported and
    retention tables only metrics), then the folders of the models whose sizes it cites."""
    from pathlib import Path

    from ..report.stage import optional_inputs, required_inputs

    cfg = raw["tables"][table]
    models = [model_dir(m) for m in footnote_models(cfg)]   # footnotes citing sizes read the weights
    if cfg["kind"] == "datasets":
        return [prepared_dir(d) for d in cfg["datasets"]] + models
    runs = Path("runs/finetune")
    read = [*required_inputs(raw, table, runs, Path("data/prepared")), *optional_inputs(raw, table, runs)]
    return list(dict.fromkeys(p.as_posix() for p in read if p.is_relative_to(runs))) + models


def results_inputs(raw: dict) -> list[str]:
    """What the results stage reads: every run's metrics and learning curve, and the efficiency study."""
    g = raw["grid"]
    files = [f for m in g["models"] for d in finetune_datasets(raw) for s in g["seeds"]
             for f in (finetune_outputs(raw, m, d, s)["metrics"], finetune_outputs(raw, m, d, s)["curve"])]
    return files + ([EFFICIENCY_DIR] if "efficiency" in raw else [])


def results_outputs(raw: dict) -> list[str]:
    """The results stage's files, under RESULTS_DIR."""
    return [f"{RESULTS_DIR}/{n}" for n in results_output_names(raw, "efficiency" in raw)]


def score_cost_inputs(raw: dict) -> list[str]:
    """Every fine-tuning metrics file of the grid (the score side of score-per-cost)."""
    g = raw["grid"]
    return [finetune_outputs(raw, m, d, s)["metrics"]
            for m in g["models"] for d in finetune_datasets(raw) for s in g["seeds"]]


# ------------------------------------------------------------------ the graph
def cascade_jobs(raw: dict) -> list[Job]:
    """The cascade study (compactbio.cascade): one job per (compact model, dataset, seed), then its table."""
    out = []
    fb = cascade.fallback(raw) if cascade.enabled(raw) else None
    for m, d, s in cascade.pairs(raw):
        log = f"logs/cascade/{m}/{d}/seed{s}.log"
        runs = [run_dir(m, d, s), run_dir(fb, d, s)]
        deps = [f for r in ((m, d, s), (fb, d, s)) for k, f in finetune_outputs(raw, *r).items()
                if k in ("metrics", "per_example", "per_example_validation")]
        out.append(Job("cascade", f"cascade@{m}-{d}-{s}",
                       command("cascade", log, "--model", m, "--dataset", d, "--seed", str(s), "--compact", runs[0],
                            "--fallback", runs[1], "--prepared", prepared_dir(d), "--efficiency", EFFICIENCY_DIR,
                            "--out", cascade.pair_dir(m, d, s)),
                       [*deps, prepared_dir(d), EFFICIENCY_DIR], cascade.pair_files(m, d, s),
                       stage_keys(raw, "cascade"), log))
    files = cascade.table_files(raw)
    if files:
        log = "logs/cascade/cascade_table.log"
        out.append(Job("cascade_table", "cascade_table",
                       command("cascade-table", log, "--runs", cascade.RUNS, "--out", cascade.RESULTS),
                       [cascade.pair_files(*p)[0] for p in cascade.pairs(raw)], files,
                       stage_keys(raw, "cascade_table"), log, uncached=files))
    return out


def jobs(raw: dict) -> list[Job]:
    """Every job of the pipeline for the grid in ``raw`` (unresolved params)."""
    out: list[Job] = []
    g, pre = raw["grid"], raw["pretrain"]
    corpus = corpus_of(raw)
    datasets_used = [*finetune_datasets(raw), corpus]

    for source in dict.fromkeys(raw["datasets"][d]["source"] for d in datasets_used):
        log = f"logs/fetch/{source}.log"
        out.append(Job("fetch", f"fetch@{source}", command("fetch", log, "--source", source, "--out", raw_dir(source)),
                       [], [raw_dir(source)], stage_keys(raw, "fetch", source=source), log))
    for d in datasets_used:
        src = raw_dir(raw["datasets"][d]["source"])
        log = f"logs/prepare/{d}.log"
        out.append(Job("prepare", f"prepare@{d}",
                       command("prepare", log, "--dataset", d, "--raw", src, "--out", prepared_dir(d)),
                       [src], [prepared_dir(d)], stage_keys(raw, "prepare", dataset=d), log))
    for b in pre["base"]:
        log = f"logs/tokenizer/{b}.log"
        out.append(Job("tokenizer", f"tokenizer@{b}",
                       command("tokenizer", log, "--model", b, "--corpus", prepared_dir(corpus), "--out", tokenizer_dir(b)),
                       [prepared_dir(corpus)], [tokenizer_dir(b)], stage_keys(raw, "tokenizer", base=b), log))
        for d in datasets_used:
            log = f"logs/tokenize/{b}/{d}.log"
            out.append(Job("tokenize", f"tokenize@{b}-{d}",
                           command("tokenize", log, "--tokenizer", tokenizer_dir(b), "--dataset", prepared_dir(d),
                                "--out", tokenized_dir(b, d)),
                           [tokenizer_dir(b), prepared_dir(d)], [tokenized_dir(b, d)],
                           stage_keys(raw, "tokenize", dataset=d), log))
        log = f"logs/base_model/{b}.log"
        deps = [tokenizer_dir(b), tokenized_dir(b, corpus)]
        init = base_init(raw, b)
        out.append(Job("base_model", f"base_model@{b}",
                       command("base-model", log, "--model", b, "--tokenizer", deps[0], "--corpus", deps[1],
                               *(["--init", model_dir(init)] if init else []), "--out", model_dir(b)),
                       [*deps, *([model_dir(init)] if init else [])], [model_dir(b)],
                       stage_keys(raw, "base_model", model=b), log))
    # Compact models start from a base model: the teacher (distill) or the init model (continual).
    for rule, flag, start in (("distill", "--teacher", "teacher"), ("continual", "--init", "init")):
        for m, cfg in pre[rule].items():
            src = cfg[start]
            log = f"logs/{rule}/{m}.log"
            deps = [model_dir(src), tokenized_dir(src, corpus)]
            out.append(Job(rule, f"{rule}@{m}",
                           command(rule, log, "--model", m, flag, deps[0], "--corpus", deps[1], "--out", model_dir(m)),
                           deps, [model_dir(m)], stage_keys(raw, rule, model=m), log))
    for m in g["models"]:
        fam = family_of(raw, m)
        for d in finetune_datasets(raw):
            task = task_of(raw, d)
            for seed in g["seeds"]:
                o = finetune_outputs(raw, m, d, seed)
                log = f"logs/finetune/{m}/{d}/seed{seed}.log"
                deps = [model_dir(m), tokenized_dir(fam, d), prepared_dir(d)]
                out.append(Job(f"finetune_{task}", f"finetune_{task}@{m}-{d}-{seed}",
                               command("finetune", log, "--model", m, "--dataset", d, "--seed", str(seed),
                                    "--model-dir", deps[0], "--data", deps[1], "--prepared", deps[2],
                                    "--out", run_dir(m, d, seed)),
                               deps, [o["metrics"], o["per_example"], o["per_example_validation"],
                                      o["predictions"], o["curve"],
                                      *[o[k] for k in ("model",) if k in o]],
                               stage_keys(raw, f"finetune_{task}", model=m), log, metrics=[o["scores"]]))
    if "efficiency" in raw:
        log = "logs/efficiency/efficiency.log"
        out.append(Job("efficiency", "efficiency", command("efficiency", log, "--out", EFFICIENCY_DIR),
                       [], [EFFICIENCY_DIR], stage_keys(raw, "efficiency"), log, uncached=[EFFICIENCY_DIR]))
        log = "logs/score_cost/score_cost.log"
        out.append(Job("score_cost", "score_cost",
                       command("score-cost", log, "--efficiency", EFFICIENCY_DIR, "--runs", "runs/finetune",
                            "--out", SCORE_COST_DIR),
                       [EFFICIENCY_DIR, *score_cost_inputs(raw)], [SCORE_COST_DIR],
                       stage_keys(raw, "score_cost"), log, uncached=[SCORE_COST_DIR]))
        out += cascade_jobs(raw)
    out += task_distill.jobs(raw)
    # The whole grid's scores as one tidy table (runs.csv/.parquet), efficiency.csv and learning curves.
    # Kept in git like the tables (uncached); dvc_plots declares the curves and tables as DVC plots.
    log = "logs/results/results.log"
    files = results_outputs(raw)
    out.append(Job("results", "results",
                   command("results", log, "--runs", "runs/finetune",
                        *(["--efficiency", EFFICIENCY_DIR] if "efficiency" in raw else []), "--out", RESULTS_DIR),
                   results_inputs(raw), files, stage_keys(raw, "results"), log, uncached=files))
    for t in table_names(raw):
        log = f"logs/table/{t}.log"
        files = [table_file(t, ext) for ext in TABLE_FORMATS]
        out.append(Job("table", f"table@{t}",
                       command("table", log, "--table", t, "--runs", "runs/finetune", "--prepared", "data/prepared",
                            "--models", "models", "--out", "results/tables"),
                       table_inputs(raw, t), files, stage_keys(raw, "table", table=t), log, uncached=files))
    return out


# ------------------------------------------------------------------ dvc.yaml
HEADER = """\
# Generated from params.yaml by `compactbio dvc-yaml`: do not edit by hand.
# The first stage, `params`, reads params.yaml (it declares every section, for
# `dvc params diff` and `dvc exp show`): it stops `dvc repro` / `dvc exp run`
# while this file is stale for params.yaml (re-render with `compactbio dvc-yaml`),
# else writes runs/params/<stage>.json, the resolved values of the keys that
# stage reads; each stage depends on its own file, so a change reruns exactly
# the stages that read it.  Values need no re-render:
# `dvc exp run -S finetune.ner.epochs=3` works as is.
"""

# The params stage.  Why not a `params:` list on every stage: DVC parses
# params.yaml once per stage that declares params (about 0.13 s of CPU each with
# ruamel's pure-Python parser, times some 220 stages: `dvc status` took 25 s);
# one stage reading it and a small JSON file per stage cost one parse.  It also
# guards against a stale dvc.yaml: DVC runs the stages of the dvc.yaml it loaded,
# so a params.yaml whose grid (tables, pretrain entries, keys...) no longer
# matches it would silently give stale results; the check fails first, with the
# message.  The values are those of Snakemake's params trigger (stage_values):
# both front ends rerun a job for the same changes.
PARAMS_STAGE = "params"
VALUES_DIR = "runs/params"


def dvc_name(job: "Job") -> str:
    return job.name.replace("@", ".")


def values_file(stage: str) -> str:
    """The values file of a DVC stage (its name, as in dvc.yaml)."""
    return f"{VALUES_DIR}/{stage}.json"


def job_values(raw: dict) -> dict[str, str]:
    """Every job's values file (path) and its text: Snakemake's params trigger value of that job."""
    res = resolve(raw)
    return {values_file(dvc_name(j)): values_text(raw, res, j.rule, j.params) + "\n" for j in jobs(raw)}


def write_values(raw: dict, root=".") -> int:
    """Write every job's values file under ``root``, rewriting only those whose text changed (DVC then
    rehashes only those) and removing those of jobs that no longer exist; return how many changed."""
    from pathlib import Path

    from ..io import atomic_write_text

    files = {Path(root) / f: text for f, text in job_values(raw).items()}
    folder = Path(root) / VALUES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    changed = 0
    for path, text in files.items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            atomic_write_text(path, text)
            changed += 1
    for path in folder.iterdir():
        if path not in files:
            path.unlink()
            changed += 1
    return changed


def dvc_plots(raw: dict) -> list:
    """Top-level DVC plots, all static images, so `dvc plots show` needs no Vega (nor the internet):
    the learning curves, one chart per dataset with every model of the grid (the results stage),
    and the efficiency study's figures."""
    out = [f"{RESULTS_DIR}/{n}" for n in results_output_names(raw, "efficiency" in raw) if n.startswith("curves/")
           and n.endswith(".png")]
    if "efficiency" in raw:
        out += [f"{EFFICIENCY_DIR}/efficiency.png", f"{SCORE_COST_DIR}/score_cost.png"]
        out += [f for f in cascade.table_files(raw) if f.endswith(".png")]
    return out


def params_stage(raw: dict) -> dict:
    """The first stage: the check and the values files.  ``params.yaml`` is also a plain dependency,
    so that a section the file did not have when dvc.yaml was rendered still reruns the check.
    ``persist``: DVC leaves the folder in place, the command rewrites only the files that change."""
    return {"cmd": f"compactbio dvc-yaml --check --values {VALUES_DIR}", "deps": ["params.yaml"],
            "params": list(raw), "outs": [{VALUES_DIR: {"persist": True}}]}


def dvc_stages(raw: dict) -> dict:
    stages = {PARAMS_STAGE: params_stage(raw)}
    for job in jobs(raw):
        st: dict = {"cmd": job.cmd}
        st["deps"] = [values_file(dvc_name(job)), *job.deps]
        outs = [o if o not in job.uncached else {o: {"cache": False}} for o in job.outs]
        if outs:
            st["outs"] = outs
        if job.metrics:   # cached: runs/ is not in git, and `dvc metrics diff` / `dvc exp show` read the cache
            st["metrics"] = list(job.metrics)
        if job.plots:
            st["plots"] = list(job.plots)
        stages[dvc_name(job)] = st
    doc: dict = {"stages": stages}
    plots = dvc_plots(raw)
    if plots:
        doc["plots"] = plots
    return doc


def dvc_yaml_difference(current: str, raw: dict) -> str:
    """How a stale dvc.yaml differs from a fresh render, in a few words (stages added, removed, changed)."""
    try:
        old = (yaml.load(current, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}).get("stages") or {}
    except yaml.YAMLError:
        return "it is not valid YAML"
    if not isinstance(old, dict):
        return "it has no stages mapping"
    new = dvc_stages(raw)["stages"]

    def some(names: list[str]) -> str:
        return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")

    parts = [f"{len(names)} {what}: {some(names)}" for what, names in (
        ("stages to add", [n for n in new if n not in old]),
        ("stages to remove", [n for n in old if n not in new]),
        ("stages changed", [n for n in new if n in old and new[n] != old[n]])) if names]
    return "; ".join(parts) or "the same stages, other text"


def render_dvc_yaml(raw: dict) -> str:
    # libyaml's dumper when present: the same text, four times faster (Snakemake renders it at every start).
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return HEADER + yaml.dump(dvc_stages(raw), Dumper=dumper, sort_keys=False, width=200)
