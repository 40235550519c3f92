"""The cascade table: per compact model and dataset, how little routing keeps 99 % / 99.5 % of BioBERT's score.

A small renderer of its own (Markdown, CSV, LaTeX with booktabs) rather than
the report package's Table/Cell model: the cells here are composite ("23 %
(0.75x)") and carry no best/second-best ranking.

Seeds: every number is the mean over the seeds of a (model, dataset) pair.
The area's interval is the percentile interval of the seed-mean area over
the bootstrap resamples: all seeds are scored on the same test examples and
draw the same resampled indices (``routing.bootstrap_area``), so the areas
are averaged resample by resample, a paired bootstrap of the mean.

CSV columns (:func:`columns`): ``model, dataset, task, metric, fallback,
confidence_field, seeds, n_seeds, n_test, compact_score, fallback_score,
compact_retained, compact_relative_cost``, then per target ``K`` (``99``,
``99.5``) ``test_share_K, test_relative_cost_K, val_share_K,
val_threshold_K, test_share_at_val_K, test_score_at_val_K,
test_retained_at_val_K, test_relative_cost_at_val_K``, then ``area,
area_ci_low, area_ci_high, area_fraction_not_positive, timing_warning``.
Scores, shares and areas are fractions; relative costs are multiples of
BioBERT alone; a value that does not exist (no validation split; a threshold
averaged over seeds) is empty.
"""

from __future__ import annotations

import csv
import io
from typing import Sequence

import numpy as np

from ..data.errors import DataError
from . import routing

BASE_COLUMNS = ("model", "dataset", "task", "metric", "fallback", "confidence_field", "seeds", "n_seeds", "n_test",
                "compact_score", "fallback_score", "compact_retained", "compact_relative_cost")
PER_TARGET = ("test_share", "test_relative_cost", "val_share", "val_threshold", "test_share_at_val",
              "test_score_at_val", "test_retained_at_val", "test_relative_cost_at_val")
AREA_COLUMNS = ("area", "area_ci_low", "area_ci_high", "area_fraction_not_positive", "timing_warning")
METRIC_NAMES = {"f1": "F1", "precision": "precision", "recall": "recall", "f1_binary": "binary F1",
                "f1_macro": "macro-F1", "f1_micro": "micro-F1", "strict": "strict accuracy",
                "lenient": "lenient accuracy", "mrr": "MRR"}
METRIC_DEFINITIONS = {
    "ner": "NER: entity-level F1 (seqeval, word level) recomputed over the combined predictions from the "
           "summed per-sentence counts",
    "re": "RE: F1 of the combined predictions (GAD binary F1, ChemProt macro-F1 over labels in gold or "
          "predictions)",
    "qa": "QA: BioASQ factoid score of the combined answers"}
CONFIDENCE_TEXT = {
    ("ner", routing.CONFIDENCE): "the lowest probability among the sentence's predicted entity tokens",
    ("ner", routing.CONFIDENCE_WORD_MIN): "the lowest max-probability of any word of the sentence",
    ("re", routing.CONFIDENCE): "the top class probability",
    ("qa", routing.CONFIDENCE): "the top answer's probability"}


def columns(targets: Sequence[float]) -> list[str]:
    keys = [routing.target_key(t) for t in targets]
    return list(BASE_COLUMNS) + [f"{c}_{k}" for k in keys for c in PER_TARGET] + list(AREA_COLUMNS)


def _mean(values: list):
    return None if not values or any(v is None for v in values) else float(np.mean(values))


def _check_same(group: list[dict], sources: list[str], keys: Sequence[tuple[str, ...]]) -> None:
    def get(d, path):
        for p in path:
            d = d.get(p) if isinstance(d, dict) else None
        return d

    for path in keys:
        first = get(group[0], path)
        for res, src in zip(group[1:], sources[1:]):
            if get(res, path) != first:
                raise DataError(src, f"{'.'.join(path)} is {get(res, path)!r} but {sources[0]} (same model and "
                                     f"dataset, another seed) has {first!r}; the seeds of a pair must match")


