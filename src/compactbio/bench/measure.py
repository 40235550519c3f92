"""Measure architectures: parameters, latency, throughput and peak memory.

Method (kept in one place so the report can state it exactly):

* Inputs are random token ids from a seeded generator with a full attention
  mask; only the shapes matter for timing.  Weights are random (built from
  the config): cost does not depend on their values.
* Latency: batch 1, for each sequence length.  ``warmup`` untimed forwards
  per model and shape, then ``rounds`` rounds; each round visits every
  (model, shape) once, in an order shuffled afresh each round (seeded), and
  times ``repeats`` forwards there (CUDA synchronised, Python's garbage
  collector paused).  A round's value is the median of its repeats.
* The clock.  CPU with one thread: the timing thread's CPU time
  (``time.thread_time``), where the forward runs entirely; on an idle machine
  it equals the wall-clock latency, and on a busy one the time the process
  sits descheduled behind other work is not counted.  That time is what made
  a wall-clock median of a few rounds put identical architectures 5x apart
  on a busy 2-core machine (and TinyBERT at L=256 below L=128); what is left
  (caches, clock speed, a virtual machine's time lent to other guests) is
  noise on both sides, so the reported latency (``median``) is the **median
  of the round medians**.  On that machine under a load of ~10, one forward's
  CPU time still varies by about +-30%, so it takes many runs: 30 rounds of 5
  give about +-3% (``uncertainty``), 100 rounds of 4 about +-1%, and the same
  network under two names then comes out within 2-3%.  GPU, or CPU with
  several threads (whose work a thread clock would miss): wall-clock
  ``time.perf_counter``, where other work only ever adds time, so the
  reported latency is the **lowest round median**.  Wall-clock statistics
  are kept beside the CPU-time ones in either case (``wall``).
* ``spread``: the interquartile range of the round medians over their
  median; ``uncertainty``: the relative standard error of a median of that
  many rounds, 1.2533 x (IQR / 1.349) / sqrt(rounds) over the median.  Above
  ``UNCERTAINTY_WARN`` (or with fewer than ``MIN_ROUNDS`` rounds, where it
  cannot be told) a difference of about 10% between two models may be noise,
  so the tables mark the model as not to be ranked.  The pooled median, 90th
  percentile (linear interpolation) and minimum of all timed runs are kept.
* Throughput: batch ``batch_size`` at ``seq_length``, timed the same way
  (it is one more shape of the rounds); sequences per second from the
  latency figure of one batch.
* Peak memory, CPU: the process's resident-set high-water mark (``VmHWM``)
  is reset through ``/proc/self/clear_refs`` after the libraries are
  imported; the peak reached while the model is built and runs one forward
  at batch 1 and the longest sequence length, minus the resident set just
  before building, is the model's memory: weights plus activations.  It is
  clean only in a process that has built no model before (freed memory of an
  earlier model would be reused and hide part of the next one), which is why
  the stage measures memory in one process per architecture by default
  (``isolate``: forked from the stage before it builds anything on Linux CPU
  runs, a fresh interpreter where CUDA is measured).
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
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .architectures import build_model, count_parameters, get, model_classes

logger = logging.getLogger(__name__)

_PROC_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


# Above this uncertainty, or with fewer rounds (see the method above), a timing is too noisy to rank
# models by: the tables mark it.
UNCERTAINTY_WARN = 0.05
MIN_ROUNDS = 3
CLOCKS = {"thread_cpu": "median of round medians", "wall": "lowest round median"}


def summarize_ms(rounds: list[list[float]], clock: str = "wall") -> dict:
    """The statistics of one (model, shape) from its timed runs in seconds, one list per round.

    ``median``: the reported figure, by ``clock`` (module docstring): the
    median of the round medians for ``thread_cpu``, the lowest round median
    for ``wall``; ``spread``: interquartile range of the round medians over
    their median; ``uncertainty``: the relative standard error of their
    median; ``round_medians`` in round order; ``pooled_median``,
    ``p90`` and ``min`` over all runs; ``runs`` and ``rounds`` counted.
    """
    if clock not in CLOCKS:
        raise ValueError(f"unknown clock {clock!r}; expected one of {sorted(CLOCKS)}")
    rounds = [list(r) for r in rounds if len(r)]
    if not rounds:
        raise ValueError("no timed runs to summarise (rounds and repeats must be >= 1)")
    medians = np.array([np.median(r) for r in rounds], dtype=float) * 1000.0
    ms = np.concatenate([np.asarray(r, dtype=float) for r in rounds]) * 1000.0
    middle = float(np.median(medians))
    q25, q75 = np.percentile(medians, [25, 75])
    spread = float(q75 - q25) / middle if middle > 0 else 0.0
    return {"median": middle if clock == "thread_cpu" else float(medians.min()), "clock": clock,
            "statistic": CLOCKS[clock], "spread": spread,
            "uncertainty": 1.2533 * spread / 1.349 / float(np.sqrt(len(medians))),
            "round_medians": [float(m) for m in medians], "pooled_median": float(np.median(ms)),
            "p90": float(np.percentile(ms, 90)), "min": float(ms.min()), "runs": int(ms.size),
            "rounds": len(rounds)}


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


def _release_free_heap() -> None:
    """glibc: hand the heap's free pages back to the kernel (``malloc_trim``), so a model built next
    faults in pages of its own instead of silently reusing resident ones freed earlier."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None).malloc_trim(0)
        except (OSError, AttributeError):   # not glibc
            pass


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


