"""Measure one architecture: parameters, latency, throughput and peak memory.

Method (kept in one place so the report can state it exactly):

* Inputs are random token ids from a seeded generator with a full attention
  mask; only the shapes matter for timing.
* Latency: batch 1, for each sequence length; ``warmup`` untimed forwards,
  then ``repeats`` timed ones (``time.perf_counter``, CUDA synchronised);
  median and 90th percentile (linear interpolation) in milliseconds.
* Throughput: batch ``batch_size`` at ``seq_length``; sequences per second
  from the median time of the timed batches.
* Peak memory, CPU: the process's resident-set high-water mark (``VmHWM``)
  is reset through ``/proc/self/clear_refs`` after the libraries are
  imported; the peak reached while the model is built and runs one forward
  at batch 1 and the longest sequence length, minus the resident set just
  before building, is the model's memory: weights plus activations.  It is
  clean only in a fresh process (freed memory of an earlier model would be
  reused and hide part of the next one), which is why the stage runs each
  architecture in its own subprocess by default.  Without ``clear_refs``
  (non-Linux) the resident set after the forward is used instead (psutil).
* Peak memory, GPU: ``torch.cuda.max_memory_allocated`` from a reset before
  the weights are moved to the device until the end of the same forward.
* CPU runs in float32 with ``torch.set_num_threads(threads)``; GPU runs in
  bfloat16.
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
    return {"median": float(np.median(ms)), "p90": float(np.percentile(ms, 90)), "runs": len(ms)}


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


def _vocab(config: dict) -> int:
    return int(config["vocab_size"])


def measure_architecture(spec: dict) -> dict:
    """Measure one architecture as described by ``spec`` (see ``efficiency.measure_spec``).

    ``spec`` keys: ``architecture``, ``size``, ``threads``, ``seed``,
    ``seq_lengths``, ``latency`` {warmup, repeats}, ``throughput``
    {batch_size, seq_length, warmup, repeats}, ``devices`` (list of "cpu",
    "cuda"), ``isolated`` (bool, recorded only).
    """
    import torch

    arch = get(spec["architecture"])
    config = arch.config(spec["size"])
    torch.set_num_threads(int(spec["threads"]))
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process (in-process runs)
        pass
    model_classes(arch.kind)  # import before the memory baseline, so imports are not counted
    seed = int(spec["seed"])
    longest = max(spec["seq_lengths"])
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
        model = build_model(arch.kind, config)
        if "params_total" not in result:
            result["params_total"], result["params_non_embedding"] = count_parameters(model)
            result["attn_implementation"] = getattr(model.config, "_attn_implementation", None)
        dtype = torch.bfloat16 if cuda else torch.float32
        model = model.to(device=device, dtype=dtype)
        vocab = _vocab(config)

        with torch.inference_mode():
            model(**_inputs(torch, 1, longest, vocab, device, seed))
        if cuda:
            torch.cuda.synchronize()
            memory = torch.cuda.max_memory_allocated() - base_cuda
            memory_method = "torch.cuda.max_memory_allocated"
        elif hwm:
            memory = _status_kib("VmHWM") * 1024 - base_rss
            memory_method = "VmHWM delta (peak RSS)"
        else:
            memory = _rss_bytes() - base_rss
            memory_method = "RSS delta after forward (psutil)"

        latency = {}
        for length in spec["seq_lengths"]:
            inputs = _inputs(torch, 1, length, vocab, device, seed)
            times = _time_forward(torch, model, inputs, spec["latency"]["warmup"],
                                  spec["latency"]["repeats"], cuda)
            latency[str(length)] = summarize_ms(times)
            logger.info("%s %s seq %d: median %.1f ms", arch.name, device, length, latency[str(length)]["median"])

        tp = spec["throughput"]
        inputs = _inputs(torch, tp["batch_size"], tp["seq_length"], vocab, device, seed)
        times = _time_forward(torch, model, inputs, tp["warmup"], tp["repeats"], cuda)
        batch_ms = summarize_ms(times)
        result["devices"][device] = {
            "dtype": str(dtype).replace("torch.", ""),
            "threads": int(spec["threads"]) if not cuda else None,
            "device_name": torch.cuda.get_device_name() if cuda else _cpu_name(),
            "latency_ms": latency,
            "throughput": {"batch_size": tp["batch_size"], "seq_length": tp["seq_length"],
                           "batch_ms": batch_ms,
                           "sequences_per_s": tp["batch_size"] / (batch_ms["median"] / 1000.0)},
            "memory_bytes": int(memory),
            "memory_method": memory_method,
            "memory_shape": {"batch_size": 1, "seq_length": longest},
        }
        del model, inputs
        gc.collect()
    return result


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()
