"""The task-distillation CLI stages, in cli.STAGES form: the lead adds them with ``STAGES.update(TASK_STAGES)``."""

from __future__ import annotations

from pathlib import Path as P

TASK_STAGES = {
    "task-teacher": (
        "compactbio.taskdistill.teacher",
        "Fine-tune the task-distillation teacher on its NER set and keep the trained model (with its test scores and latency).",
        [("--model-dir", dict(required=True, type=P, help="the teacher's base model folder, e.g. models/biobert")),
         ("--data", dict(required=True, type=P, help="tokenized dataset, e.g. data/tokenized/biobert/bc2gm")),
         ("--prepared", dict(required=True, type=P, help="prepared dataset, e.g. data/prepared/bc2gm")),
         ("--out", dict(required=True, type=P, help="e.g. runs/task_distill/bc2gm/teacher"))],
    ),
    "task-student": (
        "compactbio.taskdistill.student",
        "Train one BiLSTM or TinyBERT student on the N-fold augmented set, with (kd) or without (base) the teacher.",
        [("--student", dict(required=True, choices=["bilstm", "tinybert"], help="student under task_distill.models")),
         ("--mode", dict(required=True, choices=["kd", "base"], help="kd: distil from --teacher; base: hard labels only")),
         ("--augment", dict(required=True, type=int, help="augmentation size N (training set = N x original)")),
         ("--vocab", dict(required=True, type=P, help="folder with the teacher's tokenizer.json, e.g. models/biobert")),
         ("--teacher", dict(type=P, default=None, help="the fine-tuned teacher or a trained student folder "
                                                        "(required with --mode kd)")),
         ("--init", dict(type=P, default=None, help="TinyBERT only: model folder to start from (teacher's tokenizer)")),
         ("--data", dict(required=True, type=P, help="tokenized dataset (teacher's tokenizer)")),
         ("--prepared", dict(required=True, type=P, help="prepared dataset")),
         ("--out", dict(required=True, type=P, help="e.g. runs/task_distill/bc2gm/bilstm-kd-n3"))],
    ),
    "task-table": (
        "compactbio.taskdistill.table",
        "Build results/tables/task_distill.{tex,md,csv} from the teacher and student runs.",
        [("--runs", dict(required=True, type=P, help="e.g. runs/task_distill/bc2gm")),
         ("--out", dict(required=True, type=P, help="e.g. results/tables"))],
    ),
}
