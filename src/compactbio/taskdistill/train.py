"""The student training loop: the fine-tuning loop's recipe plus a frozen teacher.

AdamW with linear warm-up and decay, epoch-wise validation and selection of
the best state, as in :mod:`compactbio.finetune.loop` (whose collate,
optimizer and schedule are reused).  The teacher runs on the same batch under
``no_grad`` (its outputs must stay usable by autograd on the student side),
in eval mode, so its logits are the same every epoch.  ``max_steps`` caps
the number of optimizer steps, so runs with and without the teacher can be
compared at the same step count.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..finetune.loop import _optimizer, _to, collate, linear_schedule
from ..progress import Throughput
from . import loss as L

logger = logging.getLogger(__name__)


@dataclass
class LossConfig:
    alpha: float = 0.5
    temperature: float = 1.0
    hidden_weight: float = 0.0
    attention_weight: float = 0.0

    @property
    def intermediate(self) -> bool:
        return bool(self.hidden_weight or self.attention_weight)


@dataclass
class Result:
    best_epoch: int
    best_validation: dict
    steps: int
    log: list[dict] = field(default_factory=list)


class Trainable(nn.Module):
    """Student plus (for hidden-state terms) the projection to the teacher's width, optimised together."""

    def __init__(self, student: nn.Module, projection: nn.Module | None):
        super().__init__()
        self.student = student
        self.projection = projection


def make_projection(student, teacher, cfg: LossConfig) -> nn.Module | None:
    if teacher is None or not cfg.hidden_weight:
        return None
    d_s, d_t = student.config.hidden_size, teacher.config.hidden_size
    return nn.Linear(d_s, d_t)


def check_intermediate(student, teacher, cfg: LossConfig) -> None:
    if not cfg.intermediate or teacher is None:
        return
    for model, who in ((student, "student"), (teacher, "teacher")):
        if not hasattr(model, "config"):
            raise ValueError(f"params: hidden/attention terms need a transformer {who}, not a BiLSTM")
    L.layer_map(student.config.num_hidden_layers, teacher.config.num_hidden_layers)
    if cfg.attention_weight:
        if student.config.num_attention_heads != teacher.config.num_attention_heads:
            raise ValueError(f"params: the attention term needs equal head counts (student "
                             f"{student.config.num_attention_heads}, teacher {teacher.config.num_attention_heads})")
        for m, who in ((student, "student"), (teacher, "teacher")):
            if m.config._attn_implementation != "eager":
                raise ValueError(f"the attention term needs the {who} with eager attention (SDPA returns no maps)")


def step_loss(model: Trainable, teacher, batch: dict, cfg: LossConfig) -> dict:
    student = model.student
    ids, am, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    inter = teacher is not None and cfg.intermediate
    kwargs = {"output_hidden_states": True, "output_attentions": bool(cfg.attention_weight)} if inter else {}
    out_s = student(input_ids=ids, attention_mask=am, **kwargs)
    if teacher is None:
        return L.combine(out_s.logits, labels, alpha=cfg.alpha, temperature=cfg.temperature)
    with torch.no_grad():
        out_t = teacher(input_ids=ids, attention_mask=am, **kwargs)
    extra = {}
    if inter:
        extra = L.intermediate(out_s.hidden_states, out_t.hidden_states, getattr(out_s, "attentions", None),
                               getattr(out_t, "attentions", None), am, model.projection,
                               cfg.hidden_weight, cfg.attention_weight)
    return L.combine(out_s.logits, labels, out_t.logits, alpha=cfg.alpha, temperature=cfg.temperature,
                     extra=extra, hidden_weight=cfg.hidden_weight, attention_weight=cfg.attention_weight)


def batches(lengths: Sequence[int], batch_size: int, gen: torch.Generator, pool: int = 50) -> list[list[int]]:
    """Shuffled batches of similar lengths (the DistilBERT distiller's grouping).

    Rows are shuffled, cut into pools of ``pool`` batches, sorted by length
    inside a pool and cut into batches; the batch order is shuffled again.
    Less padding makes a step much cheaper for the LSTM and for the teacher,
    and every row is still seen once per epoch.
    """
    perm = torch.randperm(len(lengths), generator=gen).tolist()
    out = []
    for start in range(0, len(perm), pool * batch_size):
        chunk = sorted(perm[start:start + pool * batch_size], key=lambda i: lengths[i])
        out += [chunk[k:k + batch_size] for k in range(0, len(chunk), batch_size)]
    order = torch.randperm(len(out), generator=gen).tolist()
    return [out[i] for i in order]


def train(student: nn.Module, teacher, rows: Sequence[dict], hp: dict, cfg: LossConfig, seed: int, pad: int,
          validate: Callable[[], dict], select: str = "f1", device: str = "cpu") -> Result:
    """Train ``student`` on ``rows`` (``input_ids``, ``labels``); keep the best validation state."""
    check_intermediate(student, teacher, cfg)
    if teacher is not None:
        teacher.eval().to(device)
        for p in teacher.parameters():
            p.requires_grad_(False)
    model = Trainable(student, make_projection(student, teacher, cfg)).to(device)
    gen = torch.Generator().manual_seed(seed)
    bs, epochs = int(hp["batch_size"]), int(hp["epochs"])
    steps_per_epoch = math.ceil(len(rows) / bs)
    total = steps_per_epoch * epochs
    if hp.get("max_steps"):
        total = min(total, int(hp["max_steps"]))
    warmup = int(float(hp["warmup_fraction"]) * total)
    opt = _optimizer(model, float(hp["learning_rate"]), float(hp["weight_decay"]))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, linear_schedule(total, warmup))
    accepted = {"input_ids", "attention_mask"}
    lengths = [len(r["input_ids"]) for r in rows]
    log_every = int(hp.get("log_every") or 100)
    best: Result | None = None
    best_state = None
    log: list[dict] = []
    step = 0
    speed = Throughput(0, total)
    for epoch in range(1, epochs + 1):
        if step >= total:
            break
        model.train()
        seen: list[dict] = []
        for idx in tqdm(batches(lengths, bs, gen), desc=f"epoch {epoch}", leave=False, disable=None):
            batch = _to(collate([rows[i] for i in idx], pad, accepted), device)
            parts = step_loss(model, teacher, batch, cfg)
            parts["loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), float(hp["max_grad_norm"]))
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            seen.append({k: v.item() for k, v in parts.items()})   # .item() waits for the step: the clock is honest
            speed.add(sum(lengths[i] for i in idx))   # real (non-padding) tokens of the batch
            step += 1
            if step % log_every == 0:
                logger.info("step %d/%d: loss %.4f, %s", step, total, seen[-1]["loss"], speed.report(step))
            if step >= total:
                break
        scores = validate()
        means = {k: float(np.mean([s[k] for s in seen])) for k in seen[0]} if seen else {}
        log.append({"step": step, "epoch": epoch, "loss": means.get("loss", float("nan")),
                    "validation_score": scores[select]})
        logger.info("epoch %d (step %d): %s; validation %s %.4f", epoch, step,
                    ", ".join(f"{k} {v:.4f}" for k, v in means.items()), select, scores[select])
        if best is None or scores[select] > best.best_validation[select]:
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in student.state_dict().items()}
            best = Result(best_epoch=epoch, best_validation=scores, steps=step)
    if best is None:
        raise ValueError("no training step was run (empty training set or max_steps 0)")
    student.load_state_dict(best_state)
    best.log = log
    best.steps = step
    return best