def _time_forward(torch, model, inputs: dict, warmup: int, repeats: int, cuda: bool) -> list[tuple[float, float]]:
    """``(wall seconds, thread CPU seconds)`` of each of ``repeats`` forwards after ``warmup`` untimed ones."""
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            if cuda:
                torch.cuda.synchronize()
            start, cpu = time.perf_counter(), time.thread_time()
            model(**inputs)
            if cuda:
                torch.cuda.synchronize()
            if i >= warmup:
                times.append((time.perf_counter() - start, time.thread_time() - cpu))
    return times


def clock_for(device: str, threads: int) -> str:
    """The clock of the reported figures (module docstring): thread CPU time for single-threaded CPU runs."""
    return "thread_cpu" if device == "cpu" and int(threads) == 1 else "wall"


def summarize_visits(visits: list[list[tuple[float, float]]], clock: str) -> dict:
    """``summarize_ms`` of the reported clock, with the wall-clock statistics under ``wall``."""
    wall = [[w for w, _ in v] for v in visits]
    out = summarize_ms([[c for _, c in v] for v in visits] if clock == "thread_cpu" else wall, clock)
    out["wall"] = summarize_ms(wall, "wall")
    return out


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
    ``isolated`` (recorded only: whether this runs in a process of its own).
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
            _release_free_heap()
            hwm = _reset_peak_rss()
            base_rss, base_file = _rss_bytes(), _status_kib("RssFile")
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
            # Library code mapped in while building and running the model is not the model's memory
            # (and a forked child maps in again even the pages its parent had touched): taken out.
            code = (_status_kib("RssFile") - base_file) * 1024 if base_file is not None else 0
            memory, method = _status_kib("VmHWM") * 1024 - base_rss - code, "VmHWM delta (peak RSS) less file pages"
        else:
            memory, method = _rss_bytes() - base_rss, "RSS delta after forward (psutil)"
        result["devices"][device] = {"memory_bytes": int(memory), "memory_method": method,
                                     "memory_shape": {"batch_size": 1, "seq_length": longest}}
        del model
        gc.collect()
    return result


