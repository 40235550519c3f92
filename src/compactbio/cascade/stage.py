"""The cascade stage: one (compact model, dataset, seed) with BioBERT as the fallback, and the summary.

:func:`run_cascade` reads both systems' per-example files of the test split
(and, when there is one, of the validation split), the efficiency study's CSV,
and writes ``cascade.json`` and ``cascade.csv`` into ``out`` atomically.
:func:`run_summary` reads the ``cascade.json`` of many pairs and writes the
table (``.md``, ``.csv``, ``.tex``) and the figure (``.png``, ``.pdf``).

``cascade.json``::

    {"kind": "cascade", "task", "dataset", "compact_model", "fallback_model", "seed",
     "metric", "confidence_field", "labels" (RE), "targets": [0.99, 0.995],
     "latency": {"device", "seq_length", "compact_ms", "fallback_ms", "compact_relative", "source",
                 "timing_warning"},
     "inputs": {"compact_test", "fallback_test", "compact_validation", "fallback_validation", "efficiency"},
     "test": {"n", "ids_sha256", "compact": {metric: score}, "fallback": {...},
              "curve": [{"share_pct", "k", "share", "threshold", "threshold_share", "cost_ms",
                         "relative_cost", "score", "random_score", <metric>, "random_<metric>", ...}] (101 rows),
              "targets": {"99": {"target", "share_pct", "k", "share", "threshold", "threshold_share",
                                 "score", "reference", "retained", "cost_ms", "relative_cost"}, "99.5": ...},
              "area": {"value", "ci_low", "ci_high", "alpha", "n_samples", "seed",
                       "fraction_not_positive", "samples": [...]}},
     "validation": null | {"n", "ids_sha256", "compact", "fallback", "curve", "targets", "area": {"value"}},
     "validation_thresholds": null | {"99": {"target", "validation": {... as a test target},
                                              "test": {"threshold", "k", "share", "scores", "score",
                                                       "reference", "retained", "cost_ms", "relative_cost"}}},
     "validation_note": "" | why there are no validation-chosen thresholds}

``cascade.csv``: the curves, one row per split and share, columns
:data:`CURVE_COLUMNS` then ``<metric>`` and ``random_<metric>`` for every metric of the task.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from pathlib import Path
from typing import Sequence

from ..data.errors import DataError
from ..io import atomic_dir, atomic_write_text, write_json
from . import routing
from .cost import DEFAULT_DEVICE, DEFAULT_SEQ_LENGTH, Latencies, read_latencies

logger = logging.getLogger(__name__)

CURVE_COLUMNS = ("split", "share_pct", "k", "n", "share", "threshold", "threshold_share", "cost_ms",
                 "relative_cost", "score", "random_score")


def read_records(path: str | Path, task: str, confidence_field: str | None = None,
                 allow_empty: bool = False) -> list[dict]:
    """One per_example.jsonl, every line checked (:func:`routing.record_problem`); errors name file and line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found (the fine-tuning run has not produced it)")
    records = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(path, f"not valid JSON ({exc.msg})", lineno) from None
            problem = routing.record_problem(rec, task, confidence_field)
            if problem:
                raise DataError(path, problem, lineno)
            records.append(rec)
    if not records and not allow_empty:
        raise DataError(path, "no per-example records")
    return records


def _ids_sha256(ids: Sequence) -> str:
    return hashlib.sha256("\n".join(map(str, ids)).encode("utf-8")).hexdigest()


def _curve_rows(c: routing.Curve, metric: str, lat: Latencies) -> list[dict]:
    cost = lat.cost_ms(c.share)
    rows = []
    for i, pct in enumerate(routing.SHARES_PCT):
        row = {"share_pct": int(pct), "k": int(c.k[i]), "share": float(c.share[i]), "threshold": c.threshold[i],
               "threshold_share": float(c.threshold_share[i]), "cost_ms": float(cost[i]),
               "relative_cost": float(cost[i] / lat.fallback_ms),
               "score": float(c.scores[metric][i]), "random_score": float(c.random[metric][i])}
        row.update({m: float(v[i]) for m, v in c.scores.items()})
        row.update({f"random_{m}": float(v[i]) for m, v in c.random.items()})
        rows.append(row)
    return rows


def _with_cost(point: dict, lat: Latencies) -> dict:
    return {**point, "cost_ms": float(lat.cost_ms(point["share"])),
            "relative_cost": float(lat.relative_cost(point["share"]))}


def _split_summary(split: routing.Split, c: routing.Curve, metric: str, lat: Latencies,
                   targets: Sequence[float]) -> dict:
    return {"n": split.n, "ids_sha256": _ids_sha256(split.ids),
            "compact": {m: float(v[0]) for m, v in c.scores.items()},
            "fallback": {m: float(v[-1]) for m, v in c.scores.items()},
            "curve": _curve_rows(c, metric, lat),
            "targets": {k: _with_cost(v, lat) for k, v in routing.targets_on_curve(c, metric, targets).items()}}


