"""Efficiency table as CSV (for DVC plots), Markdown and LaTeX (booktabs).

Every cost is shown next to its ratio to the reference model, because the
paper's argument is relative ("x times faster than BioBERT"), and absolute
timings from one machine mean little on another.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from ..io import atomic_write_text

DEVICE_NAMES = {"cpu": "CPU (float32)", "cuda": "GPU (bfloat16)"}


def write_csv(path: Path, rows: list[dict]) -> None:
    if not rows:
        raise ValueError(f"{path}: no rows to write")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    atomic_write_text(path, buf.getvalue())


def _fmt(value: float, decimals: int = 1) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.{decimals}f}"


def _cells(row: dict, seq_lengths: list[int]) -> list[tuple[str, str]]:
    """(value, ratio) pairs in column order."""
    cells = [(_fmt(row["params_total"] / 1e6, 2), _fmt(row["params_ratio"], 2)),
             (_fmt(row["params_non_embedding"] / 1e6, 2), "")]
    for length in seq_lengths:
        cells.append((_fmt(row[f"latency_{length}_median_ms"]), _fmt(row[f"latency_{length}_ratio"], 2)))
    cells.append((_fmt(row["throughput_seq_per_s"]), _fmt(row["throughput_ratio"], 2)))
    cells.append((_fmt(row["memory_mib"]), _fmt(row["memory_ratio"], 2)))
    return cells


def _headers(seq_lengths: list[int], tp_batch: int, tp_len: int) -> list[str]:
    return (["Params (M)", "Non-emb. params (M)"]
            + [f"Latency b=1, L={n} (ms)" for n in seq_lengths]
            + [f"Throughput b={tp_batch}, L={tp_len} (seq/s)", "Peak memory (MiB)"])


def _by_device(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in rows:
        out.setdefault(row["device"], []).append(row)
    return out


def _caption(rows: list[dict], cfg: dict) -> str:
    ref = next((r["display"] for r in rows if r["reference"]), cfg["reference"])
    n_lat = cfg["rounds"] * cfg["latency"]["repeats"]
    n_tp = cfg["rounds"] * cfg["throughput"]["repeats"]
    return (f"Inference cost of each model ({cfg['size']} size, random weights): median latency of {n_lat} timed "
            f"runs and throughput from the median of {n_tp} timed batches, taken round-robin over the models in "
            f"{cfg['rounds']} rounds after warm-up; CPU with {cfg['threads']} thread(s); peak memory of one "
            f"batch-1 forward at the longest length, weights included. "
            f"In parentheses: ratio to {ref}; a throughput ratio > 1 means faster.")


def markdown(rows: list[dict], cfg: dict) -> str:
    tp = cfg["throughput"]
    heads = ["Model", "Group"] + _headers(cfg["seq_lengths"], tp["batch_size"], tp["seq_length"])
    parts = [f"{_caption(rows, cfg)}\n"]
    for device, drows in _by_device(rows).items():
        parts.append(f"\n### {DEVICE_NAMES.get(device, device)}\n")
        parts.append("| " + " | ".join(heads) + " |")
        parts.append("|" + "|".join(["---"] * 2 + ["---:"] * (len(heads) - 2)) + "|")
        for row in drows:
            cells = [f"{v} ({r}x)" if r else v for v, r in _cells(row, cfg["seq_lengths"])]
            name = f"**{row['display']}**" if row["reference"] else row["display"]
            parts.append("| " + " | ".join([name, row["group"]] + cells) + " |")
    return "\n".join(parts) + "\n"


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _tex_escape(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in text)


def latex(rows: list[dict], cfg: dict) -> str:
    tp = cfg["throughput"]
    heads = ["Model", "Group"] + _headers(cfg["seq_lengths"], tp["batch_size"], tp["seq_length"])
    ncol = len(heads)
    lines = [r"\begin{table}[t]", r"\centering", r"\small",
             r"\caption{" + _tex_escape(_caption(rows, cfg)) + "}", r"\label{tab:efficiency}",
             r"\begin{tabular}{ll" + "r" * (ncol - 2) + "}", r"\toprule",
             " & ".join(_tex_escape(h) for h in heads) + r" \\"]
    for device, drows in _by_device(rows).items():
        lines += [r"\midrule", rf"\multicolumn{{{ncol}}}{{l}}{{\emph{{{_tex_escape(DEVICE_NAMES.get(device, device))}}}}} \\",
                  r"\midrule"]
        for row in drows:
            cells = [f"{v} ({r}$\\times$)" if r else v for v, r in _cells(row, cfg["seq_lengths"])]
            name = _tex_escape(row["display"])
            name = rf"\textbf{{{name}}}" if row["reference"] else name
            lines.append(" & ".join([name, row["group"]] + [c.replace(",", "{,}") for c in cells]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def write_markdown(path: Path, rows: list[dict], cfg: dict) -> None:
    atomic_write_text(path, markdown(rows, cfg))


def write_latex(path: Path, rows: list[dict], cfg: dict) -> None:
    atomic_write_text(path, latex(rows, cfg))
