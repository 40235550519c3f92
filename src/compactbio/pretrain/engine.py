"""The one training loop behind distillation, continual MLM and the demo teacher.

A *task* is an ``nn.Module`` whose ``forward(batch, norms)`` returns
``(loss, {term: value})``; it owns the trainable parameters (student and any
projection) and keeps frozen things (the teacher) out of its parameters.  The
loop does the rest: length-grouped batches, dynamic masking, gradient
accumulation, DDP, AdamW with linear warm-up and decay, clipping, bf16
autocast on CUDA, logging and exact resume from checkpoints.

Loss normalisation: every term is a mean over a whole *global* batch (all
accumulation micro-batches on all ranks).  ``norms`` carries the global element
counts, each micro-batch contributes ``sum / global_count``, and the loss is
multiplied by the world size because DDP averages gradients.  So one process
with batch B, or 2 ranks with B/2 each, or 4 accumulation steps of B/4, all
compute the same gradient.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist
from safetensors.torch import load_model, save_model
from tqdm.auto import tqdm

from ..io import atomic_dir, read_json, write_json
from .data import StepBatches

logger = logging.getLogger(__name__)

CHECKPOINT = "checkpoint"
LOG_FILE = "train_log.csv"


@dataclass
class TrainConfig:
    steps: int
    batch_size: int
    learning_rate: float
    warmup_fraction: float = 0.05
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    gradient_accumulation: int = 1
    checkpoint_every: int = 1000
    log_every: int = 100
    seed: int = 0

    @classmethod
    def from_params(cls, train: dict, engine: dict) -> "TrainConfig":
        keys = ("warmup_fraction", "weight_decay", "max_grad_norm", "gradient_accumulation",
                "checkpoint_every", "log_every", "seed")
        return cls(steps=int(train["steps"]), batch_size=int(train["batch_size"]),
                   learning_rate=float(train["learning_rate"]),
                   **{k: engine[k] for k in keys if k in engine})


def distributed() -> tuple[int, int]:
    """(world size, rank); joins the process group when started by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return (dist.get_world_size(), dist.get_rank()) if dist.is_initialized() else (1, 0)


def device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def is_main() -> bool:
    return not dist.is_initialized() or dist.get_rank() == 0


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def _param_groups(module: torch.nn.Module, weight_decay: float):
    decay, no_decay = [], []
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def linear_schedule(steps: int, warmup: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (steps - step) / max(1, steps - warmup))
    return factor


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def save_checkpoint(workdir: Path, module, optimizer, scheduler, step: int, cfg: TrainConfig,
                    params_hash: str) -> None:
    """Model (safetensors), optimizer/scheduler/RNG/data position (weights-only .pt), meta JSON."""
    rngs = [_rng_state()]
    if dist.is_initialized():
        rngs = [None] * dist.get_world_size()
        dist.all_gather_object(rngs, _rng_state())
    if is_main():
        with atomic_dir(workdir / CHECKPOINT) as tmp:
            save_model(module, str(tmp / "model.safetensors"))
            torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                        "rng": rngs, "step": step, "data_position": step * cfg.batch_size},
                       tmp / "state.pt")
            write_json(tmp / "meta.json", {"params_hash": params_hash, "step": step,
                                           "world_size": len(rngs), "batch_size": cfg.batch_size})
        logger.info("checkpoint at step %d -> %s", step, workdir / CHECKPOINT)
    barrier()


def load_checkpoint(workdir: Path, module, optimizer, scheduler, params_hash: str) -> int:
    """Restore a matching checkpoint and return its step; 0 (fresh start) when none matches."""
    ckpt = workdir / CHECKPOINT
    if not (ckpt / "meta.json").is_file():
        return 0
    meta = read_json(ckpt / "meta.json")
    if meta.get("params_hash") != params_hash:
        logger.warning("checkpoint %s was made with params hash %s, now %s: starting afresh",
                       ckpt, meta.get("params_hash"), params_hash)
        barrier()
        if is_main():
            shutil.rmtree(ckpt, ignore_errors=True)
        barrier()
        return 0
    load_model(module, str(ckpt / "model.safetensors"), device=str(next(module.parameters()).device))
    state = torch.load(ckpt / "state.pt", weights_only=True, map_location="cpu")
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    rank = dist.get_rank() if dist.is_initialized() else 0
    rngs = state["rng"]
    if len(rngs) != (dist.get_world_size() if dist.is_initialized() else 1):
        logger.warning("checkpoint made with %d processes, resuming with a different number: "
                       "dropout RNG streams differ from an uninterrupted run", len(rngs))
    _set_rng_state(rngs[min(rank, len(rngs) - 1)])
    logger.info("resumed from %s at step %d (data position %d)", ckpt, state["step"], state["data_position"])
    return int(state["step"])