def _fmt(value) -> str:
    if value is None:
        return ""
    return format(value, ".10g") if isinstance(value, float) else str(value)


def curves_csv(result: dict) -> str:
    """``cascade.csv``: both splits' curves (validation first when present), one row per share."""
    metrics = list(result["test"]["compact"])
    columns = list(CURVE_COLUMNS) + metrics + [f"random_{m}" for m in metrics]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for split in ("validation", "test"):
        if result.get(split):
            for row in result[split]["curve"]:
                writer.writerow({k: _fmt(v) for k, v in
                                 {"split": split, "n": result[split]["n"], **row}.items()})
    return buf.getvalue()


def _validation(compact_validation, fallback_validation, task: str, confidence_field: str):
    """Both validation record lists, or ``(None, None, note)`` when the dataset has no validation split."""
    if compact_validation is None and fallback_validation is None:
        return None, None, "no validation per-example files given"
    if compact_validation is None or fallback_validation is None:
        given = compact_validation or fallback_validation
        raise DataError(given, "a validation per-example file is given for one system only; give both or neither")
    comp = read_records(compact_validation, task, confidence_field, allow_empty=True)
    fall = read_records(fallback_validation, task, None, allow_empty=True)
    if not comp and not fall:
        return None, None, "the dataset has no validation split (both validation files are empty)"
    if not comp or not fall:
        empty = compact_validation if not comp else fallback_validation
        raise DataError(empty, "no per-example records, but the other system's validation file has some")
    return comp, fall, ""


def run_cascade(*, task: str, dataset: str, compact_model: str, compact_test: str | Path,
                fallback_test: str | Path, efficiency: str | Path, out: str | Path,
                metric: str | None = None, fallback_model: str = "biobert", seed: int | None = None,
                compact_validation: str | Path | None = None, fallback_validation: str | Path | None = None,
                labels: Sequence[str] | None = None, device: str = DEFAULT_DEVICE,
                seq_length: int = DEFAULT_SEQ_LENGTH, confidence_field: str = routing.CONFIDENCE,
                targets: Sequence[float] = routing.TARGETS, n_bootstrap: int = 1000, bootstrap_seed: int = 0,
                alpha: float = 0.05) -> dict:
    """Write ``cascade.json`` and ``cascade.csv`` into ``out`` for one pair; returns the JSON object.

    ``metric`` defaults to the table's (NER ``f1``, RE ``f1``: GAD binary / ChemProt macro, QA
    ``mrr``); ``labels`` is the dataset's label set for RE (meta.json ``labels``; default: the
    labels in the records).  Validation files (the fine-tuning stage's
    ``per_example_validation.jsonl``) are optional; without them, or when both are empty (a
    dataset without a validation split), the validation-chosen thresholds are null.
    """
    metric = metric or routing.PRIMARY.get(task, "")
    if task not in routing.RECORD_KEYS:
        raise ValueError(f"unknown task {task!r} (expected one of {', '.join(routing.RECORD_KEYS)})")
    if not targets or min(targets) <= 0.0 or max(targets) > 1.0:
        raise ValueError(f"targets must be fractions in (0, 1], got {list(targets)}")
    lat = read_latencies(efficiency, compact_model, fallback_model, device=device, seq_length=seq_length)
    comp_test = read_records(compact_test, task, confidence_field)
    fall_test = read_records(fallback_test, task, None)
    comp_val, fall_val, note = _validation(compact_validation, fallback_validation, task, confidence_field)
    scorer = None
    if task == "re":
        scorer = routing.re_scorer(labels, comp_test, fall_test, *(x for x in (comp_val, fall_val) if x))
    routing.check_metric(task, metric, scorer.binary if scorer else True)
    names = {"compact_name": str(compact_test), "fallback_name": str(fallback_test)}
    test = routing.align(comp_test, fall_test, task, scorer=scorer, confidence_field=confidence_field, **names)
    test_curve = routing.curve(test)
    result = {"kind": "cascade", "task": task, "dataset": dataset, "compact_model": compact_model,
              "fallback_model": fallback_model, "seed": seed, "metric": metric,
              "confidence_field": confidence_field, "labels": test.scorer.labels if task == "re" else None,
              "targets": list(targets), "latency": lat.as_dict(),
              "inputs": {"compact_test": str(compact_test), "fallback_test": str(fallback_test),
                         "compact_validation": None if compact_validation is None else str(compact_validation),
                         "fallback_validation": None if fallback_validation is None else str(fallback_validation),
                         "efficiency": lat.source},
              "test": _split_summary(test, test_curve, metric, lat, targets)}
    boot = routing.bootstrap_area(test, metric, n_samples=n_bootstrap, seed=bootstrap_seed, alpha=alpha)
    result["test"]["area"] = {**boot, "samples": [float(x) for x in boot["samples"]]}
    result["validation"] = result["validation_thresholds"] = None
    result["validation_note"] = note
    if comp_val is not None:
        val = routing.align(comp_val, fall_val, task, scorer=scorer, confidence_field=confidence_field,
                            compact_name=str(compact_validation), fallback_name=str(fallback_validation))
        val_curve = routing.curve(val)
        result["validation"] = {**_split_summary(val, val_curve, metric, lat, targets),
                                "area": {"value": routing.area(val_curve, metric)}}
        chosen = routing.validation_thresholds(val, test, metric, targets, val_curve=val_curve, test_curve=test_curve)
        result["validation_thresholds"] = {
            key: {**v, "validation": _with_cost(v["validation"], lat), "test": _with_cost(v["test"], lat)}
            for key, v in chosen.items()}
    with atomic_dir(Path(out)) as tmp:
        write_json(tmp / "cascade.json", result)
        atomic_write_text(tmp / "cascade.csv", curves_csv(result))
    _log(result)
    return result


