"""Our scores beside the paper's reported ones, with the difference, figure by figure.

One row per (table, dataset, metric, model) of the score tables listed in
``tables.<name>.tables``; the paper figure is looked up in the paper's table
of the same number (``table2`` -> Table 2) when it holds that figure, so the
cited source is exact.  Figures the paper does not report show "–".

Like is compared with like (``common.PAPER_METRIC``): NER is our sub-word
entity F1 (``f1_subword``: seqeval on sub-word tag sequences, as the authors'
``ner.py``), with our word-level F1 beside it; BioASQ is scored under the
authors' protocol (``strict_authors``, ...: one answer per snippet, as their
``qa.py``) whatever ``finetune.qa.scoring`` the score tables show.
"""

from __future__ import annotations

import re

from . import common
from .paper_numbers import PAPER_TABLES, lookup
from .runs import Results
from .table import Cell, Row, Table


def _paper_table(name: str, task: str) -> int | None:
    m = re.fullmatch(r"table(\d+)", name)
    if m and int(m.group(1)) in PAPER_TABLES and PAPER_TABLES[int(m.group(1))][0] == task:
        return int(m.group(1))
    return None


def inputs(params: dict, spec: dict, seeds: list[int]) -> list[tuple[str, str, int, str]]:
    out = []
    for t in spec["tables"]:
        ts = params["tables"][t]
        out += [(m, d, s, "metrics.json") for d in ts["datasets"] for m in ts["models"] for s in seeds]
    return out


def build(params: dict, name: str, results: Results) -> tuple[Table, list[dict]]:
    spec = params["tables"][name]
    style = common.style_of(params)
    table = Table(name=name, caption=spec["title"],
                  columns=["Dataset", "Metric", "Model", "Paper", "Ours", "Δ", "Ours (word F1)"],
                  align=["l", "l", "l", "r", "r", "r", "r"], long=True)
    csv_rows: list[dict] = []
    diffs: list[float] = []
    pairs: dict[tuple[str, str], None] = {}
    tasks: set[str] = set()
    for t in spec["tables"]:
        ts = params["tables"][t]
        if ts.get("kind") != "scores":
            raise ValueError(f"params.yaml: tables.{name}.tables lists {t!r}, which is not a scores table")
    # The runs of every listed table, read into one frame.
    results.load([(m, d, params["tables"][t]["task"]) for t in spec["tables"]
                  for d in params["tables"][t]["datasets"] for m in params["tables"][t]["models"]])
    for t in spec["tables"]:
        ts = params["tables"][t]
        task, prefer = ts["task"], _paper_table(t, ts["task"])
        label = f"Table {t[5:]}" if re.fullmatch(r"table\d+", t) else t
        table.rows.append(Row([], section=label))
        for d in ts["datasets"]:
            for j, (mlabel, metric) in enumerate(common.METRIC_ROWS[task]):
                for k, m in enumerate(ts["models"]):
                    pairs[(m, d)] = None
                    tasks.add(task)
                    key = common.paper_metric(task, metric)
                    ours = results.score(m, d, task, key)
                    word = results.score(m, d, task, "f1") if task == "ner" else None
                    fig = lookup(m, d, metric, prefer)
                    diff = None if fig is None else ours.mean - fig.value
                    if diff is not None:
                        diffs.append(diff)
                    table.rows.append(Row(
                        [Cell(common.dataset_name(params, d) if j == 0 and k == 0 else ""),
                         Cell(mlabel if k == 0 else ""), Cell(common.model_name(params, m)),
                         Cell(value=fig.value) if fig is not None else Cell("–"),
                         Cell(value=ours.mean, std=ours.std),
                         Cell(value=diff, signed=True) if diff is not None else Cell("–"),
                         Cell(value=word.mean, std=word.std) if word is not None else Cell("–")],
                        rule_before=j == 0 and k == 0 and table.rows[-1].section is None))
                    csv_rows.append({"table": t, "task": task, "dataset": d, "metric": metric, "model": m,
                                     "model_name": common.model_name(params, m),
                                     "paper": "" if fig is None else f"{fig.value:.2f}",
                                     "ours_metric": key,
                                     "ours": common.fmt(ours.mean), "ours_std": common.fmt(ours.std),
                                     "ours_word_f1": "" if word is None else common.fmt(word.mean),
                                     "diff": common.fmt(diff),
                                     "paper_source": "" if fig is None else fig.source,
                                     "paper_line": "" if fig is None else fig.line})
    table.notes = [common.seeds_note(results.seeds),
                   "Paper: the figures reported in the paper's Tables 2–7 (the CSV gives each one's "
                   "table, row and line of the paper's text). Δ = ours − paper, in points.",
                   "Ours, as the paper measured: NER entity F1 on sub-word tag sequences (seqeval over every "
                   "sub-word, as the authors' ner.py; our word-level F1, first sub-word per word, in the last "
                   "column); BioASQ under the authors' protocol."]
    table.notes += common.protocol_notes(results.protocols(pairs), None if "qa" in tasks else "ner",
                                         qa_shown="authors")
    if diffs:
        mean_abs = sum(abs(x) for x in diffs) / len(diffs)
        table.notes.append(f"Mean |Δ| over {len(diffs)} figures: {mean_abs:.{style['decimals']}f} points.")
    return table, csv_rows