def time_models(models: dict, vocabs: dict, device: str, spec: dict) -> dict[str, dict]:
    """Latency and throughput of several built models, measured in interleaved rounds.

    On a shared machine the load changes from second to second; timing one
    model after the other would hand one model a quiet minute and the next a
    busy one.  Each of ``rounds`` rounds visits every (model, shape) once, in
    a freshly shuffled order (``seed``), so no model keeps a fixed place next
    to a heavier one and every model meets the same mix of load; the clock and
    the statistic (module docstring) keep what load remains from deciding the
    ranking.  Each model gets its warm-up forwards per input
    shape before the first round.  ``spec`` keys: ``threads``, ``seed``,
    ``seq_lengths``, ``rounds``, ``latency`` {warmup, repeats}, ``throughput``
    {batch_size, seq_length, warmup, repeats}.
    """
    import torch

    _set_threads(torch, spec["threads"])
    cuda, seed = device == "cuda", int(spec["seed"])
    lat, tp = spec["latency"], spec["throughput"]
    batch_shape = (tp["batch_size"], tp["seq_length"])
    shapes = [(1, n) for n in spec["seq_lengths"]] + [batch_shape]
    inputs = {name: {s: _inputs(torch, s[0], s[1], vocabs[name], device, seed) for s in shapes} for name in models}
    for name, model in models.items():
        for s in shapes:
            _time_forward(torch, model, inputs[name][s], tp["warmup"] if s == batch_shape else lat["warmup"], 0, cuda)
    visits = [(name, s) for s in shapes for name in models]
    times: dict = {v: [] for v in visits}
    rng = np.random.default_rng(seed)
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()   # a collection inside a timed forward is noise, not cost
    try:
        for _ in tqdm(range(int(spec["rounds"])), desc=f"timing rounds ({device})", disable=not sys.stderr.isatty()):
            for i in rng.permutation(len(visits)):
                name, s = visits[i]
                repeats = tp["repeats"] if s == batch_shape else lat["repeats"]
                times[(name, s)].append(_time_forward(torch, models[name], inputs[name][s], 0, repeats, cuda))
    finally:
        if gc_was_enabled:
            gc.enable()
    out = {}
    clock = clock_for(device, spec["threads"])
    for name in models:
        batch_ms = summarize_visits(times[(name, batch_shape)], clock)
        out[name] = {
            "dtype": "bfloat16" if cuda else "float32",
            "threads": None if cuda else int(spec["threads"]),
            "clock": clock,
            "device_name": torch.cuda.get_device_name() if cuda else _cpu_name(),
            "latency_ms": {str(n): summarize_visits(times[(name, (1, n))], clock) for n in spec["seq_lengths"]},
            "throughput": {"batch_size": tp["batch_size"], "seq_length": tp["seq_length"], "batch_ms": batch_ms,
                           "sequences_per_s": tp["batch_size"] / (batch_ms["median"] / 1000.0)},
        }
        logger.info("%s on %s: latency %s ms, throughput %.1f seq/s", name, device,
                    ", ".join(f"L={n} {out[name]['latency_ms'][str(n)]['median']:.2f} "
                              f"(±{100 * out[name]['latency_ms'][str(n)]['uncertainty']:.1f}%)"
                              for n in spec["seq_lengths"]),
                    out[name]["throughput"]["sequences_per_s"])
    return out


def unreliable(timing: dict, seq_lengths: list[int]) -> list[str]:
    """Why one model's timings on one device cannot rank it (empty when they can).

    Three signs: an uncertainty above ``UNCERTAINTY_WARN`` (the rounds
    disagree: a busy machine), fewer than ``MIN_ROUNDS`` rounds (nothing to
    tell it by), and a longer sequence measured faster than a shorter one,
    which no architecture here does (attention and every layer grow with
    length).
    """
    why = []
    figures = [(f"latency at L={n}", timing["latency_ms"][str(n)]) for n in seq_lengths]
    figures.append(("throughput", timing["throughput"]["batch_ms"]))
    rounds = min(f.get("rounds", MIN_ROUNDS) for _, f in figures)
    if rounds < MIN_ROUNDS:
        why.append(f"only {rounds} timing round(s), too few to tell the noise")
    for what, fig in figures:
        u = fig.get("uncertainty", 0.0)
        if u > UNCERTAINTY_WARN:
            why.append(f"{what} uncertain by {100 * u:.0f}% (limit {100 * UNCERTAINTY_WARN:.0f}%)")
    ordered = sorted(seq_lengths)
    for short, long in zip(ordered, ordered[1:]):
        if timing["latency_ms"][str(long)]["median"] < timing["latency_ms"][str(short)]["median"]:
            why.append(f"latency at L={long} is below L={short}")
    return why


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()
