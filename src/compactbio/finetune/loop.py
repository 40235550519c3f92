"""A plain PyTorch fine-tuning loop: AdamW, linear warm-up and decay, epoch-wise selection.

Why not the HF ``Trainer``: the demo runs about a hundred small jobs on two
CPU cores, and the Trainer's import and set-up (accelerate, callbacks,
checkpoint folders) cost more than such a job's training.  This loop keeps the
best validation state in memory instead of on disk.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

Feature = dict  # one row: "input_ids" (+ "token_type_ids", "labels", "start_positions", ...)


def collate(rows: Sequence[Feature], pad: int, accepted: set[str]) -> dict[str, torch.Tensor]:
    """Pad a batch to its longest row; sequence labels are padded with -100 (ignored by the loss)."""
    width = max(len(r["input_ids"]) for r in rows)
    n = len(rows)
    ids = torch.full((n, width), pad, dtype=torch.long)
    mask = torch.zeros((n, width), dtype=torch.long)
    batch = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in rows[0] and "token_type_ids" in accepted:
        batch["token_type_ids"] = torch.zeros((n, width), dtype=torch.long)
    if "labels" in rows[0] and isinstance(rows[0]["labels"], list):
        batch["labels"] = torch.full((n, width), -100, dtype=torch.long)
    for i, r in enumerate(rows):
        k = len(r["input_ids"])
        ids[i, :k] = torch.as_tensor(r["input_ids"])
        mask[i, :k] = 1
        if "token_type_ids" in batch:
            batch["token_type_ids"][i, :k] = torch.as_tensor(r["token_type_ids"])
        if "labels" in batch and batch["labels"].dim() == 2:
            batch["labels"][i, :k] = torch.as_tensor(r["labels"])
    for key in ("labels", "start_positions", "end_positions"):
        if key in rows[0] and not isinstance(rows[0][key], list):
            batch[key] = torch.tensor([r[key] for r in rows], dtype=torch.long)
    return batch


def _to(batch: dict, device) -> dict:
    return {k: v.to(device) for k, v in batch.items()}


def predict(model, rows: Sequence[Feature], batch_size: int, pad: int, accepted: set[str],
            device: str = "cpu") -> list[np.ndarray]:
    """Per-row logits, trimmed to the row's length: ``(len, n_labels)`` for token
    classification, ``(n_labels,)`` for sequence classification, ``(len, 2)``
    (start, end) for QA.  Rows are batched by length to waste little on padding."""
    model.eval()
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["input_ids"]))
    out: list[np.ndarray | None] = [None] * len(rows)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            batch = collate([{"input_ids": rows[i]["input_ids"],
                              **({"token_type_ids": rows[i]["token_type_ids"]} if "token_type_ids" in rows[i] else {})}
                             for i in idx], pad, accepted)
            res = model(**_to(batch, device))
            if getattr(res, "start_logits", None) is not None:
                logits = torch.stack([res.start_logits, res.end_logits], dim=-1)
            else:
                logits = res.logits
            logits = logits.float().cpu().numpy()
            for j, i in enumerate(idx):
                out[i] = logits[j, :len(rows[i]["input_ids"])] if logits.ndim == 3 else logits[j]
    return out  # type: ignore[return-value]


def _optimizer(model, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW without weight decay on biases and normalisation weights (BERT's recipe)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr, foreach=True)


def linear_schedule(total: int, warmup: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))
    return factor


def cosine_schedule(total: int, warmup: int) -> Callable[[int], float]:
    """Half a cosine from the peak to 0 after the warm-up: the HF Trainer's ``lr_scheduler_type="cosine"``,
    which the authors' fine-tuning scripts use."""
    def factor(step: int) -> float:
        if step < warmup:
            return step / max(1, warmup)
        progress = (step - warmup) / max(1, total - warmup)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
    return factor


SCHEDULES = {"linear": linear_schedule, "cosine": cosine_schedule}


def lr_schedule(hp: dict, total: int) -> Callable[[int], float]:
    """The learning-rate factor per step for ``hp['schedule']`` (default linear) and ``hp['warmup_fraction']``."""
    kind = hp.get("schedule") or "linear"
    if kind not in SCHEDULES:
        raise ValueError(f"params: finetune schedule must be one of {', '.join(SCHEDULES)}, got {kind!r}")
    return SCHEDULES[kind](total, int(hp["warmup_fraction"] * total))


@dataclass
class Result:
    best_state: dict
    best_epoch: int
    best_validation: dict
    log: list[dict] = field(default_factory=list)


SELECTIONS = ("last", "best")


def train(model, rows: Sequence[Feature], hp: dict, seed: int, pad: int, accepted: set[str],
          validate: Callable[[], dict] | None, select: str, device: str = "cpu",
          selection: str = "best") -> Result:
    """Fine-tune for ``hp['epochs']`` epochs.

    ``selection="best"``: after each epoch ``validate()`` scores the model and the
    state with the highest ``select`` score (earliest on ties) is kept.
    ``selection="last"`` (the authors' scripts: ``Trainer.train()`` then evaluate):
    the final state is kept; ``validate`` (may be None: no validation split) is
    only logged.
    """
    if selection not in SELECTIONS:
        raise ValueError(f"model selection must be one of {', '.join(SELECTIONS)}, got {selection!r}")
    if selection == "best" and validate is None:
        raise ValueError("model selection 'best' needs a validation split")
    gen = torch.Generator().manual_seed(seed)
    bs, epochs = int(hp["batch_size"]), int(hp["epochs"])
    steps_per_epoch = math.ceil(len(rows) / bs)
    total = steps_per_epoch * epochs
    opt = _optimizer(model, float(hp["learning_rate"]), float(hp["weight_decay"]))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_schedule(hp, total))
    best: Result | None = None
    log: list[dict] = []
    step = 0
    for epoch in range(1, epochs + 1):
        model.train()
        perm = torch.randperm(len(rows), generator=gen).tolist()
        losses = []
        for start in tqdm(range(0, len(perm), bs), desc=f"epoch {epoch}", leave=False, disable=None):
            batch = collate([rows[i] for i in perm[start:start + bs]], pad, accepted)
            loss = model(**_to(batch, device)).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), float(hp["max_grad_norm"]))
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            losses.append(loss.item())
            step += 1
        scores = validate() if validate is not None else {}
        mean_loss = float(np.mean(losses)) if losses else float("nan")
        log.append({"step": step, "epoch": epoch, "loss": mean_loss, "validation_score": scores.get(select, "")})
        logger.info("epoch %d: loss %.4f, validation %s %s", epoch, mean_loss, select,
                    f"{scores[select]:.4f}" if select in scores else "-")
        if selection == "last":
            if epoch == epochs:
                best = Result(best_state={}, best_epoch=epoch, best_validation=scores)
        elif best is None or scores[select] > best.best_validation[select]:
            state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            best = Result(best_state=state, best_epoch=epoch, best_validation=scores)
    best.log = log
    if best.best_state:
        model.load_state_dict(best.best_state)
    return best
