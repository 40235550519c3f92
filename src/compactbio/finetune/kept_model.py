"""Keep the fine-tuned task model of a run (``finetune.common.keep_model``): ``runs/finetune/<m>/<d>/seed<s>/model/``.

The folder is a complete Hugging Face task model (``save_pretrained``
safetensors and config with the label names, the tokenizer with ``vocab.txt``,
a model card whose ``model-index`` holds this run's own test scores), so it
can be loaded with the task's ``AutoModelFor...`` class or uploaded as it is.
Its ``base_model`` and ``license`` come from the card of the model folder it
was fine-tuned from (a hub id only when that folder is a hub snapshot).
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..io import read_json
from ..models import card as cards
from ..models.folder import write_model_folder

logger = logging.getLogger(__name__)

FOLDER = "model"   # inside the run folder (compactbio.workflow.graph.finetune_outputs names it too)
HP_FACTS = ("epochs", "batch_size", "learning_rate", "schedule", "warmup_fraction", "weight_decay",
            "max_grad_norm", "select", "max_train_rows")


def task_card(params: dict, net, model: str, dataset: str, seed: int, model_dir: Path, prepared: Path,
              hp: dict, metrics: dict):
    """The card of a kept task model, its ``model-index`` holding the run's test scores."""
    task = metrics["task"]
    source = cards.source_of(model_dir)
    meta = read_json(Path(prepared) / "meta.json")
    scale = str(params.get("scale", "demo"))
    rehearsal = bool((params.get("rehearsal") or {}).get("enabled"))
    starting = f"{model} ({source.hub_id})" if source.hub_id else model
    facts = {"model": starting, "dataset": dataset, "task": cards.TASK_NAME[task], "seed": seed,
             "labels": metrics.get("labels") or (list(net.config.id2label.values()) if task != "qa" else None),
             **{k.replace("_", " "): hp[k] for k in HP_FACTS if hp.get(k) is not None},
             "best epoch": metrics.get("best_epoch"), "validation scores": metrics.get("validation"),
             "protocol": metrics.get("protocol"), "parameters": sum(p.numel() for p in net.parameters())}
    summary = (f"{starting} fine-tuned for {cards.TASK_NAME[task].lower()} on {meta.get('name', dataset)}"
               f"{' (' + meta['description'].rstrip('.') + ')' if meta.get('description') else ''}, seed {seed}.")
    return cards.task_card(
        model=model, model_name=f"{model}-{dataset}-seed{seed}", title=f"{model} fine-tuned on {dataset}",
        summary=summary, task=task, dataset=dataset, dataset_name=str(meta.get("name", dataset)),
        scores=metrics["test"], arch=getattr(net.config, "model_type", None), scale=scale, rehearsal=rehearsal,
        license=source.license, base_model=source.hub_id, facts=facts)


def save(params: dict, net, model: str, dataset: str, seed: int, model_dir: Path, prepared: Path, hp: dict,
         metrics: dict, folder: Path) -> None:
    """Write the trained ``net`` with ``model_dir``'s tokenizer into ``folder`` (inside the run's atomic write)."""
    card = task_card(params, net, model, dataset, seed, model_dir, prepared, hp, metrics)
    net.to("cpu")
    write_model_folder(net, None, Path(folder), card, tokenizer_from=Path(model_dir))
    logger.info("kept the fine-tuned model in %s", folder)
