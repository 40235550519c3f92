"""The one training loop behind distillation, continual MLM and the demo teacher.

A *task* is an ``nn.Module`` whose ``forward(batch, norms)`` returns
``(loss, {term: value})``; it owns the trainable parameters (student and any
projection) and keeps frozen things (the teacher) out of its parameters.  The
loop does the rest: length-grouped batches, dynamic masking, gradient
accumulation (configured, or derived from ``max_device_batch``), DDP, AdamW
with linear warm-up and decay, clipping, bf16 autocast where the GPU has it
(``precision``), logging with throughput and time left, and exact resume
from checkpoints.

Loss normalisation: every term is a mean over a whole *global* batch (all
accumulation micro-batches on all ranks).  ``norms`` carries the global element
counts, each micro-batch contributes ``sum / global_count``, and the loss is
multiplied by the world size because DDP averages gradients.  So one process
with batch B, or 2 ranks with B/2 each, or 4 accumulation steps of B/4, all
compute the same gradient.

Collectives: NCCL moves only CUDA tensors and gloo CPU ones, so every tensor
the engine hands to a collective goes through :func:`all_reduce_sum`, which
puts it on :func:`collective_device` first.  The per-step loss totals stay on
the training device (no host sync per micro-batch) and reach the host once per
logged step.
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
from ..progress import Throughput
from .data import StepBatches, accumulation_steps

logger = logging.getLogger(__name__)

CHECKPOINT = "checkpoint"
LOG_FILE = "train_log.csv"
PRECISIONS = ("auto", "bf16", "fp32")


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
    max_device_batch: int | None = None  # rows per rank and micro-batch; None: batch / (accumulation x world)
    precision: str = "auto"  # auto | bf16 | fp32, see resolve_precision
    warmup_steps: int | None = None  # linear warm-up in optimizer steps; None: warmup_fraction x steps

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"pretrain.engine.precision: expected one of {', '.join(PRECISIONS)}, "
                             f"got {self.precision!r}")

    @classmethod
    def from_params(cls, train: dict, engine: dict) -> "TrainConfig":
        keys = ("warmup_fraction", "weight_decay", "max_grad_norm", "gradient_accumulation",
                "checkpoint_every", "log_every", "seed", "max_device_batch", "precision")
        kwargs = {k: engine[k] for k in keys if k in engine}
        # A job's own train.warmup_steps / train.weight_decay (the authors' per-script values)
        # override the engine's; null means "the engine's".
        for k in ("warmup_steps", "weight_decay"):
            if train.get(k) is not None:
                kwargs[k] = train[k]
        if kwargs.get("warmup_steps") is not None:
            kwargs["warmup_steps"] = int(kwargs["warmup_steps"])
        return cls(steps=int(train["steps"]), batch_size=int(train["batch_size"]),
                   learning_rate=float(train["learning_rate"]), **kwargs)

    def warmup(self) -> int:
        """Warm-up length in optimizer steps."""
        if self.warmup_steps is not None:
            return int(self.warmup_steps)
        return int(math.ceil(self.warmup_fraction * self.steps))

    def accumulation(self, world: int) -> int:
        """Micro-batches per optimizer step on ``world`` ranks (see :func:`data.accumulation_steps`)."""
        return accumulation_steps(self.batch_size, world, self.gradient_accumulation, self.max_device_batch)


def distributed() -> tuple[int, int]:
    """(world size, rank); joins the process group when started by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        if torch.cuda.is_available():
            # Bind the process to its GPU before NCCL starts, and tell NCCL which one, so
            # barriers and object collectives do not guess a device from the rank.
            torch.cuda.set_device(device())
            dist.init_process_group("nccl", device_id=device())
        else:
            dist.init_process_group("gloo")
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


def collective_device() -> torch.device:
    """The device a tensor must be on to enter a collective: NCCL only moves CUDA tensors
    (this process's GPU), gloo moves CPU ones; one process has no collectives (CPU)."""
    if dist.is_initialized() and dist.get_backend() == "nccl":
        return device()
    return torch.device("cpu")


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """The sum of ``tensor`` over all ranks, on :func:`collective_device` (``tensor`` itself
    for one process).  The one door for tensors into collectives: a CPU tensor handed to
    NCCL crashes the job at its first logged step, which CPU (gloo) tests cannot see."""
    if not dist.is_initialized():
        return tensor
    out = tensor.detach().to(collective_device(), copy=True)
    dist.all_reduce(out)
    return out


