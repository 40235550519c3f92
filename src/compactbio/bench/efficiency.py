"""The efficiency stage: inference cost of every architecture of the grid (the paper's Fig. 2).

Each architecture is measured once (by default in a process of its own, for a
clean peak-memory figure; see ``measure``) and reported under every model id
of ``grid.models`` that uses it, with ratios to the reference model
(BioBERT-v1.1), so the table reads "x times BioBERT" directly.  Nothing here
depends on trained weights, so the stage needs no other stage's output.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from tqdm import tqdm

from ..io import atomic_dir, write_json
from . import architectures, measure, tables

logger = logging.getLogger(__name__)

MAX_POSITIONS = 512  # every architecture of the study has 512 position embeddings


def _positive_int(value, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"params.yaml: efficiency.{key} must be a positive integer, got {value!r}")
    return value


def settings(params: dict) -> dict:
    """Validate ``params["efficiency"]`` against the grid and return it normalised."""
    if "efficiency" not in params:
        raise ValueError("params.yaml: missing section `efficiency`")
    eff = params["efficiency"]
    grid_models = list(params["grid"]["models"])
    size = eff.get("size")
    if size not in architectures.SIZES:
        raise ValueError(f"params.yaml: efficiency.size must be one of {architectures.SIZES}, got {size!r}")
    mapping = eff.get("architectures") or {}
    for model in grid_models:
        if model not in mapping:
            raise ValueError(f"params.yaml: efficiency.architectures has no entry for grid model {model!r}")
        if mapping[model] not in architectures.ARCHITECTURES:
            raise ValueError(f"params.yaml: efficiency.architectures.{model}: unknown architecture "
                             f"{mapping[model]!r}; known: {sorted(architectures.ARCHITECTURES)}")
    reference = eff.get("reference")
    if reference not in grid_models:
        raise ValueError(f"params.yaml: efficiency.reference {reference!r} is not in grid.models")
    seq_lengths = eff.get("seq_lengths") or []
    if not seq_lengths:
        raise ValueError("params.yaml: efficiency.seq_lengths must list at least one length")
    for i, length in enumerate(seq_lengths):
        _positive_int(length, f"seq_lengths[{i}]")
        if length > MAX_POSITIONS:
            raise ValueError(f"params.yaml: efficiency.seq_lengths[{i}] = {length} exceeds {MAX_POSITIONS} positions")
    if len(set(seq_lengths)) != len(seq_lengths):
        raise ValueError("params.yaml: efficiency.seq_lengths has duplicates")
    lat, tp = eff.get("latency") or {}, eff.get("throughput") or {}
    out = {
        "size": size,
        "reference": reference,
        "models": grid_models,
        "architectures": {m: mapping[m] for m in grid_models},
        "threads": _positive_int(eff.get("threads"), "threads"),
        "seed": int(eff.get("seed", 0)),
        "seq_lengths": [int(x) for x in seq_lengths],
        "latency": {"warmup": int(lat.get("warmup", 0)), "repeats": _positive_int(lat.get("repeats"), "latency.repeats")},
        "throughput": {"batch_size": _positive_int(tp.get("batch_size"), "throughput.batch_size"),
                       "seq_length": _positive_int(tp.get("seq_length"), "throughput.seq_length"),
                       "warmup": int(tp.get("warmup", 0)),
                       "repeats": _positive_int(tp.get("repeats"), "throughput.repeats")},
        "rounds": _positive_int(eff.get("rounds"), "rounds"),
        "isolate": bool(eff.get("isolate", True)),
        "gpu": bool(eff.get("gpu", True)),
    }
    if out["throughput"]["seq_length"] > MAX_POSITIONS:
        raise ValueError(f"params.yaml: efficiency.throughput.seq_length exceeds {MAX_POSITIONS} positions")
    if out["latency"]["warmup"] < 0 or out["throughput"]["warmup"] < 0:
        raise ValueError("params.yaml: efficiency warmup counts must be >= 0")
    return out


def _devices(cfg: dict) -> list[str]:
    import torch

    return ["cpu", "cuda"] if cfg["gpu"] and torch.cuda.is_available() else ["cpu"]


def _spec(cfg: dict, arch: str, devices: list[str]) -> dict:
    return {"architecture": arch, "size": cfg["size"], "threads": cfg["threads"], "seed": cfg["seed"],
            "seq_lengths": cfg["seq_lengths"], "devices": devices, "isolated": cfg["isolate"]}


def _memory_in_subprocess(spec: dict) -> dict:
    """Run ``measure.measure_memory`` in a fresh interpreter (clean RSS, no allocator reuse)."""
    with tempfile.TemporaryDirectory(prefix="compactbio-bench-") as tmp:
        spec_path, result_path = Path(tmp) / "spec.json", Path(tmp) / "result.json"
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        env = dict(os.environ, OMP_NUM_THREADS=str(spec["threads"]), MKL_NUM_THREADS=str(spec["threads"]))
        proc = subprocess.run([sys.executable, "-m", "compactbio.bench.worker", str(spec_path), str(result_path)],
                              env=env, capture_output=True, text=True)
        if proc.returncode != 0 or not result_path.exists():
            raise RuntimeError(f"measuring {spec['architecture']} failed (exit {proc.returncode}):\n"
                               f"{proc.stderr[-4000:]}")
        return json.loads(result_path.read_text(encoding="utf-8"))


def _memory_in_fork(spec: dict) -> dict:
    """``measure.measure_memory`` in a child forked from this process, which has imported the libraries
    and built nothing yet: as clean a baseline as a fresh interpreter's, without paying the ~5 s of
    imports again for every architecture."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from .architectures import get, model_classes

    model_classes(get(spec["architecture"]).kind)   # imported here once, not in every child
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        return pool.submit(measure.measure_memory, spec).result()


