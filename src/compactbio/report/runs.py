"""Read fine-tuning results (``runs/<model>/<dataset>/seed<seed>/``) and average over seeds.

The table stage is the last consumer of every run, so it checks the files it
reads against the contract in docs/architecture.md and names the file (and
line) it rejects; a missing run is an error, never a silently empty cell.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# metrics.json "test" keys each task must provide (scores as fractions in [0, 1]).
TEST_KEYS = {"ner": ("f1", "precision", "recall", "f1_subword"), "re": ("f1",), "qa": ("strict", "lenient", "mrr")}
# per_example.jsonl fields of each task (the paired bootstrap's records).
RECORD_KEYS = {"ner": ("id", "tp", "fp", "fn"), "re": ("id", "gold", "pred"), "qa": ("id", "strict", "lenient", "rr")}


def run_dir(runs: Path, model: str, dataset: str, seed: int) -> Path:
    return Path(runs) / model / dataset / f"seed{seed}"


def _require(path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"missing input {path}: the fine-tuning run has not produced it "
                                f"(run `compactbio finetune` for this model/dataset/seed first)")


def load_metrics(path: Path, task: str) -> dict[str, float]:
    """The ``test`` scores of one run's metrics.json, checked against the contract."""
    path = Path(path)
    _require(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("test"), dict):
        raise ValueError(f"{path}: no 'test' object with the test-set scores")
    if data.get("task", task) != task:
        raise ValueError(f"{path}: task is {data.get('task')!r} but the table expects {task!r}")
    test = data["test"]
    out = {}
    for key in TEST_KEYS[task]:
        value = test.get(key)
        if not _is_score(value):
            raise ValueError(f"{path}: test.{key} must be a score in [0, 1], got {value!r}")
        out[key] = float(value)
    # Further scores (QA: strict_authors, ...; NER: precision_subword, ...) when they are scores.
    out.update({k: float(v) for k, v in test.items() if k not in out and _is_score(v)})
    return out


def _is_score(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) \
        and 0.0 <= value <= 1.0


def load_protocol(path: Path) -> dict:
    """How a run was trained and scored (metrics.json ``protocol``); runs written before it
    was recorded kept the best validation epoch and, for QA, the merged ranking."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    proto = data.get("protocol") if isinstance(data.get("protocol"), dict) else {}
    out = {"select": "best", "validation": True}
    if data.get("task") == "qa":
        out.update(scoring="merged", answer_cleanup="trim")
    out.update(proto)
    return out


def load_records(path: Path, task: str) -> list[dict]:
    """One run's per_example.jsonl (records for the paired bootstrap)."""
    path = Path(path)
    _require(path)
    records = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: line {n}: not valid JSON ({exc.msg})") from None
            missing = [k for k in RECORD_KEYS[task] if not isinstance(rec, dict) or k not in rec]
            if missing:
                raise ValueError(f"{path}: line {n}: missing field(s) {', '.join(missing)} for a {task} record")
            records.append(rec)
    if not records:
        raise ValueError(f"{path}: no per-example records")
    return records


@dataclass(frozen=True)
class Score:
    """One score over seeds, in display units (×100)."""

    mean: float
    std: float | None      # sample std over seeds; None for a single seed
    values: tuple[float, ...]

    @classmethod
    def of(cls, fractions: list[float]) -> "Score":
        vals = np.array(fractions, dtype=float) * 100.0
        std = float(vals.std(ddof=1)) if len(vals) > 1 else None
        return cls(float(vals.mean()), std, tuple(float(v) for v in vals))


class Results:
    """Lazy, cached access to the runs of one table (each file read once)."""

    def __init__(self, runs: Path, seeds: list[int]):
        if not seeds:
            raise ValueError("params grid.seeds is empty: no runs to tabulate")
        self.runs, self.seeds = Path(runs), [int(s) for s in seeds]
        self._metrics: dict[tuple, dict] = {}
        self._records: dict[tuple, list] = {}

    def metrics(self, model: str, dataset: str, seed: int, task: str) -> dict[str, float]:
        key = (model, dataset, seed)
        if key not in self._metrics:
            self._metrics[key] = load_metrics(run_dir(self.runs, model, dataset, seed) / "metrics.json", task)
        return self._metrics[key]

    def records_path(self, model: str, dataset: str, seed: int) -> Path:
        return run_dir(self.runs, model, dataset, seed) / "per_example.jsonl"

    def records(self, model: str, dataset: str, seed: int, task: str) -> list[dict]:
        key = (model, dataset, seed)
        if key not in self._records:
            self._records[key] = load_records(self.records_path(model, dataset, seed), task)
        return self._records[key]

    def has_run(self, model: str, dataset: str) -> bool:
        """Every seed of this model/dataset has both files (optional comparisons)."""
        return all((run_dir(self.runs, model, dataset, s) / name).is_file()
                   for s in self.seeds for name in ("metrics.json", "per_example.jsonl"))

    def score(self, model: str, dataset: str, task: str, metric: str) -> Score:
        values = []
        for s in self.seeds:
            m = self.metrics(model, dataset, s, task)
            if metric not in m:
                raise ValueError(f"{run_dir(self.runs, model, dataset, s) / 'metrics.json'}: no test.{metric} "
                                 f"(written by an older version: re-run `compactbio finetune` for this run)")
            values.append(m[metric])
        return Score.of(values)

    def protocols(self, pairs) -> list[dict]:
        """The distinct protocols of the runs of ``(model, dataset)`` pairs (each seed), in a stable order."""
        seen: dict[str, dict] = {}
        for model, dataset in pairs:
            for s in self.seeds:
                path = run_dir(self.runs, model, dataset, s) / "metrics.json"
                if path.is_file():
                    proto = load_protocol(path)
                    seen.setdefault(json.dumps(proto, sort_keys=True), proto)
        return [seen[k] for k in sorted(seen)]
