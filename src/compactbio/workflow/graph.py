"""The job graph of the pipeline, derived from params.yaml alone.

Snakemake's rules (workflow/rules/*.smk) ask this module for their inputs and
the params values that trigger reruns; ``dvc.yaml`` is rendered from it
(:func:`render_dvc_yaml`), because DVC's own templating cannot express a
stage whose dependency list is a product of params lists (a table depends on
exactly its models x datasets x seeds).  A test checks that both front ends
list the same jobs, commands, inputs and outputs.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

import yaml

from ..params import resolve
from ..report.common import REFERENCE

TASK_OF_FORMAT = {"biobert_ner": "ner", "gad": "re", "chemprot": "re", "bioasq": "qa", "corpus": "mlm"}
PREDICTIONS = {"ner": "predictions.conll", "re": "predictions.tsv", "qa": "predictions.json"}
TABLE_FORMATS = ("tex", "md", "csv")


@dataclass
class Job:
    rule: str                      # Snakemake rule == DVC stage group
    name: str                      # DVC stage name
    cmd: str
    deps: list[str]
    outs: list[str]
    params: list[str]              # dotted params.yaml keys the job reads
    log: str
    metrics: list[str] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    uncached: list[str] = field(default_factory=list)   # outs kept in git, not the DVC cache


# ------------------------------------------------------------------ lookups
def task_of(raw: dict, dataset: str) -> str:
    return TASK_OF_FORMAT[raw["datasets"][dataset]["format"]]


def family_of(raw: dict, model: str) -> str:
    """The base model whose tokenizer ``model`` uses (teacher for students, init for continual)."""
    pre = raw["pretrain"]
    if model in pre["base"]:
        return model
    if model in pre["distill"]:
        return pre["distill"][model]["teacher"]
    return pre["continual"][model]["init"]


def finetune_datasets(raw: dict) -> list[str]:
    g = raw["grid"]
    return [*g["ner"], *g["re"], *g["qa"]]


def corpus_of(raw: dict) -> str:
    return raw["grid"]["corpus"]


# ------------------------------------------------------------------ paths
def raw_dir(source): return f"data/raw/{source}"
def prepared_dir(dataset): return f"data/prepared/{dataset}"
def tokenizer_dir(base): return f"models/tokenizers/{base}"
def tokenized_dir(family, dataset): return f"data/tokenized/{family}/{dataset}"
def model_dir(model): return f"models/{model}"
def run_dir(model, dataset, seed): return f"runs/finetune/{model}/{dataset}/seed{seed}"
def table_file(table, ext): return f"results/tables/{table}.{ext}"


EFFICIENCY_DIR = "results/efficiency"
SCORE_COST_DIR = "results/score_cost"


def finetune_outputs(raw: dict, model: str, dataset: str, seed) -> dict[str, str]:
    d = run_dir(model, dataset, seed)
    return {"metrics": f"{d}/metrics.json", "per_example": f"{d}/per_example.jsonl",
            "predictions": f"{d}/{PREDICTIONS[task_of(raw, dataset)]}", "curve": f"{d}/train_log.csv"}


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


def with_rehearsal(raw: dict, keys: list[str]) -> list[str]:
    if "rehearsal" in raw and "scale" in keys and "rehearsal" not in keys:
        i = keys.index("scale") + 1
        keys = [*keys[:i], "rehearsal", *keys[i:]]
    return keys


def _stage_keys(raw: dict, rule: str, **w) -> list[str]:
    if rule == "fetch":
        return ["scale", f"sources.{w['source']}"]
    if rule == "prepare":
        return ["scale", f"datasets.{w['dataset']}"]
    if rule == "tokenizer":
        b = f"pretrain.base.{w['base']}"
        return ["scale", f"{b}.hub", f"{b}.revision", f"{b}.tokenizer"]
    if rule == "tokenize":
        return tokenize_keys(raw, w["dataset"])
    if rule == "base_model":
        return ["scale", "pretrain.engine", f"pretrain.base.{w['model']}", "tokenize.corpus_max_length"]
    if rule == "distill":   # distill_gate: the teacher check before distilling (compactbio.distill.gate)
        gate = ["pretrain.distill_gate"] if "distill_gate" in raw["pretrain"] else []
        return ["scale", "pretrain.engine", *gate, f"pretrain.distill.{w['model']}", "tokenize.corpus_max_length"]
    if rule == "continual":
        return ["scale", "pretrain.engine", f"pretrain.continual.{w['model']}", "tokenize.corpus_max_length"]
    if rule.startswith("finetune_"):
        return ["scale", "finetune.common", f"finetune.{rule.removeprefix('finetune_')}"]
    if rule == "efficiency":
        return ["scale", "grid.models", "models",
                *[f"efficiency.{k}" for k in raw.get("efficiency", {}) if k not in ("score_cost", "reference")]]
    if rule == "score_cost":
        return ["scale", "grid", "models", "efficiency.reference", "efficiency.score_cost"]
    if rule == "table":   # scale and rehearsal: the tables say when they hold demo or rehearsal numbers
        return ["scale", "tables.style", f"tables.{w['table']}", "models", "datasets"]
    raise KeyError(rule)


def stage_values(raw: dict, rule: str, **w) -> str:
    """Resolved values of :func:`stage_keys`, as one stable string (Snakemake's params trigger)."""
    import json

    from ..params import lookup

    res = resolve(raw)
    # The other keys' resolved values already carry the rehearsal caps, so a cap reruns only the jobs it
    # changes; the tables read the switch itself (their rehearsal label).  DVC, which compares raw
    # values, reruns every job that declares `rehearsal` instead.
    keys = [k for k in stage_keys(raw, rule, **w) if k != "rehearsal"]
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
    cfg = raw["tables"][table]
    if cfg["kind"] == "datasets":
        return [prepared_dir(d) for d in cfg["datasets"]]
    files = []
    for m, d, s in table_runs(raw, table):
        o = finetune_outputs(raw, m, d, s)
        files += [o["metrics"], o["per_example"]]
    return files


def score_cost_inputs(raw: dict) -> list[str]:
    """Every fine-tuning metrics file of the grid (the score side of score-per-cost)."""
    g = raw["grid"]
    return [finetune_outputs(raw, m, d, s)["metrics"]
            for m in g["models"] for d in finetune_datasets(raw) for s in g["seeds"]]


# ------------------------------------------------------------------ the graph
def _cmd(stage: str, log: str, *args: str) -> str:
    """A stage's command line, as DVC hands it to the shell.

    Every word is ``shlex.quote``d, as the Snakemake rules quote theirs with
    ``{x:q}``: ids are validated against the schema's id pattern, but a
    command must stay one command even if a value slipped past it.  Plain ids
    and paths need no quotes, so the text (and dvc.yaml) is unchanged for them.
    """
    return " ".join(shlex.quote(str(a)) for a in ["compactbio", "--log", log, stage, *args])


def jobs(raw: dict) -> list[Job]:
    """Every job of the pipeline for the grid in ``raw`` (unresolved params)."""
    out: list[Job] = []
    g, pre = raw["grid"], raw["pretrain"]
    corpus = corpus_of(raw)
    datasets_used = [*finetune_datasets(raw), corpus]

    for source in dict.fromkeys(raw["datasets"][d]["source"] for d in datasets_used):
        log = f"logs/fetch/{source}.log"
        out.append(Job("fetch", f"fetch@{source}", _cmd("fetch", log, "--source", source, "--out", raw_dir(source)),
                       [], [raw_dir(source)], stage_keys(raw, "fetch", source=source), log))
    for d in datasets_used:
        src = raw_dir(raw["datasets"][d]["source"])
        log = f"logs/prepare/{d}.log"
        out.append(Job("prepare", f"prepare@{d}",
                       _cmd("prepare", log, "--dataset", d, "--raw", src, "--out", prepared_dir(d)),
                       [src], [prepared_dir(d)], stage_keys(raw, "prepare", dataset=d), log))
    for b in pre["base"]:
        log = f"logs/tokenizer/{b}.log"
        out.append(Job("tokenizer", f"tokenizer@{b}",
                       _cmd("tokenizer", log, "--model", b, "--corpus", prepared_dir(corpus), "--out", tokenizer_dir(b)),
                       [prepared_dir(corpus)], [tokenizer_dir(b)], stage_keys(raw, "tokenizer", base=b), log))
        for d in datasets_used:
            log = f"logs/tokenize/{b}/{d}.log"
            out.append(Job("tokenize", f"tokenize@{b}-{d}",
                           _cmd("tokenize", log, "--tokenizer", tokenizer_dir(b), "--dataset", prepared_dir(d),
                                "--out", tokenized_dir(b, d)),
                           [tokenizer_dir(b), prepared_dir(d)], [tokenized_dir(b, d)],
                           stage_keys(raw, "tokenize", dataset=d), log))
        log = f"logs/base_model/{b}.log"
        deps = [tokenizer_dir(b), tokenized_dir(b, corpus)]
        out.append(Job("base_model", f"base_model@{b}",
                       _cmd("base-model", log, "--model", b, "--tokenizer", deps[0], "--corpus", deps[1],
                            "--out", model_dir(b)),
                       deps, [model_dir(b)], stage_keys(raw, "base_model", model=b), log))
    # Compact models start from a base model: the teacher (distill) or the init model (continual).
    for rule, flag, start in (("distill", "--teacher", "teacher"), ("continual", "--init", "init")):
        for m, cfg in pre[rule].items():
            src = cfg[start]
            log = f"logs/{rule}/{m}.log"
            deps = [model_dir(src), tokenized_dir(src, corpus)]
            out.append(Job(rule, f"{rule}@{m}",
                           _cmd(rule, log, "--model", m, flag, deps[0], "--corpus", deps[1], "--out", model_dir(m)),
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
                               _cmd("finetune", log, "--model", m, "--dataset", d, "--seed", str(seed),
                                    "--model-dir", deps[0], "--data", deps[1], "--prepared", deps[2],
                                    "--out", run_dir(m, d, seed)),
                               deps, [o["per_example"], o["predictions"]],
                               stage_keys(raw, f"finetune_{task}"), log,
                               metrics=[o["metrics"]], plots=[o["curve"]]))
    if "efficiency" in raw:
        log = "logs/efficiency/efficiency.log"
        out.append(Job("efficiency", "efficiency", _cmd("efficiency", log, "--out", EFFICIENCY_DIR),
                       [], [EFFICIENCY_DIR], stage_keys(raw, "efficiency"), log, uncached=[EFFICIENCY_DIR]))
        log = "logs/score_cost/score_cost.log"
        out.append(Job("score_cost", "score_cost",
                       _cmd("score-cost", log, "--efficiency", EFFICIENCY_DIR, "--runs", "runs/finetune",
                            "--out", SCORE_COST_DIR),
                       [EFFICIENCY_DIR, *score_cost_inputs(raw)], [SCORE_COST_DIR],
                       stage_keys(raw, "score_cost"), log, uncached=[SCORE_COST_DIR]))
    from ..taskdistill import jobs as task_distill   # its own study; imports this module

    out += task_distill.jobs(raw)
    for t in table_names(raw):
        log = f"logs/table/{t}.log"
        files = [table_file(t, ext) for ext in TABLE_FORMATS]
        out.append(Job("table", f"table@{t}",
                       _cmd("table", log, "--table", t, "--runs", "runs/finetune", "--prepared", "data/prepared",
                            "--out", "results/tables"),
                       table_inputs(raw, t), files, stage_keys(raw, "table", table=t), log, uncached=files))
    return out


# ------------------------------------------------------------------ dvc.yaml
HEADER = """\
# Generated from params.yaml by `compactbio dvc-yaml`: do not edit by hand.
# Re-render after changing the grid, the tables or the pretrain entries
# (tests/test_frontends.py fails while this file is stale).  Hyperparameter
# changes need no re-render: `dvc exp run -S finetune.ner.epochs=3` works as is.
"""


def dvc_plots(raw: dict) -> list:
    """Top-level DVC plots: the efficiency study (learning curves are declared per fine-tune stage)."""
    if "efficiency" not in raw:
        return []
    eff, sc = f"{EFFICIENCY_DIR}/efficiency.csv", f"{SCORE_COST_DIR}/score_cost.csv"
    return [
        f"{EFFICIENCY_DIR}/efficiency.png",
        f"{SCORE_COST_DIR}/score_cost.png",
        {"efficiency_latency": {"template": "bar_horizontal", "x": "latency_128_median_ms", "y": {eff: "label"}}},
        {"efficiency_memory": {"template": "bar_horizontal", "x": "memory_mib", "y": {eff: "label"}}},
        {"score_cost": {"template": "scatter", "x": "latency_share", "y": {sc: "score_share"}}},
    ]


def dvc_stages(raw: dict) -> dict:
    stages = {}
    for job in jobs(raw):
        st: dict = {"cmd": job.cmd}
        if job.deps:
            st["deps"] = list(job.deps)
        st["params"] = list(job.params)
        outs = [o if o not in job.uncached else {o: {"cache": False}} for o in job.outs]
        if outs:
            st["outs"] = outs
        if job.metrics:
            st["metrics"] = [{m: {"cache": False}} for m in job.metrics]
        if job.plots:
            st["plots"] = [{p: {"cache": False, "x": "step", "y": "loss"}} for p in job.plots]
        stages[job.name.replace("@", ".")] = st
    doc: dict = {"stages": stages}
    plots = dvc_plots(raw)
    if plots:
        doc["plots"] = plots
    return doc


def render_dvc_yaml(raw: dict) -> str:
    return HEADER + yaml.safe_dump(dvc_stages(raw), sort_keys=False, width=200)
