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
WARN_MARK = "†"   # a model whose timings cannot rank it (``measure.unreliable``)


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


def _pm(row: dict, key: str) -> str:
    """`` ±3%``: the figure's uncertainty (``measure.summarize_ms``), rounded up to a whole percent."""
    u = row.get(key)
    return "" if u is None or (isinstance(u, float) and math.isnan(u)) else f" ±{max(1, math.ceil(100 * u))}%"


def _cells(row: dict, seq_lengths: list[int]) -> list[tuple[str, str]]:
    """(value, ratio) pairs in column order; timings carry their uncertainty."""
    cells = [(_fmt(row["params_total"] / 1e6, 2), _fmt(row["params_ratio"], 2)),
             (_fmt(row["params_non_embedding"] / 1e6, 2), "")]
    for length in seq_lengths:
        cells.append((_fmt(row[f"latency_{length}_median_ms"]) + _pm(row, f"latency_{length}_uncertainty"),
                      _fmt(row[f"latency_{length}_ratio"], 2)))
    cells.append((_fmt(row["throughput_seq_per_s"]) + _pm(row, "throughput_uncertainty"),
                  _fmt(row["throughput_ratio"], 2)))
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


CLOCK_TEXT = {"thread_cpu": "the CPU time of the timing thread (a busy machine's waits not counted), median of "
                            "the round medians",
              "wall": "wall-clock time, lowest round median"}


def _caption(rows: list[dict], cfg: dict) -> str:
    ref = next((r["display"] for r in rows if r["reference"]), cfg["reference"])
    lat, tp = cfg["latency"]["repeats"], cfg["throughput"]["repeats"]
    clocks = "; ".join(f"{DEVICE_NAMES.get(d, d)}: {CLOCK_TEXT.get(c, c)}"
                       for d, c in dict.fromkeys((r["device"], r.get("clock", "wall")) for r in rows))
    return (f"Inference cost of each model ({cfg['size']} size, random weights), timed after warm-up in "
            f"{cfg['rounds']} rounds, each visiting every model and shape once in a shuffled order, with {lat} "
            f"run(s) per latency and {tp} batch(es) per throughput visit ({clocks}); CPU with {cfg['threads']} "
            f"thread(s); ± the relative standard error of a timing, from the spread of its rounds; peak memory of "
            f"one batch-1 forward at the longest length, weights included (CPU: resident memory, library code "
            f"not counted). "
            f"In parentheses: ratio to {ref}; a throughput ratio > 1 means faster.")


def _warnings(rows: list[dict]) -> list[str]:
    """One note per row whose timings cannot rank it (see ``measure.unreliable``)."""
    return [f"{WARN_MARK} {r['display']} ({DEVICE_NAMES.get(r['device'], r['device'])}): {r['timing_warning']}; "
            "do not rank this model by these timings (rerun on a quieter machine or with more rounds)."
            for r in rows if r.get("timing_warning")]


def _name(row: dict) -> str:
    return row["display"] + (WARN_MARK if row.get("timing_warning") else "")


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
            name = f"**{_name(row)}**" if row["reference"] else _name(row)
            parts.append("| " + " | ".join([name, row["group"]] + cells) + " |")
    notes = _warnings(rows)
    if notes:
        parts.append("")
        parts += [f"{n}  " for n in notes[:-1]] + notes[-1:]
    return "\n".join(parts) + "\n"


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$",
        ">": r"\textgreater{}", "<": r"\textless{}", WARN_MARK: r"$^\dagger$"}


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
            name = _tex_escape(row["display"]) + (r"$^\dagger$" if row.get("timing_warning") else "")
            name = rf"\textbf{{{name}}}" if row["reference"] else name
            cells = [c.replace(",", "{,}").replace("±", r"$\pm$").replace("%", r"\%") for c in cells]
            lines.append(" & ".join([name, row["group"]] + cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    for note in _warnings(rows):
        lines.append(r"\par\smallskip{\footnotesize " + _tex_escape(note) + "}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def write_markdown(path: Path, rows: list[dict], cfg: dict) -> None:
    atomic_write_text(path, markdown(rows, cfg))


def write_latex(path: Path, rows: list[dict], cfg: dict) -> None:
    atomic_write_text(path, latex(rows, cfg))