def _groups(results: Sequence[dict], sources: Sequence[str]) -> list[tuple[list[dict], list[str]]]:
    """Results grouped by (compact model, dataset); datasets in order of first appearance, models within."""
    groups: dict[tuple[str, str], tuple[list, list]] = {}
    for res, src in zip(results, sources):
        g = groups.setdefault((res["compact_model"], res["dataset"]), ([], []))
        g[0].append(res)
        g[1].append(src)
    datasets = list(dict.fromkeys(d for _, d in groups))
    models = list(dict.fromkeys(m for m, _ in groups))
    return [groups[(m, d)] for d in datasets for m in models if (m, d) in groups]


def summarise(results: Sequence[dict], sources: Sequence[str] | None = None) -> list[dict]:
    """One row per (compact model, dataset), means over its seeds (see the module docstring for columns)."""
    sources = list(sources) if sources is not None else [f"result {i + 1}" for i in range(len(results))]
    if not results:
        raise ValueError("no cascade results to tabulate")
    fallbacks = {r["fallback_model"] for r in results}
    if len(fallbacks) > 1:
        raise ValueError(f"cascade results with different fallback models {sorted(fallbacks)}: one table, one fallback")
    targets = results[0]["targets"]
    rows = []
    for group, srcs in _groups(results, sources):
        _check_same(group, srcs, [("task",), ("metric",), ("confidence_field",), ("targets",), ("test", "n"),
                                  ("test", "ids_sha256"), ("test", "area", "n_samples"), ("test", "area", "seed"),
                                  ("test", "area", "alpha")])
        if group[0]["targets"] != targets:
            raise DataError(srcs[0], f"targets {group[0]['targets']} differ from the other pairs' {targets}")
        first, metric = group[0], group[0]["metric"]
        tests = [r["test"] for r in group]
        row = {"model": first["compact_model"], "dataset": first["dataset"], "task": first["task"], "metric": metric,
               "fallback": first["fallback_model"], "confidence_field": first["confidence_field"],
               "seeds": " ".join(str(r["seed"]) for r in group), "n_seeds": len(group), "n_test": first["test"]["n"],
               "compact_score": _mean([t["compact"][metric] for t in tests]),
               "fallback_score": _mean([t["fallback"][metric] for t in tests]),
               "compact_relative_cost": _mean([r["latency"]["compact_relative"] for r in group])}
        row["compact_retained"] = (row["compact_score"] / row["fallback_score"]) if row["fallback_score"] else None
        for t in targets:
            key = routing.target_key(t)
            on_test = [x["targets"][key] for x in tests]
            chosen = [(r.get("validation_thresholds") or {}).get(key) for r in group]
            have = all(c is not None for c in chosen)

            def at_val(part: str, field: str, chosen=chosen, have=have):
                return _mean([c[part][field] for c in chosen]) if have else None

            row.update({
                f"test_share_{key}": _mean([p["share"] for p in on_test]),
                f"test_relative_cost_{key}": _mean([p["relative_cost"] for p in on_test]),
                f"val_share_{key}": at_val("validation", "share"),
                f"val_threshold_{key}": chosen[0]["validation"]["threshold"] if have and len(group) == 1 else None,
                f"test_share_at_val_{key}": at_val("test", "share"),
                f"test_score_at_val_{key}": at_val("test", "score"),
                f"test_relative_cost_at_val_{key}": at_val("test", "relative_cost")})
            score = row[f"test_score_at_val_{key}"]
            row[f"test_retained_at_val_{key}"] = (score / row["fallback_score"]
                                                  if score is not None and row["fallback_score"] else None)
        areas = [t["area"] for t in tests]
        alpha = areas[0]["alpha"]
        samples = np.mean([np.asarray(a["samples"], dtype=np.float64) for a in areas], axis=0)
        lo, hi = np.percentile(samples, [100 * alpha / 2, 100 * (1 - alpha / 2)])
        row.update({"area": _mean([a["value"] for a in areas]), "area_ci_low": float(lo), "area_ci_high": float(hi),
                    "area_fraction_not_positive": float(np.mean(samples <= 0)),
                    "timing_warning": "; ".join(dict.fromkeys(r["latency"]["timing_warning"] for r in group
                                                              if r["latency"].get("timing_warning")))})
        rows.append({c: row.get(c) for c in columns(targets)})
    return rows


