"""Read fine-tuning results (``runs/<model>/<dataset>/seed<seed>/``) for the tables.

The table and results stages are the last consumers of every run, so they
check the files they read against the contract in docs/architecture.md and
name the file (and line) they reject; a missing run is an error, never a
silently empty cell.  Scores are averaged over seeds in :mod:`.runs_frame`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path


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


def _read_json(path: Path):
    _require(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None


def load_scores(path: Path, task: str, model: str | None = None, dataset: str | None = None,
                seed: int | None = None) -> dict[str, dict[str, float]]:
    """One run's scores by split (``{"test": {...}, "validation": {...}}``), checked against the contract.

    The test split must hold the task's table metrics (:data:`TEST_KEYS`) as scores; further
    entries of either split are kept when they are scores (QA: strict_authors, ...; NER:
    precision_subword, ...) and skipped otherwise.  ``model``, ``dataset`` and ``seed``, when
    given, must match what the file says it is, so a run copied into the wrong folder is caught.
    """
    path = Path(path)
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("test"), dict):
        raise ValueError(f"{path}: no 'test' object with the test-set scores")
    if data.get("task", task) != task:
        raise ValueError(f"{path}: task is {data.get('task')!r} but the table expects {task!r}")
    for key, want in (("model", model), ("dataset", dataset), ("seed", seed)):
        if want is not None and key in data and data[key] != want:
            raise ValueError(f"{path}: {key} is {data[key]!r} but the run folder is for {want!r}")
    test = data["test"]
    out = {}
    for key in TEST_KEYS[task]:
        value = test.get(key)
        if not _is_score(value):
            raise ValueError(f"{path}: test.{key} must be a score in [0, 1], got {value!r}")
        out[key] = float(value)
    out.update({k: float(v) for k, v in test.items() if k not in out and _is_score(v)})
    validation = data.get("validation", {})
    if not isinstance(validation, dict):
        raise ValueError(f"{path}: 'validation' must be an object of scores, got {validation!r}")
    return {"test": out, "validation": {k: float(v) for k, v in validation.items() if _is_score(v)}}


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


class Results:
    """The runs of one table: their test scores summarised over seeds, and their per-example records.

    Scores come from one tidy frame of the table's own runs (:mod:`.runs_frame`), read by
    :meth:`load` before the table is laid out, so a table reads exactly its own runs' files.
    """

    def __init__(self, runs: Path, seeds: list[int]):
        if not seeds:
            raise ValueError("params grid.seeds is empty: no runs to tabulate")
        self.runs, self.seeds = Path(runs), [int(s) for s in seeds]
        self._tasks: dict[tuple[str, str], str] = {}                  # (model, dataset) -> task, once read
        self._scores: dict[tuple[str, str, str], Score] = {}          # (model, dataset, metric)
        self._gaps: dict[tuple[str, str, str], int] = {}              # metric some seed lacks -> that seed
        self._records: dict[tuple, list] = {}

    def load(self, cells) -> None:
        """Read the (model, dataset, task) runs, every seed, into one frame and average their test scores."""
        # runs_frame imports this module; it, and pandas with it, load only when a table needs scores.
        from .runs_frame import over_seeds, runs_frame

        todo = {(m, d): t for m, d, t in cells if (m, d) not in self._tasks}
        if not todo:
            return
        tasks: dict[str, str] = {}
        for (_, d), t in todo.items():
            if tasks.setdefault(d, t) != t:
                raise ValueError(f"params.yaml: dataset {d!r} is tabulated as both {tasks[d]} and {t}")
        frame = runs_frame(self.runs, [(m, d, s) for m, d in todo for s in self.seeds], tasks)
        summary = over_seeds(frame, self.seeds)
        values = summary[self.seeds].to_numpy(dtype=float)
        for (m, d, metric), vals, mean, std in zip(summary.index, values, summary["mean"], summary["std"]):
            missing = [s for s, v in zip(self.seeds, vals) if math.isnan(v)]
            if missing:
                self._gaps[(m, d, metric)] = missing[0]
                continue
            self._scores[(m, d, metric)] = Score(float(mean), None if len(self.seeds) == 1 else float(std),
                                                 tuple(float(v) for v in vals))
        self._tasks.update(todo)

    def score(self, model: str, dataset: str, task: str, metric: str) -> Score:
        self.load([(model, dataset, task)])
        if self._tasks[(model, dataset)] != task:
            path = run_dir(self.runs, model, dataset, self.seeds[0]) / "metrics.json"
            raise ValueError(f"{path}: task is {self._tasks[(model, dataset)]!r} but the table expects {task!r}")
        key = (model, dataset, metric)
        if key not in self._scores:
            seed = self._gaps.get(key, self.seeds[0])
            raise ValueError(f"{run_dir(self.runs, model, dataset, seed) / 'metrics.json'}: no test.{metric} "
                             f"(written by an older version: re-run `compactbio finetune` for this run)")
        return self._scores[key]

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
