"""Measure architectures: parameters, latency, throughput and peak memory.

Method (kept in one place so the report can state it exactly):

* Inputs are random token ids from a seeded generator with a full attention
  mask; only the shapes matter for timing.  Weights are random (built from
  the config): cost does not depend on their values.
* Latency: batch 1, for each sequence length; ``warmup`` untimed forwards per
  shape, then ``rounds`` x ``repeats`` timed ones (``time.perf_counter``, CUDA
  synchronised), taken round-robin over all models (see ``time_models``);
  median, 90th percentile (linear interpolation) and minimum in milliseconds.
* Throughput: batch ``batch_size`` at ``seq_length``, timed the same way;
  sequences per second from the median time of a batch.
* Peak memory, CPU: the process's resident-set high-water mark (``VmHWM``)
  is reset through ``/proc/self/clear_refs`` after the libraries are
  imported; the peak reached while the model is built and runs one forward
  at batch 1 and the longest sequence length, minus the resident set just
  before building, is the model's memory: weights plus activations.  It is
  clean only in a fresh process (freed memory of an earlier model would be
  reused and hide part of the next one), which is why the stage measures
  memory in one subprocess per architecture by default (``isolate``).
  Without ``clear_refs`` (non-Linux) the resident set after the forward is
  used instead (psutil).
* Peak memory, GPU: ``torch.cuda.max_memory_allocated`` from a reset before
  the weights are moved to the device until the end of the same forward.
* CPU runs in float32 with ``torch.set_num_threads(threads)`` (one inter-op
  thread); GPU runs in bfloat16.
"""
from __future__ import annotations

import gc
import logging
import os
import time
from pathlib import Path

import numpy as np

from .architectures import build_model, count_parameters, get, model_classes

logger = logging.getLogger(__name__)

_PROC_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def summarize_ms(seconds: list[float]) -> dict:
    """Median and 90th percentile of timed runs, in milliseconds."""
    if not seconds:
        raise ValueError("no timed runs to summarise (repeats must be >= 1)")
    ms = np.asarray(seconds, dtype=float) * 1000.0
    return {"median": float(np.median(ms)), "p90": float(np.percentile(ms, 90)), "min": float(ms.min()),
            "runs": len(ms)}


def _status_kib(field: str) -> int | None:
    try:
        for line in _PROC_STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's resident-set high-water mark; False where unsupported."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


def _rss_bytes() -> int:
    kib = _status_kib("VmRSS")
    if kib is not None:
        return kib * 1024
    import psutil

    return psutil.Process(os.getpid()).memory_info().rss


def _inputs(torch, batch: int, length: int, vocab: int, device, seed: int) -> dict:
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (batch, length), generator=gen)
    mask = torch.ones(batch, length, dtype=torch.long)
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device)}


def _time_forward(torch, model, inputs: dict, warmup: int, repeats: int, cuda: bool) -> list[float]:
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            model(**inputs)
            if cuda:
                torch.cuda.synchronize()
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return times


def _set_threads(torch, threads: int) -> None:
    torch.set_num_threads(int(threads))
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # can be set once per process only
        pass


def vocab_size(arch_name: str, size: str) -> int:
    return int(get(arch_name).config(size)["vocab_size"])


def build(arch_name: str, size: str, device: str):
    """Build an architecture on ``device``: float32 on CPU, bfloat16 on GPU."""
    import torch

    arch = get(arch_name)
    model = build_model(arch.kind, arch.config(size))
    return model.to(device=device, dtype=torch.bfloat16 if device == "cuda" else torch.float32)