def _isolated_memory(spec: dict) -> dict:
    """One process per architecture: forked on Linux CPU runs; a fresh interpreter where CUDA is
    measured (a forked child cannot use CUDA once the parent has queried it) or fork is not Linux's."""
    if sys.platform.startswith("linux") and spec["devices"] == ["cpu"]:
        return _memory_in_fork(spec)
    return _memory_in_subprocess(spec)


def measure_all(cfg: dict) -> dict[str, dict]:
    """Memory per architecture (one fresh process each), then timings of all of them round-robin."""
    devices = _devices(cfg)
    archs = list(dict.fromkeys(cfg["architectures"].values()))
    results = {}
    for arch in tqdm(archs, desc="memory", disable=not sys.stderr.isatty()):
        spec = _spec(cfg, arch, devices)
        logger.info("memory of %s (%s size) on %s", arch, cfg["size"], ", ".join(devices))
        results[arch] = _isolated_memory(spec) if cfg["isolate"] else measure.measure_memory(spec)
    for device in devices:
        logger.info("timing %d architectures on %s, %d rounds", len(archs), device, cfg["rounds"])
        models = {a: measure.build(a, cfg["size"], device) for a in archs}
        vocabs = {a: measure.vocab_size(a, cfg["size"]) for a in archs}
        timings = measure.time_models(models, vocabs, device, cfg)
        del models
        for arch in archs:
            results[arch]["devices"][device].update(timings[arch])
    return results


def ratio(value: float, reference: float) -> float:
    """``value / reference``; a zero reference gives NaN rather than a crash or a fake infinity."""
    return float(value) / float(reference) if reference else float("nan")


