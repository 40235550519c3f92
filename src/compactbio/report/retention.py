"""How much of BioBERT's score each compact model keeps (the paper's "up to 98.8%").

Retention = 100 × score(model) / score(reference) on the same dataset and
metric, for our runs (mean over seeds of each, then the ratio) and for the
paper's transcribed figures.  Rows are every dataset × metric of the listed
score tables, then the unweighted mean per task and over all rows.

The abstract's headline ("distilled models keep up to 98.8%, continually
pre-trained ones up to 98.6%") matches the NER means of DistilBioBERT (98.84)
and BioDistilBERT (98.59) in the paper panel; CompactBioBERT's NER mean
(98.96) is higher still, so the paper's exact averaging is unclear — the
table shows every row so the reader can pick.
"""

from __future__ import annotations

import logging

from . import common
from .paper_numbers import lookup
from .runs import Results
from .table import Cell, Row, Table, mark_ranks

logger = logging.getLogger(__name__)


def _rows(params: dict, spec: dict) -> list[tuple[str, str, str, str, set]]:
    """(task, dataset, metric label, metric, models that have this dataset in a listed table), in order."""
    seen: dict[tuple[str, str], tuple] = {}
    for t in spec["tables"]:
        ts = params["tables"][t]
        if ts.get("kind") != "scores":
            raise ValueError(f"params.yaml: a retention table lists {t!r}, which is not a scores table")
        for d in ts["datasets"]:
            for label, metric in common.METRIC_ROWS[ts["task"]]:
                key = (d, metric)
                if key not in seen:
                    seen[key] = (ts["task"], d, label, metric, set())
                seen[key][4].update(ts["models"])
    return list(seen.values())


def inputs(params: dict, spec: dict, seeds: list[int]) -> list[tuple[str, str, int, str]]:
    out = []
    for task, d, _, metric, present in _rows(params, spec):
        if metric != common.METRIC_ROWS[task][0][1]:
            continue
        for m in [spec["reference"]] + [m for m in spec["models"] if m in present]:
            out += [(m, d, s, "metrics.json") for s in seeds]
    return list(dict.fromkeys(out))


def ratio(score: float | None, reference: float | None) -> float | None:
    """100 × score / reference; undefined (None) when the reference is 0 or missing."""
    if score is None or reference is None or reference <= 0:
        return None
    return 100.0 * score / reference


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def build(params: dict, name: str, results: Results) -> tuple[Table, list[dict]]:
    spec = params["tables"][name]
    style = common.style_of(params)
    ref, models = spec["reference"], list(spec["models"])
    rows = _rows(params, spec)
    results.load([(m, d, task) for task, d, _, _, present in rows   # the runs the ratios read, one frame
                  for m in [ref, *models] if m == ref or m in present])
    table = Table(name=name, caption=spec["title"],
                  columns=["Task", "Dataset", "Metric"] + [common.model_name(params, m) for m in models],
                  align=["l", "l", "l"] + ["r"] * len(models))
    csv_rows: list[dict] = []

    def ours(m, task, d, metric):   # the paper's measure (sub-word NER F1, the authors' QA protocol)
        return results.score(m, d, task, common.paper_metric(task, metric)).mean

    def paper(m, task, d, metric):
        fig = lookup(m, d, metric)
        return None if fig is None else fig.value

    for source, get in (("ours", ours), ("paper", paper)):
        table.rows.append(Row([], section="Ours" if source == "ours" else "Paper (reported figures)"))
        per_task: dict[str, list[list[float | None]]] = {}
        all_rows: list[list[float | None]] = []
        prev: tuple = (None, None)

        def add(task_cell, dataset_cell, metric_cell, values, rule):
            cells = [Cell(value=v) if v is not None else Cell("–") for v in values]
            mark_ranks(cells, style["decimals"])
            table.rows.append(Row([Cell(task_cell), Cell(dataset_cell), Cell(metric_cell)] + cells,
                                  rule_before=rule))

        for task, d, label, metric, present in rows:
            reference = get(ref, task, d, metric)
            if reference is not None and reference <= 0:
                logger.warning("%s: %s scores 0 on %s %s; retention undefined", name, ref, d, metric)
            values = []
            for m in models:
                score = get(m, task, d, metric) if (source == "paper" or m in present) else None
                r = ratio(score, reference)
                values.append(r)
                csv_rows.append({"source": source, "task": task, "dataset": d, "metric": metric, "model": m,
                                 "model_name": common.model_name(params, m),
                                 "score": common.fmt(score), "reference_score": common.fmt(reference),
                                 "retention": common.fmt(r)})
            per_task.setdefault(task, []).append(values)
            all_rows.append(values)
            first_metric = (task, d) != prev
            add(common.TASK_NAMES[task] if task != prev[0] else "",
                common.dataset_name(params, d) if first_metric else "",
                label if len(common.METRIC_ROWS[task]) > 1 else "", values, task != prev[0] and prev[0] is not None)
            prev = (task, d)
        first = True
        for task, block in list(per_task.items()) + [("all", all_rows)]:
            means = [_mean([row[i] for row in block]) for i in range(len(models))]
            add("All" if task == "all" else common.TASK_NAMES[task], "Mean", "", means, first)
            first = False
            for m, v in zip(models, means):
                csv_rows.append({"source": source, "task": task, "dataset": "mean", "metric": "", "model": m,
                                 "model_name": common.model_name(params, m), "score": "",
                                 "reference_score": "", "retention": common.fmt(v)})
    table.notes = [
        f"Retention (%) = 100 × model score / {common.model_name(params, ref)} score on the same dataset and "
        f"metric; means are unweighted over rows. Ours: ratio of the mean scores over "
        f"{len(results.seeds)} seed(s) ({', '.join(str(s) for s in results.seeds)}).",
        "–: not available (no run in the listed tables, or a reference score of 0).",
        "Ours is measured as the paper's figures are: NER entity F1 on sub-word tag sequences (seqeval, "
        "as the authors' ner.py), BioASQ under the authors' protocol (one answer per snippet).",
    ]
    pairs = {(m, d): None for _, d, _, _, present in rows for m in [ref, *models] if m == ref or m in present}
    table.notes += common.protocol_notes(results.protocols(pairs), None, qa_shown="authors")
    note = common.style_note(style)
    if note:
        table.notes.append(note)
    return table, csv_rows
