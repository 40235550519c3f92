"""Model cards of the task-distillation study's folders (the fine-tuned teacher and every student).

Each folder holds its weights beside ``metrics.json``; its ``README.md`` is a
Hub model card (:mod:`compactbio.models.card`) for token classification whose
``model-index`` holds the folder's own test scores.  Lineage comes from the
cards of the input folders: the teacher's ``base_model`` and license are
those of the base model it was fine-tuned from; a student trained from scratch
has no ``base_model`` and carries the license of the models whose vocabulary
(and, with distillation, predictions) it learnt from, or of its ``init`` model.
"""

from __future__ import annotations

from pathlib import Path

from ..models import card as cards


def _scale(params: dict) -> tuple[str, bool]:
    return str(params.get("scale", "demo")), bool((params.get("rehearsal") or {}).get("enabled"))


def teacher_card(params: dict, td: dict, model_dir: Path, net, hp: dict, metrics: dict, labels: list[str]):
    source = cards.source_of(model_dir)
    scale, rehearsal = _scale(params)
    teacher, dataset = str(td.get("teacher")), str(td.get("dataset"))
    starting = f"{teacher} ({source.hub_id})" if source.hub_id else teacher
    facts = {"model": starting, "dataset": dataset, "labels": labels, "seed": metrics.get("seed"),
             "epochs": hp["epochs"], "batch size": hp["batch_size"], "learning rate": hp["learning_rate"],
             "best epoch": metrics.get("best_epoch"), "validation scores": metrics.get("validation"),
             "parameters": metrics.get("parameters"), "size (MB)": metrics.get("size_mb")}
    return cards.task_card(
        model=teacher, model_name=f"{teacher}-{dataset}-task-teacher", title=f"Task teacher: {teacher} on {dataset}",
        summary=f"{starting} fine-tuned for token classification on {dataset}, the teacher of the "
                f"task-specific distillation study.", task="ner", dataset=dataset, dataset_name=dataset,
        scores=metrics["test"], arch=getattr(net.config, "model_type", None), scale=scale, rehearsal=rehearsal,
        license=source.license, base_model=source.hub_id, facts=facts, tags=["task-distillation"])


BILSTM_USAGE = """from compactbio.taskdistill.models import load

model, meta = load("path/to/this/folder")   # meta: student.json (labels, sizes)
# inputs: the sub-word ids of this folder's tokenizer (tokenizer.json / vocab.txt)"""


def student_card(params: dict, student: str, run: str, vocab: Path, init: Path | None, net, metrics: dict,
                 labels: list[str]):
    scale, rehearsal = _scale(params)
    dataset = str(metrics.get("dataset"))
    start = cards.source_of(init) if init is not None else None
    lineage = cards.source_of(vocab)
    transformer = hasattr(net, "config")
    facts = {"student": metrics.get("display", student), "dataset": dataset, "labels": labels,
             "distilled from the teacher": metrics.get("distill"), "augmentation": f"x{metrics.get('augment')}",
             "training sentences (augmented)": metrics.get("augmented_sentences"),
             "initialised from": init.name if init is not None else "random", "loss": metrics.get("loss"),
             "best epoch": metrics.get("best_epoch"), "parameters": metrics.get("parameters"),
             "size (MB)": metrics.get("size_mb")}
    how = "distilled from the fine-tuned teacher" if metrics.get("distill") else "trained on the gold labels only"
    return cards.task_card(
        model=run, model_name=f"{run}-{dataset}", title=f"Task student {run} on {dataset}",
        summary=f"A {metrics.get('display', student)} token classifier over the teacher's sub-words, {how}, "
                f"on the training set augmented x{metrics.get('augment')}.",
        task="ner", dataset=dataset, dataset_name=dataset, scores=metrics["test"],
        arch=getattr(getattr(net, "config", None), "model_type", None) or student, scale=scale, rehearsal=rehearsal,
        license=(start or lineage).license, base_model=start.hub_id if start is not None else None, facts=facts,
        library="transformers" if transformer else None, tags=["task-distillation", student],
        usage=None if transformer else BILSTM_USAGE)