def all_gather_objects(obj) -> list:
    """Every rank's ``obj``, in rank order.  Objects, not tensors: torch pickles them into
    buffers on the current CUDA device itself, which :func:`distributed` has set."""
    if not dist.is_initialized():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def resolve_precision(precision: str, dev: torch.device) -> str:
    """``bf16`` or ``fp32`` for training on ``dev``.

    ``auto`` is bf16 autocast on a GPU with native bf16 (Ampere and newer) and
    fp32 otherwise, with a warning on a GPU: older GPUs (V100, T4) only emulate
    bf16, slower than fp32, which ``is_bf16_supported()`` counts as support
    unless asked not to.  ``bf16`` asked for on a GPU without it is an error
    rather than a silent change of numerics; on CPU it means CPU autocast.  fp16
    is not offered: it would need loss scaling (a GradScaler) to train safely.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"pretrain.engine.precision: expected one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return "fp32"
    if dev.type == "cuda":
        if torch.cuda.is_bf16_supported(including_emulation=False):
            return "bf16"
        if precision == "bf16":
            raise ValueError(f"pretrain.engine.precision: bf16 requested but {dev} does not support bf16; "
                             "set it to fp32 or auto")
        logger.warning("%s does not support bf16: training in fp32 (pretrain.engine.precision: auto)", dev)
        return "fp32"
    return "bf16" if precision == "bf16" else "fp32"


def autocast(precision: str, dev: torch.device):
    """The autocast context for a resolved precision (a no-op for fp32)."""
    if precision == "bf16":
        return torch.autocast(dev.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


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
    rngs = all_gather_objects(_rng_state())
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


def _checkpoint_error(path: Path, ckpt: Path, problem: str) -> ValueError:
    return ValueError(f"{path}: {problem}; delete {ckpt} to start afresh (the pre-training restarts from step 0), "
                      f"or restore a good copy of it")


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"


def load_checkpoint(workdir: Path, module, optimizer, scheduler, params_hash: str) -> int:
    """Restore a matching checkpoint and return its step; 0 (fresh start) when none matches.

    A checkpoint whose files cannot be read (a crash or a full disk mid-copy, a hand edit) is a
    ValueError naming the file and the folder to delete, never a bare torch / safetensors / JSON error.
    """
    ckpt = workdir / CHECKPOINT
    meta_path = ckpt / "meta.json"
    if not meta_path.is_file():
        return 0
    try:
        meta = read_json(meta_path)
    except (ValueError, OSError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise _checkpoint_error(meta_path, ckpt, f"corrupt or truncated checkpoint metadata ({_why(exc)})") from None
    if not isinstance(meta, dict):
        raise _checkpoint_error(meta_path, ckpt, f"checkpoint metadata is not a JSON object ({type(meta).__name__})")
    if meta.get("params_hash") != params_hash:
        logger.warning("checkpoint %s was made with params hash %s, now %s: starting afresh",
                       ckpt, meta.get("params_hash"), params_hash)
        barrier()
        if is_main():
            shutil.rmtree(ckpt, ignore_errors=True)
        barrier()
        return 0
    weights, state_path = ckpt / "model.safetensors", ckpt / "state.pt"
    for path in (weights, state_path):
        if not path.is_file():
            raise _checkpoint_error(path, ckpt, "missing from the checkpoint (an incomplete copy?)")
    try:
        load_model(module, str(weights), device=str(next(module.parameters()).device))
    except Exception as exc:  # SafetensorError (corrupt, truncated) or RuntimeError (other tensors)
        raise _checkpoint_error(weights, ckpt,
                                f"corrupt, truncated or not this model's weights ({_why(exc)})") from None
    try:
        state = torch.load(state_path, weights_only=True, map_location="cpu")
    except Exception as exc:  # RuntimeError (bad zip), UnpicklingError, EOFError, ...
        raise _checkpoint_error(state_path, ckpt, f"corrupt or truncated training state ({_why(exc)})") from None
    try:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        rngs = state["rng"]
        step, position = int(state["step"]), state["data_position"]
        if not isinstance(rngs, (list, tuple)) or not rngs:
            raise ValueError("no RNG states")
        rank = dist.get_rank() if dist.is_initialized() else 0
        if len(rngs) != (dist.get_world_size() if dist.is_initialized() else 1):
            logger.warning("checkpoint made with %d processes, resuming with a different number: "
                           "dropout RNG streams differ from an uninterrupted run", len(rngs))
        _set_rng_state(rngs[min(rank, len(rngs) - 1)])
    except Exception as exc:  # KeyError, TypeError, ValueError: not the state save_checkpoint writes
        raise _checkpoint_error(state_path, ckpt,
                                f"not a training state this run can resume from ({_why(exc)})") from None
    logger.info("resumed from %s at step %d (data position %d)", ckpt, step, position)
    return step


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


def _accumulate(model, micro: list, step_norms: dict, world: int, dev: torch.device, precision: str,
                term_names: list[str]) -> torch.Tensor:
    """Forward and backward over one step's micro-batches, gradients synced on the last one.

    Returns this rank's ``[loss, *terms]`` totals as a float64 tensor on
    ``dev``: adding on the device instead of ``float(loss)`` per micro-batch
    spares a GPU sync each time.
    """
    totals = torch.zeros(1 + len(term_names), dtype=torch.float64, device=dev)
    for i, batch in enumerate(micro):
        batch = {k: v.to(dev, non_blocking=True) for k, v in batch.items()}
        sync = i == len(micro) - 1 or world == 1
        with contextlib.nullcontext() if sync else model.no_sync():
            with autocast(precision, dev):
                loss, terms = model(batch, step_norms)
            (loss * world).backward()
        totals[0] += loss.detach()
        for j, name in enumerate(term_names):
            if name in terms:
                totals[1 + j] += torch.as_tensor(terms[name], device=dev).detach()
    return totals


def train(task: torch.nn.Module, batches: StepBatches, cfg: TrainConfig, norms: Callable[[int, list], dict],
          workdir: Path, params_hash: str, term_names: list[str]) -> torch.nn.Module:
    """Train ``task`` for ``cfg.steps`` optimizer steps; returns it (unwrapped) on every rank."""
    workdir = Path(workdir)
    world, rank = (dist.get_world_size(), dist.get_rank()) if dist.is_initialized() else (1, 0)
    dev = device()
    precision = resolve_precision(cfg.precision, dev)
    logger.info("training on %s in %s (pretrain.engine.precision: %s)", dev, precision, cfg.precision)
    task.to(dev)
    task.train()
    optimizer = torch.optim.AdamW(_param_groups(task, cfg.weight_decay), lr=cfg.learning_rate)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_schedule(cfg.steps, cfg.warmup()))
    torch.manual_seed(cfg.seed + rank)  # dropout streams; replaced by the checkpoint's on resume
    random.seed(cfg.seed + rank)
    start = load_checkpoint(workdir, task, optimizer, scheduler, params_hash)
    model = task
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            task, device_ids=[dev.index] if dev.type == "cuda" else None, find_unused_parameters=True)
    log = _CsvLog(workdir / LOG_FILE, start, term_names) if rank == 0 else None
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc="pretrain",
               disable=rank != 0 or None, dynamic_ncols=True)
    speed = Throughput(start, cfg.steps)
    try:
        for step in bar:
            micro, n_masked, lengths = batches(step)
            totals = _accumulate(model, micro, norms(n_masked, lengths), world, dev, precision, term_names)
            speed.add(int(sum(lengths)))   # real (non-padding) tokens of the global batch
            if cfg.max_grad_norm and cfg.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(task.parameters(), cfg.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            done = step + 1
            if done % cfg.log_every == 0 or done == cfg.steps or done == 1:
                # each rank holds its share of the global means; one host transfer per logged step
                values = all_reduce_sum(totals).tolist()
                if log is not None:
                    _log_step(log, bar, done, cfg.steps, values, scheduler.get_last_lr()[0], term_names,
                              speed.report(done))
            if done % cfg.checkpoint_every == 0 or done == cfg.steps:
                save_checkpoint(workdir, task, optimizer, scheduler, done, cfg, params_hash)
    finally:
        if log is not None:
            log.close()
    task.eval()
    return task


def _log_step(log: _CsvLog, bar, done: int, steps: int, values: list[float], lr: float,
              term_names: list[str], speed: str) -> None:
    """One train_log.csv row (deterministic: no timings) and one log line (with timings)."""
    row = {"step": done, "loss": f"{values[0]:.6f}", "lr": f"{lr:.3e}"}
    row.update({n: f"{values[1 + j]:.6f}" for j, n in enumerate(term_names)})
    log.write(row)
    bar.set_postfix(loss=f"{values[0]:.4f}")
    terms = "".join(f" {n}={values[1 + j]:.4f}" for j, n in enumerate(term_names))
    logger.info("step %d/%d loss %.4f%s %s", done, steps, values[0], terms, speed)
