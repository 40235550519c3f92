"""Which cascade jobs params.yaml asks for, and where their files go (standard library only).

The job graph (:mod:`compactbio.workflow.graph`), the Snakemake rules
(``workflow/rules/cascade.smk``) and the two stages read the ``cascade``
section through this module, so all of them agree on the pairs:

* ``cascade.models``: ``compact`` (every model of ``grid.models`` whose
  ``models.<id>.kind`` is ``distilled`` or ``continual``: the paper's six
  compact biomedical models) or a list of ids of ``grid.models``;
* ``cascade.fallback``: the model routed to (``biobert``, the tables'
  reference); it must be fine-tuned too (in ``grid.models``).

One pair per (compact model, fine-tuning dataset of the grid, seed): the
compact model's and the fallback's runs on the same dataset and seed.  The
cost side is the efficiency study's CSV, so the study needs an
``efficiency`` section as well.
"""

from __future__ import annotations

RUNS = "runs/cascade"
RESULTS = "results/cascade"
NAME = "cascade"                                   # results/cascade/cascade.<ext>
TABLE_FORMATS = ("tex", "md", "csv", "png", "pdf")
COMPACT_KINDS = ("distilled", "continual")
PAIR_FILES = ("cascade.json", "cascade.csv")


def enabled(raw: dict) -> bool:
    return bool(raw.get("cascade"))


def _grid_datasets(raw: dict) -> list[str]:
    g = raw["grid"]
    return [*g.get("ner", []), *g.get("re", []), *g.get("qa", [])]


def fallback(raw: dict) -> str:
    return raw["cascade"].get("fallback", "biobert")


def compact_models(raw: dict) -> list[str]:
    """The cascade's front-end models, in ``grid.models`` order for ``compact``, as listed otherwise."""
    cfg = raw["cascade"]
    grid = raw["grid"]["models"]
    fb = fallback(raw)
    if fb not in grid:
        raise ValueError(f"params.yaml: cascade.fallback '{fb}' is not in grid.models: the fallback's "
                         "fine-tuning runs are what the compact models route to")
    if "efficiency" not in raw:
        raise ValueError("params.yaml: the cascade section needs the efficiency section (its costs are the "
                         "efficiency study's latencies)")
    models = cfg.get("models", "compact")
    if models == "compact":
        kinds = raw.get("models") or {}
        return [m for m in grid if (kinds.get(m) or {}).get("kind") in COMPACT_KINDS and m != fb]
    for m in models:
        if m not in grid:
            raise ValueError(f"params.yaml: cascade.models: '{m}' is not in grid.models (it has no fine-tuning runs)")
        if m == fb:
            raise ValueError(f"params.yaml: cascade.models: '{m}' is the fallback itself")
    return list(models)


def pairs(raw: dict) -> list[tuple[str, str, int]]:
    """(compact model, dataset, seed) of every cascade job; none without a ``cascade`` section."""
    if not enabled(raw):
        return []
    models = compact_models(raw)
    return [(m, d, s) for m in models for d in _grid_datasets(raw) for s in raw["grid"]["seeds"]]


def pair_dir(model: str, dataset: str, seed) -> str:
    return f"{RUNS}/{model}/{dataset}/seed{seed}"


def pair_files(model: str, dataset: str, seed) -> list[str]:
    return [f"{pair_dir(model, dataset, seed)}/{name}" for name in PAIR_FILES]


def table_files(raw: dict) -> list[str]:
    """The summary's files (none when there is no pair)."""
    return [f"{RESULTS}/{NAME}.{ext}" for ext in TABLE_FORMATS] if pairs(raw) else []
