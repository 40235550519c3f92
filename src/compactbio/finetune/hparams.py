"""Hyperparameters of one fine-tuning job, from the resolved params.

Kept apart from the training code so the grid's settings can be inspected
(and tested) without importing torch.
"""

from __future__ import annotations

TASKS = ("ner", "re", "qa")
REQUIRED = ("epochs", "batch_size", "learning_rate", "warmup_fraction", "weight_decay",
            "eval_batch_size", "max_grad_norm", "num_threads")


def hyperparameters(params: dict, task: str, model: str) -> dict:
    """``finetune.common`` overlaid with ``finetune.<task>``; a model's entry in
    ``learning_rate_by_model`` replaces the task's learning rate (the paper used a
    larger rate for the 4-layer models on QA)."""
    if task not in TASKS:
        raise ValueError(f"unknown fine-tuning task {task!r}; expected one of {TASKS}")
    ft = params.get("finetune") or {}
    hp = {**(ft.get("common") or {}), **(ft.get(task) or {})}
    by_model = hp.pop("learning_rate_by_model", None) or {}
    if by_model.get(model) is not None:
        hp["learning_rate"] = by_model[model]
    missing = [k for k in REQUIRED if hp.get(k) is None]
    if task == "qa":
        missing += [k for k in ("n_best", "max_answer_tokens", "top_k") if hp.get(k) is None]
    if missing:
        raise ValueError(f"params: finetune.common / finetune.{task} lack {', '.join(missing)}")
    hp.setdefault("select", "best")
    choices = {"select": ("last", "best")}
    if task == "qa":
        hp.setdefault("scoring", "merged")
        hp.setdefault("answer_cleanup", "biobert")
        hp.setdefault("per_snippet", 5)
        choices.update(scoring=("merged", "authors"), answer_cleanup=("biobert", "trim"))
    for key, allowed in choices.items():
        if hp[key] not in allowed:
            raise ValueError(f"params: finetune.{task}.{key} must be one of {', '.join(allowed)}, got {hp[key]!r}")
    for key in ("epochs", "batch_size", "eval_batch_size"):
        if int(hp[key]) < 1:
            raise ValueError(f"params: finetune.{task}.{key} must be >= 1, got {hp[key]}")
    return hp
