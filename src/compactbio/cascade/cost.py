"""Expected cost of a cascade per example, from the efficiency study's measured latencies.

The compact model always runs; the fallback runs on the routed share ``s``:

    cost(s) = latency(compact) + s * latency(fallback)        (ms per example)
    relative cost = cost(s) / latency(fallback)               (1.0 = the fallback alone)

so the cascade at 100 % costs more than the fallback alone (both run), and the
compact model alone costs ``latency(compact) / latency(fallback)``.  A latency is
the efficiency stage's median batch-1 latency at one sequence length on one
device (``latency_<L>_median_ms``; defaults as ``efficiency.score_cost``: CPU,
L = 128).  One forward per example stands for an example's cost: a QA question
read as several windows costs both models the same number of forwards, so the
relative cost does not change.

Both CSV forms are read: the efficiency stage's ``efficiency.csv`` (one row per
device and model, columns ``device``, ``model``, ``latency_<L>_median_ms``,
``timing_warning``, ...) and the results stage's long ``efficiency.csv``
(``model, device, ..., measure, value``).  A folder means its ``efficiency.csv``.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

from ..data.errors import DataError, read_text

DEFAULT_DEVICE = "cpu"
DEFAULT_SEQ_LENGTH = 128
_LATENCY = re.compile(r"latency_(\d+)_median_ms")


@dataclass(frozen=True)
class Latencies:
    compact_ms: float
    fallback_ms: float
    device: str
    seq_length: int
    source: str
    timing_warning: str = ""      # the efficiency stage's warning for either model ("" when none)

    @property
    def compact_relative(self) -> float:
        """The compact model alone, relative to the fallback alone."""
        return self.compact_ms / self.fallback_ms

    def cost_ms(self, share):
        """Expected milliseconds per example when ``share`` (a number or an array) is routed."""
        return self.compact_ms + share * self.fallback_ms

    def relative_cost(self, share):
        return self.cost_ms(share) / self.fallback_ms

    def as_dict(self) -> dict:
        return {"device": self.device, "seq_length": self.seq_length, "compact_ms": self.compact_ms,
                "fallback_ms": self.fallback_ms, "compact_relative": self.compact_relative,
                "source": self.source, "timing_warning": self.timing_warning}


def _latency(value: str, path: Path, line: int, what: str) -> float:
    try:
        ms = float(value)
    except (TypeError, ValueError):
        raise DataError(path, f"{what} is not a number: {value!r}", line) from None
    if not math.isfinite(ms) or ms <= 0:
        raise DataError(path, f"{what} must be a positive number of milliseconds, got {value!r}", line)
    return ms


def read_latencies(path: str | Path, compact: str, fallback: str, *, device: str = DEFAULT_DEVICE,
                   seq_length: int = DEFAULT_SEQ_LENGTH) -> Latencies:
    """Both models' median batch-1 latency on ``device`` at ``seq_length`` from an efficiency CSV."""
    path = Path(path)
    if path.is_dir():
        path = path / "efficiency.csv"
    rows = list(csv.DictReader(read_text(path).splitlines()))
    if not rows:
        raise DataError(path, "no rows (expected the efficiency study's efficiency.csv)")
    columns = set(rows[0])
    key = f"latency_{seq_length}_median_ms"
    long_form = {"measure", "value"} <= columns
    if not {"model", "device"} <= columns or not (long_form or any(_LATENCY.fullmatch(c) for c in columns)):
        raise DataError(path, f"expected columns model, device and latency_<L>_median_ms (or measure, value), "
                              f"got {', '.join(rows[0])}", 1)
    if not long_form and key not in columns:
        measured = sorted(int(m.group(1)) for c in columns if (m := _LATENCY.fullmatch(c)))
        raise DataError(path, f"no {key}: the efficiency study measured sequence lengths "
                              f"{', '.join(map(str, measured))} (efficiency.seq_lengths)", 1)
    found: dict[str, float] = {}
    warnings: dict[str, str] = {}
    for line, row in enumerate(rows, 2):
        if row["device"] != device or row["model"] not in (compact, fallback):
            continue
        if long_form:
            if row["measure"] == key:
                found[row["model"]] = _latency(row["value"], path, line, f"{row['model']} {key}")
        else:
            found[row["model"]] = _latency(row[key], path, line, f"{row['model']} {key}")
            warnings[row["model"]] = (row.get("timing_warning") or "").strip()
    for model in (compact, fallback):
        if model not in found:
            raise DataError(path, f"no {key} for model {model!r} on device {device!r} (run `compactbio "
                                  f"efficiency` with this model in grid.models and {seq_length} in "
                                  f"efficiency.seq_lengths)")
    warning = "; ".join(f"{m}: {warnings[m]}" for m in dict.fromkeys((compact, fallback)) if warnings.get(m))
    return Latencies(found[compact], found[fallback], device, int(seq_length), str(path), warning)
