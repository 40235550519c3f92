"""Tables 2–7: test scores of several models on several datasets, laid out like the paper.

Rows are dataset × metric (NER and RE: F1; QA: S, L, M), grouped by entity or
relation type when the datasets declare one (``datasets.<d>.entity``);
columns are the models.  Each compact model's cell also carries a paired
bootstrap marker against BioBERT (Markdown only) when BioBERT's runs exist.
"""

from __future__ import annotations

import logging

from . import common, significance
from .runs import Results
from .table import Cell, Row, Table, footnote_letter, mark_ranks

logger = logging.getLogger(__name__)


def inputs(spec: dict, seeds: list[int]) -> list[tuple[str, str, int, str]]:
    """(model, dataset, seed, file) every cell of the table needs."""
    return [(m, d, s, f) for d in spec["datasets"] for m in spec["models"] for s in seeds
            for f in ("metrics.json", "per_example.jsonl")]


def _footnotes(spec: dict, models: list[str]) -> tuple[list, dict[int, str]]:
    """Footnotes as (letter, text) when attached to a model column, else plain text."""
    notes, marks, k = [], {}, 0
    for item in spec.get("footnotes", []) or []:
        if isinstance(item, dict):
            letter = footnote_letter(k)
            k += 1
            if item.get("model") in models:
                marks[models.index(item["model"])] = letter
            notes.append((letter, item["text"]))
        else:
            notes.append(str(item))
    return notes, marks


def build(params: dict, name: str, results: Results) -> tuple[Table, list[dict]]:
    spec = params["tables"][name]
    style = common.style_of(params)
    task, models, datasets = spec["task"], list(spec["models"]), list(spec["datasets"])
    decimals, samples = style["decimals"], int(style.get("bootstrap_samples", 1000))
    ref = common.REFERENCE
    entities = {d: common.dataset_spec(params, d).get("entity") or "" for d in datasets}
    with_type = any(entities.values())
    lead = ([common.TYPE_HEADER[task]] if with_type else []) + ["Dataset", "Metric"]
    notes, marks = _footnotes(spec, models)
    results.load([(m, d, task) for d in datasets for m in models])   # this table's runs, one frame
    table = Table(name=name, caption=spec["title"],
                  columns=lead + [common.model_name(params, m) for m in models],
                  align=["l"] * len(lead) + ["r"] * len(models),
                  header_marks={len(lead) + i: letter for i, letter in marks.items()})
    csv_rows: list[dict] = []
    compared = False
    prev_entity = None
    for d in datasets:
        can_compare = ref in models or results.has_run(ref, d)
        if not can_compare:
            logger.info("%s: no %s runs for %s; significance markers omitted", name, ref, d)
        new_group = entities[d] != prev_entity if with_type else task == "qa"
        for j, (label, metric) in enumerate(common.METRIC_ROWS[task]):
            scores = [results.score(m, d, task, metric) for m in models]
            cells = [Cell(value=s.mean, std=s.std) for s in scores]
            mark_ranks(cells, decimals)
            comparisons = {}
            if can_compare:
                for i, m in enumerate(models):
                    if m != ref:
                        comparisons[m] = significance.compare(results, m, ref, d, task, metric, samples)
                        cells[i].marker = comparisons[m].marker
                        compared = True
            head = ([Cell(entities[d] if j == 0 and entities[d] != prev_entity else "")] if with_type else []) \
                + [Cell(common.dataset_name(params, d) if j == 0 else ""), Cell(label)]
            table.rows.append(Row(head + cells, rule_before=j == 0 and new_group and bool(table.rows)))
            for m, s, c in zip(models, scores, cells):
                row = {"table": name, "task": task, "type": entities[d], "dataset": d,
                       "dataset_name": common.dataset_name(params, d), "metric": metric, "model": m,
                       "model_name": common.model_name(params, m), "mean": common.fmt(s.mean),
                       "std": common.fmt(s.std), "n_seeds": len(s.values),
                       "values": ";".join(common.fmt(v) for v in s.values), "rank": c.rank or ""}
                if task == "ner":
                    sub = results.score(m, d, task, "f1_subword")
                    row.update(f1_subword_mean=common.fmt(sub.mean), f1_subword_std=common.fmt(sub.std))
                cmp_ = comparisons.get(m)
                row.update({f"p_value_vs_{ref}": common.fmt(cmp_.p_value) if cmp_ else "",
                            "significance": cmp_.marker if cmp_ else ""})
                csv_rows.append(row)
        prev_entity = entities[d]
    table.notes = notes + [n for n in (common.seeds_note(results.seeds), common.style_note(style)) if n]
    if task == "ner":
        table.notes.append("NER: entity-level F1 on words (a word's tag is its first sub-word's prediction); "
                           "the paper's sub-word F1 is in the CSV and in the `reported` table.")
    table.notes += common.protocol_notes(results.protocols([(m, d) for d in datasets for m in models]), task)
    if compared:
        table.markdown_notes.append(significance.legend(common.model_name(params, ref), samples,
                                                        len(results.seeds)))
    return table, csv_rows