def measure_memory(spec: dict) -> dict:
    """Parameter counts and peak inference memory of one architecture on each device.

    ``spec`` keys: ``architecture``, ``size``, ``threads``, ``seed``,
    ``seq_lengths`` (memory is taken at the longest), ``devices``,
    ``isolated`` (recorded only: whether this runs in a fresh process).
    """
    import torch

    arch = get(spec["architecture"])
    config = arch.config(spec["size"])
    _set_threads(torch, spec["threads"])
    model_classes(arch.kind)  # import before the memory baseline, so imports are not counted
    seed, longest = int(spec["seed"]), max(spec["seq_lengths"])
    result: dict = {"architecture": arch.name, "kind": arch.kind, "group": arch.group,
                    "description": arch.description, "size": spec["size"], "config": config,
                    "isolated": bool(spec.get("isolated", False)), "devices": {}}
    for device in spec["devices"]:
        cuda = device == "cuda"
        gc.collect()
        torch.manual_seed(seed)
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            base_cuda = torch.cuda.memory_allocated()
        else:
            hwm = _reset_peak_rss()
            base_rss = _rss_bytes()
        model = build(arch.name, spec["size"], device)
        if "params_total" not in result:
            result["params_total"], result["params_non_embedding"] = count_parameters(model)
            result["attn_implementation"] = getattr(model.config, "_attn_implementation", None)
        with torch.inference_mode():
            model(**_inputs(torch, 1, longest, int(config["vocab_size"]), device, seed))
        if cuda:
            torch.cuda.synchronize()
            memory, method = torch.cuda.max_memory_allocated() - base_cuda, "torch.cuda.max_memory_allocated"
        elif hwm:
            memory, method = _status_kib("VmHWM") * 1024 - base_rss, "VmHWM delta (peak RSS)"
        else:
            memory, method = _rss_bytes() - base_rss, "RSS delta after forward (psutil)"
        result["devices"][device] = {"memory_bytes": int(memory), "memory_method": method,
                                     "memory_shape": {"batch_size": 1, "seq_length": longest}}
        del model
        gc.collect()
    return result


def time_models(models: dict, vocabs: dict, device: str, spec: dict) -> dict[str, dict]:
    """Latency and throughput of several built models, measured round-robin.

    On a shared machine the load changes from second to second; timing one
    model after the other would hand one model a quiet minute and the next a
    busy one.  Interleaving ``rounds`` short rounds over all models spreads
    that noise evenly, so ratios between models stay meaningful.  Each model
    gets its warm-up forwards per input shape before the first round.
    ``spec`` keys: ``threads``, ``seed``, ``seq_lengths``, ``rounds``,
    ``latency`` {warmup, repeats}, ``throughput`` {batch_size, seq_length,
    warmup, repeats}.
    """
    import torch

    _set_threads(torch, spec["threads"])
    cuda, seed = device == "cuda", int(spec["seed"])
    lat, tp = spec["latency"], spec["throughput"]
    shapes = [(1, n) for n in spec["seq_lengths"]] + [(tp["batch_size"], tp["seq_length"])]
    inputs = {name: {s: _inputs(torch, s[0], s[1], vocabs[name], device, seed) for s in shapes} for name in models}
    for name, model in models.items():
        for s in shapes:
            _time_forward(torch, model, inputs[name][s], tp["warmup"] if s == shapes[-1] else lat["warmup"], 0, cuda)
    times: dict = {name: {s: [] for s in shapes} for name in models}
    for _ in range(int(spec["rounds"])):
        for s in shapes:
            repeats = tp["repeats"] if s == shapes[-1] else lat["repeats"]
            for name, model in models.items():
                times[name][s] += _time_forward(torch, model, inputs[name][s], 0, repeats, cuda)
    out = {}
    for name in models:
        batch_ms = summarize_ms(times[name][shapes[-1]])
        out[name] = {
            "dtype": "bfloat16" if cuda else "float32",
            "threads": None if cuda else int(spec["threads"]),
            "device_name": torch.cuda.get_device_name() if cuda else _cpu_name(),
            "latency_ms": {str(n): summarize_ms(times[name][(1, n)]) for n in spec["seq_lengths"]},
            "throughput": {"batch_size": tp["batch_size"], "seq_length": tp["seq_length"], "batch_ms": batch_ms,
                           "sequences_per_s": tp["batch_size"] / (batch_ms["median"] / 1000.0)},
        }
        logger.info("%s on %s: latency %s ms, throughput %.1f seq/s", name, device,
                    ", ".join(f"L={n} {out[name]['latency_ms'][str(n)]['median']:.1f}" for n in spec["seq_lengths"]),
                    out[name]["throughput"]["sequences_per_s"])
    return out


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()
