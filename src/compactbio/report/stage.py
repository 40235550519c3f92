"""The ``table`` stage: render one table as ``<out>/<table>.tex``, ``.md``, ``.csv`` and ``.html``.

All inputs are checked before anything is computed (every missing file is
named at once), all texts are built in memory, and the files are written
through temporary siblings renamed together, so a failure leaves no partial
table behind.

Numbers that are not results say so in every format: at demo scale (tiny
models, synthetic data) and in a paper-scale rehearsal (capped work) the
caption starts with a label, the first note explains it, the HTML page shows
a banner and every CSV row has a ``scale`` column (:func:`scale_label`).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import logging
from pathlib import Path

from compactbio import checkpoints
from compactbio.io import atomic_path

from . import common, datasets, html, latex, markdown, reported, retention, scores, sizes
from .runs import Results, run_dir
from .table import Table

logger = logging.getLogger(__name__)

KINDS = ("datasets", "scores", "reported", "retention")
FORMATS = (".tex", ".md", ".csv", ".html")   # what `compactbio table` writes (graph.TABLE_FORMATS)


def _spec(params: dict, table: str) -> dict:
    spec = params.get("tables", {}).get(table)
    if not isinstance(spec, dict) or "kind" not in spec:
        known = sorted(k for k, v in params.get("tables", {}).items() if isinstance(v, dict) and "kind" in v)
        raise ValueError(f"params.yaml: no table {table!r} under `tables` (known: {', '.join(known)})")
    if spec["kind"] not in KINDS:
        raise ValueError(f"params.yaml: tables.{table}.kind must be one of {', '.join(KINDS)}, got {spec['kind']!r}")
    return spec


def required_inputs(params: dict, table: str, runs: Path, prepared: Path,
                    models: Path = Path("models")) -> list[Path]:
    """Every file the table reads (the front ends can declare exactly these as inputs).

    Scores tables also read BioBERT's ``per_example.jsonl`` for the
    significance markers when it exists; that optional input is not listed.
    Footnotes citing the models' sizes (``{sizes}``) read their weights files.
    """
    spec = _spec(params, table)
    seeds = params["grid"]["seeds"]
    weights = [Path(models) / m / sizes.WEIGHTS for m in sizes.footnote_models(spec)]
    if spec["kind"] == "datasets":
        return [*datasets.inputs(spec, prepared), *weights]
    if spec["kind"] == "scores":
        cells = scores.inputs(spec, seeds)
    elif spec["kind"] == "reported":
        cells = reported.inputs(params, spec, seeds)
    else:
        cells = retention.inputs(params, spec, seeds)
    return [*dict.fromkeys(run_dir(runs, m, d, s) / f for m, d, s, f in cells), *weights]


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


@dataclasses.dataclass(frozen=True)
class ScaleLabel:
    """How a table whose numbers are not results says so (see :func:`scale_label`)."""

    prefix: str   # starts the caption
    note: str     # the first note
    banner: str   # shown above the HTML table
    csv: str      # the CSV rows' `scale` value


def scale_label(params: dict) -> ScaleLabel | None:
    """The label of a demo or rehearsal table, None for a paper-scale run.

    Demo numbers come from tiny models trained for minutes on generated data;
    a rehearsal's from paper-size models with capped work.  Neither may be
    mistaken for the paper's results, in any format or copy of a table.
    """
    if params.get("scale") == "demo":
        return ScaleLabel(
            "DEMO SCALE, SYNTHETIC DATA: ",
            "Demo scale, synthetic data (params.yaml scale: demo): tiny models of each architecture, trained "
            "for minutes on data generated in the real formats; the dataset, corpus (PubMed) and model names "
            "stand for these stand-ins. The numbers test the pipeline; they are not the paper's results and "
            "say nothing about the real models.",
            "Demo scale, synthetic data: these numbers test the pipeline and are not results.",
            "demo (synthetic data)")
    if params.get("scale") == "paper" and (params.get("rehearsal") or {}).get("enabled"):
        return ScaleLabel(
            "REHEARSAL: ",
            "Rehearsal of paper scale (params.yaml rehearsal.enabled): paper-size models and real data, "
            "but training and evaluation are capped, so these scores are not results.",
            "Rehearsal of paper scale (capped work): these scores are not results.",
            "paper rehearsal (capped: not results)")
    return None


def build(params: dict, table: str, runs: Path, prepared: Path,
          models: Path = Path("models")) -> tuple[Table, list[dict]]:
    spec = _spec(params, table)
    _check(required_inputs(params, table, runs, prepared, models))
    if sizes.cites_sizes(spec):   # "{sizes}" -> "DistilBERT 65.8M, ...", measured from the weights
        filled = {**spec, "footnotes": sizes.fill(params, table, Path(models))}
        params = {**params, "tables": {**params["tables"], table: filled}}
    if spec["kind"] == "datasets":
        return datasets.build(params, table, Path(prepared))
    results = Results(Path(runs), params["grid"]["seeds"])
    builder = {"scores": scores.build, "reported": reported.build, "retention": retention.build}[spec["kind"]]
    return builder(params, table, results)


def labelled(params: dict, tab: Table, rows: list[dict]) -> tuple[Table, list[dict], ScaleLabel | None]:
    """Copies of the table and rows carrying the scale label (unchanged at paper scale).

    Every row gains a leading ``scale`` column, so CSV files from different
    scales never mix unnoticed.
    """
    label = scale_label(params)
    scale = label.csv if label else str(params.get("scale", ""))
    rows = [{"scale": scale, **{k: v for k, v in r.items() if k != "scale"}} for r in rows]
    published = checkpoints.table_label(params, tab.name)   # pretrain.source: published -> say so
    if published is not None:
        tab = dataclasses.replace(tab, caption=f"{tab.caption} ({published[0]})", notes=[*tab.notes, published[1]])
    if label is None:
        return tab, rows, None
    tab = dataclasses.replace(tab, caption=label.prefix + tab.caption, notes=[label.note, *tab.notes])
    return tab, rows, label


def render(params: dict, tab: Table, rows: list[dict], formats: tuple[str, ...] = FORMATS) -> dict[str, str]:
    """The files' texts, keyed by suffix (``formats``: any of :data:`FORMATS`), scale label applied."""
    style = common.style_of(params)
    emph = common.emphasis(style)
    tab, rows, label = labelled(params, tab, rows)
    makers = {".tex": lambda: latex.render(tab, style["decimals"], emph, style.get("float", "auto")),
              ".md": lambda: markdown.render(tab, style["decimals"], emph),
              ".csv": lambda: to_csv(rows),
              ".html": lambda: html.render(tab, style["decimals"], emph, banner=label.banner if label else None)}
    return {suffix: makers[suffix]() for suffix in formats}


def run(params: dict, table: str, runs: Path, prepared: Path, out: Path, models: Path | None = None) -> None:
    """Write ``out/<table>.tex``, ``.md``, ``.csv`` and ``.html`` (nothing if anything fails).

    ``models``: the model folders' root, read only for footnotes that cite a
    model's size (default ``models``).
    """
    tab, rows = build(params, table, Path(runs), Path(prepared), Path(models or "models"))
    texts = render(params, tab, rows, FORMATS)
    out = Path(out)
    with contextlib.ExitStack() as stack:
        for suffix, text in texts.items():
            tmp = stack.enter_context(atomic_path(out / f"{table}{suffix}"))
            tmp.write_text(text, encoding="utf-8")
    logger.info("wrote %s.{%s} to %s (%d data rows)", table, ",".join(f[1:] for f in FORMATS), out, len(rows))