def _log(result: dict) -> None:
    t, lat = result["test"], result["latency"]
    logger.info("cascade %s -> %s on %s: %s %.4f alone, %.4f fallback; area %.4f [%.4f, %.4f]",
                result["compact_model"], result["fallback_model"], result["dataset"], result["metric"],
                t["compact"][result["metric"]], t["fallback"][result["metric"]],
                t["area"]["value"], t["area"]["ci_low"], t["area"]["ci_high"])
    for key, point in t["targets"].items():
        logger.info("  test: %s%% of the fallback's score from %d%% routed, relative cost %.3f", key,
                    point["share_pct"], point["relative_cost"])
    for key, point in (result["validation_thresholds"] or {}).items():
        logger.info("  validation-chosen %s%%: threshold %s routes %.1f%% of test, keeps %s, relative cost %.3f",
                    key, point["validation"]["threshold"], 100 * point["test"]["share"],
                    "n/a" if point["test"]["retained"] is None else f"{100 * point['test']['retained']:.2f}%",
                    point["test"]["relative_cost"])
    if lat["timing_warning"]:
        logger.warning("cascade %s: costs rest on noisy timings (%s)", result["compact_model"], lat["timing_warning"])


def load_result(path: str | Path) -> dict:
    """One ``cascade.json``, checked to be one; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found (run the cascade stage for this pair first)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(path, f"not valid JSON ({exc.msg})", exc.lineno) from None
    if not isinstance(data, dict) or data.get("kind") != "cascade" or not isinstance(data.get("test"), dict):
        raise DataError(path, "not a cascade.json (no kind: cascade with a test object)")
    return data


def run_summary(results: Sequence[str | Path], out: str | Path, *, name: str = "cascade",
                displays: dict[str, str] | None = None, dataset_names: dict[str, str] | None = None,
                caption_prefix: str = "", scale: str | None = None) -> list[dict]:
    """Write ``<name>.md``, ``.csv``, ``.tex``, ``.png`` and ``.pdf`` into the folder ``out`` from cascade.json files.

    ``displays`` / ``dataset_names`` give display names; ``caption_prefix`` starts the caption
    (e.g. ``"DEMO SCALE, SYNTHETIC DATA: "``) and ``scale``, when given, is the first CSV column
    (the report stage's convention below paper scale).  Returns the table rows.
    """
    from . import figure, table

    loaded = [load_result(p) for p in results]
    if not loaded:
        raise ValueError("cascade summary: no cascade.json files given")
    rows = table.summarise(loaded, sources=[str(p) for p in results])
    curves = table.mean_curves(loaded)
    kw = {"displays": displays or {}, "dataset_names": dataset_names or {}}
    caption = caption_prefix + table.caption(loaded, **kw)
    with atomic_dir(Path(out)) as tmp:
        atomic_write_text(tmp / f"{name}.csv", table.to_csv(rows, scale=scale))
        atomic_write_text(tmp / f"{name}.md", table.to_markdown(rows, caption, **kw))
        atomic_write_text(tmp / f"{name}.tex", table.to_latex(rows, caption, label=f"tab:{name}", **kw))
        figure.cascade_figure(curves, tmp / f"{name}.png", tmp / f"{name}.pdf", title_prefix=caption_prefix, **kw)
    for row in rows:
        if row["area"] is not None and row["area_ci_low"] is not None and row["area_ci_low"] <= 0:
            logger.warning("cascade %s on %s: the confidence ordering does not beat random routing "
                           "significantly (area %.4f, interval [%.4f, %.4f])", row["model"], row["dataset"],
                           row["area"], row["area_ci_low"], row["area_ci_high"])
    return rows