def mean_curves(results: Sequence[dict]) -> list[dict]:
    """Per (compact model, dataset), the test curves averaged over seeds, for the figure."""
    out = []
    for group, _ in _groups(results, [""] * len(results)):
        curves = [r["test"]["curve"] for r in group]
        arr = {k: np.mean([[p[k] for p in c] for c in curves], axis=0)
               for k in ("relative_cost", "score", "random_score", "share")}
        out.append({"model": group[0]["compact_model"], "dataset": group[0]["dataset"],
                    "metric": group[0]["metric"], "fallback": group[0]["fallback_model"], **arr,
                    "compact": (float(np.mean([r["latency"]["compact_relative"] for r in group])),
                                float(arr["score"][0])),
                    "fallback_alone": (1.0, float(arr["score"][-1]))})
    return out


# ---------------------------------------------------------------- rendering

def _fmt_csv(value) -> str:
    if value is None:
        return ""
    return format(value, ".6g") if isinstance(value, float) else str(value)


def to_csv(rows: list[dict], scale: str | None = None) -> str:
    """The rows as CSV (full precision); ``scale``, when given, is a first column on every row."""
    buf = io.StringIO()
    names = (["scale"] if scale else []) + list(rows[0])
    writer = csv.DictWriter(buf, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**({"scale": scale} if scale else {}), **{k: _fmt_csv(v) for k, v in row.items()}})
    return buf.getvalue()


def _pct(share) -> str:
    value = 100 * share
    return f"{value:.0f}%" if abs(value - round(value)) < 1e-9 else f"{value:.1f}%"


def _times(cost, times: str) -> str:
    return f"{cost:.2f}{times}"


def _cells(row: dict, targets: list[str], times: str, displays: dict, dataset_names: dict) -> list[str]:
    na = "n/a"
    cells = [displays.get(row["model"], row["model"]), dataset_names.get(row["dataset"], row["dataset"]),
             f"{100 * row['compact_score']:.1f}", f"{100 * row['fallback_score']:.1f}",
             _times(row["compact_relative_cost"], times)]
    for key in targets:
        cells.append(f"{_pct(row[f'test_share_{key}'])} ({_times(row[f'test_relative_cost_{key}'], times)})")
    for key in targets:
        if row[f"test_share_at_val_{key}"] is None:
            cells.append(na)
            continue
        kept = row[f"test_retained_at_val_{key}"]
        cells.append(f"{_pct(row[f'test_share_at_val_{key}'])}, {na if kept is None else f'{100 * kept:.1f}%'} kept "
                     f"({_times(row[f'test_relative_cost_at_val_{key}'], times)})")
    cells.append(f"{100 * row['area']:+.2f} [{100 * row['area_ci_low']:+.2f}, {100 * row['area_ci_high']:+.2f}]")
    return cells


def _targets(rows: list[dict]) -> list[str]:
    return [c[len("test_share_"):] for c in rows[0] if c.startswith("test_share_") and "_at_" not in c]


def headers(rows: list[dict], fallback: str) -> list[str]:
    keys = _targets(rows)
    return (["Model", "Dataset", "Compact", fallback, "Compact cost"]
            + [f"Keep {k}%: routed (cost)" for k in keys]
            + [f"Val.-chosen {k}%: routed, kept (cost)" for k in keys]
            + ["Area ×100 [95% CI]"])


