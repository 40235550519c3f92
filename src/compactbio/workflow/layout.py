"""Where the pipeline's files live, what a job is, and how its command is quoted.

Shared by the job graph (:mod:`compactbio.workflow.graph`) and the studies that
add jobs of their own (:mod:`compactbio.taskdistill.jobs`), so imports stay
one-way: both import this module, which imports none of them.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

TASK_OF_FORMAT = {"biobert_ner": "ner", "gad": "re", "chemprot": "re", "bioasq": "qa", "corpus": "mlm"}
PREDICTIONS = {"ner": "predictions.conll", "re": "predictions.tsv", "qa": "predictions.json"}
TABLE_FORMATS = ("tex", "md", "csv", "html")   # compactbio.report.stage.FORMATS


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
RESULTS_DIR = "results"   # the results stage's runs.csv, runs.parquet, efficiency.csv, curves/


def with_rehearsal(raw: dict, keys: list[str]) -> list[str]:
    if "rehearsal" in raw and "scale" in keys and "rehearsal" not in keys:
        i = keys.index("scale") + 1
        keys = [*keys[:i], "rehearsal", *keys[i:]]
    return keys


def model_keys(raw: dict, models) -> list[str]:
    """``models.<m>`` for each model (display name and kind), not the other models' entries."""
    return [f"models.{m}" for m in dict.fromkeys(models) if m in raw.get("models", {})]


def command(stage: str, log: str, *args: str) -> str:
    """A stage's command line, as DVC hands it to the shell.

    Every word is ``shlex.quote``d, as the Snakemake rules quote theirs with
    ``{x:q}``: ids are validated against the schema's id pattern, but a
    command must stay one command even if a value slipped past it.  Plain ids
    and paths need no quotes, so the text (and dvc.yaml) is unchanged for them.
    """
    return " ".join(shlex.quote(str(a)) for a in ["compactbio", "--log", log, stage, *args])
