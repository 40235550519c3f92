"""Stage ``task-table``: the study's table (``task_distill.{tex,md,csv}``).

One row for the teacher, then one per student x (without, with distillation)
x augmentation size, in params order: word-level entity F1 / precision /
recall (x100), the training set's mention count, parameters, size, and
batch-1 latency per sentence on CPU (and GPU when any run measured one).
The best and second-best F1 are marked as in the paper's tables.  Rendering
reuses the report package, so the LaTeX and Markdown look like tables 1-7.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from ..io import atomic_path, read_json
from ..report.stage import render
from ..report.table import Cell, Row, Table, mark_ranks
from . import common

logger = logging.getLogger(__name__)

NAME = "task_distill"


def run_dirs(params: dict, runs: Path) -> list[tuple[str, Path]]:
    """(label, folder) of every run the table reads: the teacher, then the students in params order."""
    td = common.section(params)
    out = [("teacher", Path(runs) / "teacher")]
    for student in td["students"]:
        for distill in td["distill"]:
            for n in td["augment_sizes"]:
                name = common.run_name(student, bool(distill), int(n))
                out.append((name, Path(runs) / name))
    return out


def _load(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (run its task-teacher / task-student job first)")
    m = read_json(path)
    for key in ("test", "parameters", "size_mb", "latency"):
        if key not in m:
            raise ValueError(f"{path}: no {key!r}; not a task-distillation metrics file")
    if "f1" not in m["test"]:
        raise ValueError(f"{path}: test scores lack 'f1'")
    return m


def build(params: dict, runs: Path) -> tuple[Table, list[dict]]:
    td = common.section(params)
    loaded = [(label, _load(folder / "metrics.json")) for label, folder in run_dirs(params, runs)]
    gpu = any("cuda" in m["latency"] for _, m in loaded)
    teacher_name = params.get("models", {}).get(td.get("teacher"), {}).get("display", td.get("teacher"))
    columns = ["Model", "Teacher", "Aug.", "Mentions", "F1", "P", "R", "Params (M)", "Size (MB)", "CPU ms"]
    if gpu:
        columns.append("GPU ms")
    tab = Table(name=NAME, columns=columns, align="lcrrrrrrrr" + ("r" if gpu else ""),
                caption=f"Task-specific distillation on {td.get('dataset')}: students of the fine-tuned "
                        f"{teacher_name}, with and without distillation and augmentation")
    rows_csv, f1_cells = [], []
    prev_student = None
    for label, m in loaded:
        is_teacher = m.get("role") == "teacher"
        student = None if is_teacher else m.get("student")
        display = f"{teacher_name} (teacher)" if is_teacher else m.get("display", student)
        mentions = m.get("augmented_mentions")
        cpu = m["latency"]["cpu"]["ms_mean"]
        cuda = (m["latency"].get("cuda") or {}).get("ms_mean")
        f1 = Cell(value=100 * m["test"]["f1"])
        f1_cells.append(f1)
        cells = [Cell(text=display), Cell(text="–" if is_teacher else ("yes" if m["distill"] else "no")),
                 Cell(text=f"×{m.get('augment', 1)}"), Cell(text="" if mentions is None else str(mentions)),
                 f1, Cell(value=100 * m["test"]["precision"]), Cell(value=100 * m["test"]["recall"]),
                 Cell(value=m["parameters"] / 1e6), Cell(value=m["size_mb"]), Cell(value=cpu)]
        if gpu:
            cells.append(Cell(value=cuda))
        tab.rows.append(Row(cells=cells, rule_before=student != prev_student))
        prev_student = student
        rows_csv.append({"run": label, "model": display, "student": student or "", "distill": bool(m.get("distill")),
                         "augment": m.get("augment", 1), "train_mentions": "" if mentions is None else mentions,
                         "f1": f"{m['test']['f1']:.6f}", "precision": f"{m['test']['precision']:.6f}",
                         "recall": f"{m['test']['recall']:.6f}", "parameters": m["parameters"],
                         "size_mb": f"{m['size_mb']:.4f}", "cpu_ms": f"{cpu:.4f}",
                         "gpu_ms": "" if cuda is None else f"{cuda:.4f}", "steps": m.get("steps", ""),
                         "best_epoch": m.get("best_epoch", "")})
    mark_ranks(f1_cells, int(params["tables"]["style"].get("decimals", 2)))
    threads = next((m["latency"]["cpu"].get("threads") for _, m in loaded), None)
    tab.notes = [f"Entity F1, precision and recall ×100 on the test split at the word level (first sub-word). "
                 f"Aug.: training set size as a multiple of the original; Mentions: gene mentions in it. "
                 f"Latency: mean milliseconds per sentence at batch size 1 on CPU ({threads} thread(s))"
                 + (" and GPU." if gpu else ".")]
    return tab, rows_csv


def run(params: dict, runs: Path, out: Path) -> None:
    """Write ``out/task_distill.tex``, ``.md`` and ``.csv`` (nothing if anything fails)."""
    tab, rows = build(params, Path(runs))
    texts = render(params, tab, rows)
    with contextlib.ExitStack() as stack:
        for suffix, text in texts.items():
            tmp = stack.enter_context(atomic_path(Path(out) / f"{NAME}{suffix}"))
            tmp.write_text(text, encoding="utf-8")
    logger.info("wrote %s.{tex,md,csv} to %s (%d rows)", NAME, out, len(rows))
