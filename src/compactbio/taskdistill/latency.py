"""Inference latency per sentence at batch size 1, the "Avg time" of the BioBERT-distillation study's README.

Timed on real test sentences (their true lengths, no padding), after a few
untimed warm-up calls, with a fixed CPU thread count so numbers are
comparable between models and runs.  On a GPU, the clock waits for the
device (``synchronize``) before it is read.
"""

from __future__ import annotations

import logging
import statistics
import time
from typing import Sequence

import torch

logger = logging.getLogger(__name__)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(model, sentences: Sequence[Sequence[int]], device: str = "cpu", warmup: int = 5,
            threads: int = 1) -> dict:
    """Mean and median milliseconds per sentence over ``sentences`` (each a list of token ids)."""
    if not sentences:
        raise ValueError("latency: no sentences to time")
    previous = torch.get_num_threads()
    if threads and device == "cpu":
        torch.set_num_threads(int(threads))
    was_training = model.training
    model.eval()
    model.to(device)
    times = []
    try:
        with torch.inference_mode():
            def call(ids):
                x = torch.as_tensor([list(ids)], dtype=torch.long, device=device)
                return model(input_ids=x, attention_mask=torch.ones_like(x))

            for ids in list(sentences)[: max(0, int(warmup))]:
                call(ids)
            _sync(device)
            for ids in sentences:
                start = time.perf_counter()
                call(ids)
                _sync(device)
                times.append((time.perf_counter() - start) * 1000.0)
    finally:
        torch.set_num_threads(previous)
        model.to("cpu")
        model.train(was_training)
    result = {"ms_mean": statistics.fmean(times), "ms_median": statistics.median(times),
              "sentences": len(times), "threads": int(threads) if device == "cpu" else None}
    logger.info("latency on %s: %.3f ms mean, %.3f ms median over %d sentences",
                device, result["ms_mean"], result["ms_median"], len(times))
    return result


def measure_all(model, sentences: Sequence[Sequence[int]], cfg: dict) -> dict:
    """CPU always; CUDA too when a GPU is present and ``cfg['gpu']`` is true."""
    n = int(cfg["sentences"])
    chosen = list(sentences)[:n]
    out = {"cpu": measure(model, chosen, "cpu", int(cfg.get("warmup", 5)), int(cfg.get("threads", 1)))}
    if cfg.get("gpu", True) and torch.cuda.is_available():
        out["cuda"] = measure(model, chosen, "cuda", int(cfg.get("warmup", 5)))
    return out
