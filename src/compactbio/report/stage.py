"""The ``table`` stage: render one table as ``<out>/<table>.tex``, ``.md`` and ``.csv``.

All inputs are checked before anything is computed (every missing file is
named at once), all three texts are built in memory, and the files are
written through temporary siblings renamed together, so a failure leaves no
partial table behind.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
from pathlib import Path

from compactbio.io import atomic_path

from . import common, datasets, latex, markdown, reported, retention, scores
from .runs import Results, run_dir
from .table import Table

logger = logging.getLogger(__name__)

KINDS = ("datasets", "scores", "reported", "retention")


def _spec(params: dict, table: str) -> dict:
    spec = params.get("tables", {}).get(table)
    if not isinstance(spec, dict) or "kind" not in spec:
        known = sorted(k for k, v in params.get("tables", {}).items() if isinstance(v, dict) and "kind" in v)
        raise ValueError(f"params.yaml: no table {table!r} under `tables` (known: {', '.join(known)})")
    if spec["kind"] not in KINDS:
        raise ValueError(f"params.yaml: tables.{table}.kind must be one of {', '.join(KINDS)}, got {spec['kind']!r}")
    return spec


def required_inputs(params: dict, table: str, runs: Path, prepared: Path) -> list[Path]:
    """Every file the table reads (the front ends can declare exactly these as inputs).

    Scores tables also read BioBERT's ``per_example.jsonl`` for the
    significance markers when it exists; that optional input is not listed.
    """
    spec = _spec(params, table)
    seeds = params["grid"]["seeds"]
    if spec["kind"] == "datasets":
        return datasets.inputs(spec, prepared)
    if spec["kind"] == "scores":
        cells = scores.inputs(spec, seeds)
    elif spec["kind"] == "reported":
        cells = reported.inputs(params, spec, seeds)
    else:
        cells = retention.inputs(params, spec, seeds)
    return list(dict.fromkeys(run_dir(runs, m, d, s) / f for m, d, s, f in cells))


def optional_inputs(params: dict, table: str, runs: Path) -> list[Path]:
    """BioBERT's run files a scores table without BioBERT reads for its significance markers.

    The table is built without them (markers omitted), but a front end that
    declares them as inputs makes the markers reproducible and up to date.
    """
    spec = _spec(params, table)
    if spec["kind"] != "scores" or common.REFERENCE in spec["models"]:
        return []
    return [run_dir(runs, common.REFERENCE, d, s) / f for d in spec["datasets"]
            for s in params["grid"]["seeds"] for f in ("metrics.json", "per_example.jsonl")]


def _check(paths: list[Path]) -> None:
    missing = [p for p in paths if not p.is_file()]
    if missing:
        shown = "\n  ".join(str(p) for p in missing[:20])
        more = f"\n  ... and {len(missing) - 20} more" if len(missing) > 20 else ""
        raise FileNotFoundError(f"{len(missing)} missing input(s) for the table "
                                f"(run the stages that produce them first):\n  {shown}{more}")


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buf.getvalue()


def not_results_note(params: dict) -> str | None:
    """A rehearsal's numbers come from capped work: say so in every table, so none is mistaken for a result."""
    if params.get("scale") == "paper" and (params.get("rehearsal") or {}).get("enabled"):
        return ("Rehearsal of paper scale (params.yaml rehearsal.enabled): paper-size models and real data, "
                "but training and evaluation are capped, so these scores are not results.")
    return None


def build(params: dict, table: str, runs: Path, prepared: Path) -> tuple[Table, list[dict]]:
    spec = _spec(params, table)
    _check(required_inputs(params, table, runs, prepared))
    if spec["kind"] == "datasets":
        tab, rows = datasets.build(params, table, Path(prepared))
    else:
        results = Results(Path(runs), params["grid"]["seeds"])
        builder = {"scores": scores.build, "reported": reported.build, "retention": retention.build}[spec["kind"]]
        tab, rows = builder(params, table, results)
    note = not_results_note(params)
    if note:
        tab.caption = f"REHEARSAL: {tab.caption}"
        tab.notes.insert(0, note)
    return tab, rows


def render(params: dict, tab: Table, rows: list[dict]) -> dict[str, str]:
    """The three files' texts, keyed by suffix."""
    style = common.style_of(params)
    emph = common.emphasis(style)
    return {".tex": latex.render(tab, style["decimals"], emph),
            ".md": markdown.render(tab, style["decimals"], emph),
            ".csv": to_csv(rows)}


def run(params: dict, table: str, runs: Path, prepared: Path, out: Path) -> None:
    """Write ``out/<table>.tex``, ``.md`` and ``.csv`` (nothing if anything fails)."""
    tab, rows = build(params, table, Path(runs), Path(prepared))
    texts = render(params, tab, rows)
    out = Path(out)
    with contextlib.ExitStack() as stack:
        for suffix, text in texts.items():
            tmp = stack.enter_context(atomic_path(out / f"{table}{suffix}"))
            tmp.write_text(text, encoding="utf-8")
    logger.info("wrote %s.{tex,md,csv} to %s (%d data rows)", table, out, len(rows))