class _CsvLog:
    """train_log.csv in the workdir; on resume keeps the rows up to the restored step."""

    def __init__(self, path: Path, start: int, fields: list[str]):
        self.path, self.fields = path, ["step", "loss", "lr"] + fields
        rows = []
        if start > 0 and path.is_file():
            with open(path, newline="", encoding="utf-8") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= start]
        path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(path, "w", newline="", encoding="utf-8")
        self.w = csv.DictWriter(self.f, fieldnames=self.fields, extrasaction="ignore")
        self.w.writeheader()
        self.w.writerows(rows)
        self.f.flush()

    def write(self, row: dict) -> None:
        self.w.writerow(row)
        self.f.flush()

    def close(self) -> None:
        self.f.close()


def train(task: torch.nn.Module, batches: StepBatches, cfg: TrainConfig, norms: Callable[[int, list], dict],
          workdir: Path, params_hash: str, term_names: list[str]) -> torch.nn.Module:
    """Train ``task`` for ``cfg.steps`` optimizer steps; returns it (unwrapped) on every rank."""
    workdir = Path(workdir)
    world, rank = (dist.get_world_size(), dist.get_rank()) if dist.is_initialized() else (1, 0)
    dev = device()
    task.to(dev)
    task.train()
    optimizer = torch.optim.AdamW(_param_groups(task, cfg.weight_decay), lr=cfg.learning_rate)
    warmup = int(math.ceil(cfg.warmup_fraction * cfg.steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_schedule(cfg.steps, warmup))
    torch.manual_seed(cfg.seed + rank)  # dropout streams; replaced by the checkpoint's on resume
    random.seed(cfg.seed + rank)
    start = load_checkpoint(workdir, task, optimizer, scheduler, params_hash)
    model = task
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            task, device_ids=[dev.index] if dev.type == "cuda" else None, find_unused_parameters=True)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda"
                else contextlib.nullcontext())
    log = _CsvLog(workdir / LOG_FILE, start, term_names) if rank == 0 else None
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc="pretrain",
               disable=rank != 0 or None, dynamic_ncols=True)
    try:
        for step in bar:
            micro, n_masked, lengths = batches(step)
            step_norms = norms(n_masked, lengths)
            totals = torch.zeros(1 + len(term_names), dtype=torch.float64)
            for i, batch in enumerate(micro):
                batch = {k: v.to(dev, non_blocking=True) for k, v in batch.items()}
                sync = i == len(micro) - 1 or world == 1
                ctx = contextlib.nullcontext() if sync else model.no_sync()
                with ctx:
                    with autocast:
                        loss, terms = model(batch, step_norms)
                    (loss * world).backward()
                totals[0] += float(loss.detach())
                for j, name in enumerate(term_names):
                    if name in terms:
                        totals[1 + j] += float(terms[name])
            if cfg.max_grad_norm and cfg.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(task.parameters(), cfg.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            done = step + 1
            if done % cfg.log_every == 0 or done == cfg.steps or done == 1:
                if world > 1:
                    dist.all_reduce(totals)  # each rank holds its share of the global means
                if log is not None:
                    row = {"step": done, "loss": f"{totals[0].item():.6f}",
                           "lr": f"{scheduler.get_last_lr()[0]:.3e}"}
                    row.update({n: f"{totals[1 + j].item():.6f}" for j, n in enumerate(term_names)})
                    log.write(row)
                    bar.set_postfix(loss=f"{totals[0].item():.4f}")
                    logger.info("step %d/%d loss %.4f %s", done, cfg.steps, totals[0].item(),
                                " ".join(f"{n}={totals[1 + j].item():.4f}" for j, n in enumerate(term_names)))
            if done % cfg.checkpoint_every == 0 or done == cfg.steps:
                save_checkpoint(workdir, task, optimizer, scheduler, done, cfg, params_hash)
    finally:
        if log is not None:
            log.close()
    task.eval()
    return task