def caption(results: Sequence[dict], displays: dict | None = None, dataset_names: dict | None = None) -> str:
    displays = displays or {}
    first = results[0]
    fb = displays.get(first["fallback_model"], first["fallback_model"])
    lat, area = first["latency"], first["test"]["area"]
    seeds = sorted({len([r for r in results if (r["compact_model"], r["dataset"]) == (m, d)])
                    for m, d in {(r["compact_model"], r["dataset"]) for r in results}})
    seed_text = "one seed" if seeds == [1] else "mean over seeds"
    return (f"A compact model as the front-end of {fb}: the test examples on which the compact model is least "
            f"confident are routed to {fb}. Compact and {fb}: test scores (×100) of each alone; costs are expected "
            f"milliseconds per example (compact latency + routed share × {fb} latency; batch 1, length "
            f"{lat['seq_length']}, {lat['device']}) relative to {fb} alone. Keep K%: the smallest routed share "
            f"of test examples whose combined test score keeps K% of {fb}'s (read off the test curve). "
            f"Val.-chosen: the confidence threshold that keeps K% on the validation split, applied to test "
            f"(share routed, share of {fb}'s test score kept). Area: between the confidence-routing and the "
            f"random-routing curves over the routed share (score ×100), with a {100 * (1 - area['alpha']):g}% "
            f"paired bootstrap interval over test examples ({area['n_samples']} resamples); {seed_text}.")


def notes(rows: list[dict]) -> list[str]:
    out = []
    for task in dict.fromkeys(r["task"] for r in rows):
        fields = dict.fromkeys(r["confidence_field"] for r in rows if r["task"] == task)
        conf = "; ".join(CONFIDENCE_TEXT.get((task, f), f) for f in fields)
        out.append(f"{METRIC_DEFINITIONS[task]}; confidence: {conf}.")
    metrics = ", ".join(f"{r['dataset']}: {METRIC_NAMES.get(r['metric'], r['metric'])}"
                        for r in {r["dataset"]: r for r in rows}.values())
    out.append(f"Scores: {metrics}.")
    if any(r["test_share_at_val_" + _targets(rows)[0]] is None for r in rows):
        out.append("n/a: no per-example records of a validation split, so no threshold could be chosen "
                   "without looking at test.")
    for r in rows:
        if r["timing_warning"]:
            out.append(f"{r['model']}: costs rest on noisy timings ({r['timing_warning']}).")
    return out


def to_markdown(rows: list[dict], caption_text: str, displays: dict | None = None,
                dataset_names: dict | None = None) -> str:
    displays, dataset_names = displays or {}, dataset_names or {}
    heads = headers(rows, displays.get(rows[0]["fallback"], rows[0]["fallback"]))
    lines = [caption_text, "", "| " + " | ".join(heads) + " |",
             "|" + "|".join(["---"] * 2 + ["---:"] * (len(heads) - 2)) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cells(row, _targets(rows), "×", displays, dataset_names)) + " |")
    lines.append("")
    lines += [f"{n}  " for n in notes(rows)[:-1]] + notes(rows)[-1:]
    return "\n".join(lines) + "\n"


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "×": r"$\times$", "<": r"\textless{}",
        ">": r"\textgreater{}"}


def tex_escape(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in str(text))


def to_latex(rows: list[dict], caption_text: str, label: str = "tab:cascade", displays: dict | None = None,
             dataset_names: dict | None = None) -> str:
    """booktabs ``table*`` (ten columns), a ``\\midrule`` between datasets, the notes below."""
    displays, dataset_names = displays or {}, dataset_names or {}
    heads = headers(rows, displays.get(rows[0]["fallback"], rows[0]["fallback"]))
    lines = [r"\begin{table*}[t]", r"\centering", r"\small", r"\caption{" + tex_escape(caption_text) + "}",
             rf"\label{{{label}}}", r"\begin{tabular}{ll" + "r" * (len(heads) - 2) + "}", r"\toprule",
             " & ".join(tex_escape(h) for h in heads) + r" \\", r"\midrule"]
    previous = None
    for row in rows:
        if previous is not None and row["dataset"] != previous:
            lines.append(r"\midrule")
        previous = row["dataset"]
        lines.append(" & ".join(tex_escape(c) for c in _cells(row, _targets(rows), "×", displays, dataset_names))
                     + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [r"\par\smallskip{\footnotesize " + tex_escape(n) + "}" for n in notes(rows)]
    lines.append(r"\end{table*}")
    return "\n".join(lines) + "\n"