def build_rows(cfg: dict, results: dict[str, dict], displays: dict[str, str]) -> list[dict]:
    """One flat row per (device, model) with absolute numbers and ratios to the reference."""
    rows = []
    ref_arch = results[cfg["architectures"][cfg["reference"]]]
    for device in ref_arch["devices"]:
        ref_dev = ref_arch["devices"][device]
        for model in cfg["models"]:
            res = results[cfg["architectures"][model]]
            dev = res["devices"][device]
            display = displays.get(model, model)
            row = {"device": device, "dtype": dev["dtype"], "clock": dev.get("clock", "wall"),
                   "model": model, "display": display,
                   "label": f"{display} [{device}]",  # unique per row: the category axis of DVC bar plots
                   "architecture": res["architecture"],
                   "group": res["group"], "params_total": res["params_total"],
                   "params_non_embedding": res["params_non_embedding"],
                   "params_ratio": ratio(res["params_total"], ref_arch["params_total"])}
            for length in cfg["seq_lengths"]:
                lat, ref_lat = dev["latency_ms"][str(length)], ref_dev["latency_ms"][str(length)]
                row[f"latency_{length}_median_ms"] = lat["median"]
                row[f"latency_{length}_p90_ms"] = lat["p90"]
                row[f"latency_{length}_min_ms"] = lat["min"]
                row[f"latency_{length}_uncertainty"] = lat.get("uncertainty", 0.0)
                row[f"latency_{length}_wall_ms"] = lat.get("wall", {}).get("median", lat["median"])
                row[f"latency_{length}_ratio"] = ratio(lat["median"], ref_lat["median"])
            tp, ref_tp = dev["throughput"]["sequences_per_s"], ref_dev["throughput"]["sequences_per_s"]
            row["throughput_seq_per_s"] = tp
            row["throughput_uncertainty"] = dev["throughput"]["batch_ms"].get("uncertainty", 0.0)
            row["throughput_ratio"] = ratio(tp, ref_tp)
            # why these timings cannot rank the model ("" when they can): the tables mark such rows
            row["timing_warning"] = "; ".join(measure.unreliable(dev, cfg["seq_lengths"]))
            row["memory_mib"] = dev["memory_bytes"] / 2**20
            row["memory_ratio"] = ratio(dev["memory_bytes"], ref_dev["memory_bytes"])
            row["reference"] = model == cfg["reference"]
            rows.append(row)
    return rows


def _environment() -> dict:
    import torch
    import transformers

    env = {"python": platform.python_version(), "torch": torch.__version__,
           "transformers": transformers.__version__, "platform": platform.platform(),
           "cpu_count": os.cpu_count()}
    if torch.cuda.is_available():
        env["cuda_device"] = torch.cuda.get_device_name()
    return env


def run(params: dict, out: Path) -> None:
    """Measure every architecture and write efficiency.{json,csv,tex,md,png,pdf} into ``out``."""
    from ..report import figures

    cfg = settings(params)
    displays = {m: params.get("models", {}).get(m, {}).get("display", m) for m in cfg["models"]}
    results = measure_all(cfg)
    rows = build_rows(cfg, results, displays)
    with atomic_dir(out) as tmp:
        write_json(tmp / "efficiency.json", {
            "reference": cfg["reference"], "settings": cfg, "environment": _environment(),
            "method": (measure.__doc__ or "").strip(),
            "architectures": results, "rows": rows})
        tables.write_csv(tmp / "efficiency.csv", rows)
        tables.write_markdown(tmp / "efficiency.md", rows, cfg)
        tables.write_latex(tmp / "efficiency.tex", rows, cfg)
        figures.efficiency_figure(rows, cfg["seq_lengths"], tmp / "efficiency.png", tmp / "efficiency.pdf")
    for row in rows:
        if row["timing_warning"]:
            logger.warning("%s %s: timings too noisy to rank (%s); rerun `compactbio efficiency` on a quieter "
                           "machine or with more efficiency.rounds", row["device"], row["model"], row["timing_warning"])
    for row in rows:
        logger.info("%s %-14s params %6.1fM  latency@%d %8.1f ms (x%.2f)  memory %7.1f MiB (x%.2f)",
                    row["device"], row["model"], row["params_total"] / 1e6, cfg["seq_lengths"][0],
                    row[f"latency_{cfg['seq_lengths'][0]}_median_ms"], row[f"latency_{cfg['seq_lengths'][0]}_ratio"],
                    row["memory_mib"], row["memory_ratio"])
