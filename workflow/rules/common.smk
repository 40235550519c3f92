# Shared helpers: params loading (validated before any job starts) and the
# job graph that also renders dvc.yaml, so both front ends agree.

from compactbio.params import ParamsError, load_params, resolve
from compactbio.workflow import graph


try:
    PARAMS = load_params("params.yaml")
except ParamsError as exc:
    raise WorkflowError(str(exc)) from None

# The resolved parameters, shown as "run parameters" by `snakemake --report`.
config.update(resolve(PARAMS))

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


def datasets_of(task):
    return [d for d in [*graph.finetune_datasets(PARAMS), CORPUS] if graph.task_of(PARAMS, d) == task]


wildcard_constraints:
    source=alternation({d["source"] for d in PARAMS["datasets"].values()}),
    dataset=alternation(PARAMS["datasets"]),
    base=alternation(PRE["base"]),
    seed=r"\d+",
    table=alternation(TABLES),
