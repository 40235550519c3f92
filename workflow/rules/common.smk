# Shared helpers: params loading (validated before any job starts) and the
# job graph that also renders dvc.yaml, so both front ends agree.

from pathlib import Path

from snakemake.logging import logger

from compactbio.params import ParamsError, load_params, resolve
from compactbio.cascade import plan as cascade_plan
from compactbio.workflow import graph


try:
    PARAMS = load_params("params.yaml")
except ParamsError as exc:
    raise WorkflowError(str(exc)) from None

# params.yaml is the only configuration, shared with DVC: a value given with --config or
# --configfile would be silently ignored (no rule reads `config`), so refuse it.  Checked
# before anything below adds its own entries to `config`.
if config:
    _given = sorted(config)
    raise WorkflowError(
        f"snakemake --config/--configfile is not used ({', '.join(_given)}): params.yaml is the only "
        "configuration of this workflow (DVC reads it too). Edit params.yaml, or with DVC run "
        f"`dvc exp run -S {_given[0]}=...`."
    )

# Snakemake itself follows params.yaml; DVC runs the stages of dvc.yaml, rendered from it, and
# each stage depends on its values file, runs/params/<stage>.json (graph.write_values: the same
# values as the params triggers here).  In a DVC repository keep those files current, so that
# `dvc commit` after this run records the values it ran with, and `dvc status` names the stages
# a params change makes stale; when dvc.yaml itself is stale, say so instead.
if workflow.is_main_process and Path(".dvc").is_dir() and Path("dvc.yaml").is_file():
    if Path("dvc.yaml").read_text(encoding="utf-8") != graph.render_dvc_yaml(PARAMS):
        logger.warning(
            "dvc.yaml is stale for params.yaml: run `compactbio dvc-yaml` before `dvc commit` or `dvc repro`"
        )
    else:
        graph.write_values(PARAMS)

# What `snakemake --report` shows on its front page (workflow/report/workflow.rst): a short
# summary, the table titles and the resolved params for a collapsed section.  Not the params
# themselves: Snakemake would render them as one enormous panel.
from compactbio.report.front_page import summary as _report_summary

config["compactbio"] = _report_summary(PARAMS)

ENV = "../envs/compactbio.yaml"
PRE = PARAMS["pretrain"]
GRID = PARAMS["grid"]
CORPUS = graph.corpus_of(PARAMS)
TABLES = graph.table_names(PARAMS)


def alternation(names):
    """Wildcard constraint matching exactly these ids."""
    return "|".join(re.escape(n) for n in names)


def values(rule, **wildcards):
    """A params-trigger value: the resolved params.yaml keys this job reads."""
    return graph.stage_values(PARAMS, rule, **wildcards)


# Scheduling.  The longest chain runs corpus -> tokenizers -> tokenized corpus -> BioBERT -> v1.2 (the
# teacher) -> distillation -> the students' fine-tunes.  Snakemake does not hand a job's priority down
# to the jobs it waits for, so each job feeding pre-training carries one itself (fine-tunes: 0).  On
# the demo's two cores, without it the teacher's tokenizer waited behind a hundred fine-tunes and
# distillation began 3.5 minutes in.
TEACHERS = {t for cfg in PRE["distill"].values() for t in (cfg["teacher"], graph.base_init(PARAMS, cfg["teacher"])) if t}
CORPUS_SOURCE = PARAMS["datasets"][CORPUS]["source"]


def pretraining_priority(job, **w):
    """fetch, prepare, tokenize: 40 for the corpus's jobs (tokenizers: 40 too); base_model: 35 for the
    teacher and the model it continues, 30 for the others (distill: 20, continual: 10)."""
    if job == "base_model":
        return 35 if w["model"] in TEACHERS else 30
    return 40 if w.get("source") == CORPUS_SOURCE or w.get("dataset") == CORPUS else 0


def base_model_inputs(w):
    init = graph.base_init(PARAMS, w.model)   # BioBERT v1.2 continues v1.1
    return {"tokenizer": graph.tokenizer_dir(w.model), "corpus": graph.tokenized_dir(w.model, CORPUS),
            **({"init": graph.model_dir(init)} if init else {})}


def cascade_inputs(w):
    """Both runs' metrics and per-example files (test and validation), the prepared dataset
    (task, labels) and the efficiency study (latencies)."""
    fallback = cascade_plan.fallback(PARAMS)
    files = {}
    for who, model in (("compact", w.model), ("fallback", fallback)):
        o = graph.finetune_outputs(PARAMS, model, w.dataset, w.seed)
        files.update({f"{who}_{k}": o[k] for k in ("metrics", "per_example", "per_example_validation")})
    return {**files, "prepared": graph.prepared_dir(w.dataset), "efficiency": graph.EFFICIENCY_DIR}


def datasets_of(task):
    return [d for d in [*graph.finetune_datasets(PARAMS), CORPUS] if graph.task_of(PARAMS, d) == task]


wildcard_constraints:
    source=alternation({d["source"] for d in PARAMS["datasets"].values()}),
    dataset=alternation(PARAMS["datasets"]),
    base=alternation(PRE["base"]),
    seed=r"\d+",
    table=alternation(TABLES),
