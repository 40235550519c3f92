"""Score per cost: how much of BioBERT's score each compact model keeps for how much of its latency.

Score share = (a model's mean primary test score over the datasets of the
grid) / (the reference's mean over the *same* datasets): only datasets where
both have fine-tuning results count, so a missing run never skews a share.
Seeds are averaged first.  Primary scores (``efficiency.score_cost.primary``)
default to NER word-level entity F1, RE ``f1`` (GAD binary, ChemProt macro)
and BioASQ MRR, the challenge's official factoid measure.

Latency share = the model's median batch-1 latency at
``efficiency.score_cost.seq_length`` on ``efficiency.score_cost.device``,
over the reference's, from the efficiency stage's ``efficiency.json``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from pathlib import Path

from ..io import atomic_dir, atomic_write_text, read_json, write_json

logger = logging.getLogger(__name__)

TASKS = ("ner", "re", "qa")


def _settings(params: dict) -> dict:
    eff = params.get("efficiency") or {}
    sc = eff.get("score_cost")
    if not sc:
        raise ValueError("params.yaml: missing section `efficiency.score_cost`")
    primary = sc.get("primary") or {}
    for task in TASKS:
        if not isinstance(primary.get(task), str):
            raise ValueError(f"params.yaml: efficiency.score_cost.primary.{task} must name a test metric")
    return {"device": sc.get("device", "cpu"), "seq_length": int(sc["seq_length"]),
            "primary": {t: primary[t] for t in TASKS}, "reference": eff.get("reference")}


def read_score(path: Path, metric: str) -> float:
    """The test ``metric`` of one run's metrics.json, checked to be a fraction in [0, 1]."""
    try:
        data = read_json(path)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    test = data.get("test") if isinstance(data, dict) else None
    if not isinstance(test, dict):
        raise ValueError(f"{path}: no `test` scores object")
    value = test.get(metric)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"{path}: test.{metric} is missing or not a number")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{path}: test.{metric} = {value} is not a fraction in [0, 1]")
    return float(value)


def collect_scores(params: dict, runs: Path, primary: dict) -> dict[str, dict[str, float]]:
    """``{model: {dataset: mean over available seeds}}`` of the primary test score; missing runs are skipped."""
    grid = params["grid"]
    scores: dict[str, dict[str, float]] = {}
    for model in grid["models"]:
        for task in TASKS:
            for dataset in grid.get(task, []):
                values = []
                for seed in grid["seeds"]:
                    path = Path(runs) / model / dataset / f"seed{seed}" / "metrics.json"
                    if path.exists():
                        values.append(read_score(path, primary[task]))
                if values:
                    scores.setdefault(model, {})[dataset] = sum(values) / len(values)
    return scores


def _latencies(efficiency: Path, device: str, seq_length: int) -> tuple[dict[str, float], dict[str, str],
                                                                        dict[str, str]]:
    """Latency, Fig. 2 group and timing warning (``""`` when none) of each model on ``device``."""
    path = efficiency / "efficiency.json" if efficiency.is_dir() else efficiency
    data = read_json(path)
    key = f"latency_{seq_length}_median_ms"
    lat, groups, warnings = {}, {}, {}
    for row in data.get("rows", []):
        if row.get("device") == device:
            if key not in row:
                raise ValueError(f"{path}: no latency at sequence length {seq_length} "
                                 f"(efficiency.score_cost.seq_length must be one of efficiency.seq_lengths)")
            lat[row["model"]], groups[row["model"]] = float(row[key]), row.get("group", "")
            warnings[row["model"]] = row.get("timing_warning") or ""
    if not lat:
        raise ValueError(f"{path}: no efficiency rows for device {device!r}")
    return lat, groups, warnings


def score_cost_rows(params: dict, scores: dict, latency: dict, groups: dict, reference: str,
                    warnings: dict | None = None) -> list[dict]:
    """One row per compact model with a share of the reference's score and of its latency.

    ``timing_warning`` carries the efficiency stage's warning for the model or the reference: a latency
    share is only as good as both timings.
    """
    warnings = warnings or {}
    if reference not in scores:
        raise ValueError(f"no fine-tuning results for the reference model {reference!r}")
    if reference not in latency:
        raise ValueError(f"no efficiency measurement for the reference model {reference!r}")
    displays = {m: params.get("models", {}).get(m, {}).get("display", m) for m in params["grid"]["models"]}
    rows = []
    for model in params["grid"]["models"]:
        if model == reference:
            continue
        common = [d for d in scores.get(model, {}) if d in scores[reference]]
        if not common or model not in latency:
            logger.warning("score-cost: skipping %s (no results shared with %s, or no latency)", model, reference)
            continue
        avg = sum(scores[model][d] for d in common) / len(common)
        ref_avg = sum(scores[reference][d] for d in common) / len(common)
        score_share = avg / ref_avg if ref_avg else float("nan")
        latency_share = latency[model] / latency[reference]
        rows.append({"model": model, "display": displays[model], "group": groups.get(model, ""),
                     "n_datasets": len(common), "datasets": " ".join(common),
                     "avg_score": avg, "reference_avg_score": ref_avg, "score_share": score_share,
                     "latency_ms": latency[model], "reference_latency_ms": latency[reference],
                     "latency_share": latency_share, "score_per_cost": score_share / latency_share,
                     "timing_warning": "; ".join(f"{m}: {warnings[m]}" for m in (model, reference)
                                                 if warnings.get(m))})
    if not rows:
        raise ValueError("score-cost: no compact model has fine-tuning results in common with the reference")
    return rows


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return buf.getvalue()


def run(params: dict, efficiency: Path, runs: Path, out: Path) -> None:
    """Write score_cost.{csv,json,png,pdf} into ``out`` from efficiency results and fine-tuning runs."""
    from ..report import figures

    cfg = _settings(params)
    reference = cfg["reference"]
    latency, groups, warnings = _latencies(Path(efficiency), cfg["device"], cfg["seq_length"])
    scores = collect_scores(params, Path(runs), cfg["primary"])
    rows = score_cost_rows(params, scores, latency, groups, reference, warnings)
    ref_display = params.get("models", {}).get(reference, {}).get("display", reference)
    with atomic_dir(out) as tmp:
        atomic_write_text(tmp / "score_cost.csv", _csv(rows))
        write_json(tmp / "score_cost.json", {"settings": cfg, "scores": scores, "rows": rows})
        figures.score_cost_figure(rows, tmp / "score_cost.png", tmp / "score_cost.pdf", reference=ref_display)
    for row in rows:
        logger.info("%-14s score %.1f%% of %s at %.1f%% of its latency", row["model"],
                    100 * row["score_share"], reference, 100 * row["latency_share"])
        if row["timing_warning"]:
            logger.warning("score-cost %s: latency share not to be ranked by (%s)", row["model"], row["timing_warning"])
