"""Stage ``task-student``: train one student, with or without the teacher, on an n-fold augmented set.

Inputs: the teacher's base model folder (``vocab``: its tokenizer sets the
students' vocabulary and sub-word positions), the fine-tuned teacher (only
with distillation), the tokenized validation/test splits and the prepared
dataset (whose training split is augmented and tokenized here, because the
augmented set exists only for this study).  Output: the student, its
``metrics.json`` (test entity F1 at the word level, first sub-word; size;
batch-1 latency), per-sentence counts, predictions and the training curve.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..io import atomic_dir, write_json, write_jsonl
from . import common
from .latency import measure_all

logger = logging.getLogger(__name__)

MODES = ("kd", "base")


def load_teacher(teacher: Path, labels: list[str], eager: bool):
    """The teacher: a fine-tuned token classifier (the study's BioBERT) or a trained student folder.

    A student folder (``student.json``, e.g. a BiLSTM trained for more epochs)
    can teach as well: offline there is no pre-trained BioBERT to fine-tune, and
    a BERT trained from scratch on a CPU is a weaker tagger than the BiLSTM
    (see benchmarks/task_distill_bc2gm.py).
    """
    from . import models

    if (teacher / "student.json").is_file():
        model, meta = models.load(teacher)
        if meta.get("labels") != labels:
            raise ValueError(f"{teacher / 'student.json'}: labels {meta.get('labels')} differ from the "
                             f"dataset's {labels}")
        if eager and not hasattr(model, "config"):
            raise ValueError(f"{teacher}: the attention term needs a transformer teacher, not a {meta['kind']}")
        return model
    from transformers import AutoModelForTokenClassification

    from ..finetune.inputs import check_model_dir
    from ..finetune.modeling import check_existing_head

    check_model_dir(teacher)
    check_existing_head(teacher, "ner", labels)
    kwargs = {"attn_implementation": "eager"} if eager else {}
    try:
        model = AutoModelForTokenClassification.from_pretrained(str(teacher), **kwargs)
    except (OSError, KeyError) as exc:
        raise ValueError(f"{teacher}: cannot load the teacher: {exc}") from None
    return model.eval()


def run(params: dict, student: str, mode: str, augment: int, vocab: Path, data: Path, prepared: Path,
        out: Path, teacher: Path | None = None, init: Path | None = None) -> dict:
    """Train ``student`` and write it with its scores to ``out``; return the metrics.

    ``mode``: ``"kd"`` (distilled from ``teacher``) or ``"base"`` (hard labels only).
    ``init``: a model folder (same tokenizer as the teacher) whose weights start
    the TinyBERT student instead of a random initialisation.
    """
    import torch

    from ..finetune import ner
    from ..finetune.loop import predict
    from . import models
    from .train import LossConfig, train

    vocab, out = Path(vocab), Path(out)
    td = common.section(params)
    cfg, hp = common.student_cfg(params, student), common.student_hp(params, student)
    if mode not in MODES:
        raise ValueError(f"task-student: mode must be one of {MODES}, got {mode!r}")
    distill = mode == "kd"
    augment = int(augment)
    if distill and teacher is None:
        raise ValueError("task-student: --teacher is required with distillation")
    inp = common.load_checked(data, prepared, vocab, hp)
    seed = int(td["seed"])
    common.setup_torch(seed, hp["num_threads"])
    feats, counts = common.train_features(params, prepared, vocab, inp.labels, augment, hp.get("max_train_rows"))

    loss_cfg = LossConfig(alpha=float(td["loss"]["alpha"]), temperature=float(td["loss"]["temperature"]))
    if student == "tinybert":
        loss_cfg.hidden_weight = float(cfg.get("hidden_weight") or 0.0)
        loss_cfg.attention_weight = float(cfg.get("attention_weight") or 0.0)
    eager = bool(distill and loss_cfg.attention_weight)
    if distill and common.tokenizer_sha256(Path(teacher)) != common.tokenizer_sha256(vocab):
        raise ValueError(f"{Path(teacher) / 'tokenizer.json'}: not the tokenizer of {vocab} (the student "
                         f"and the teacher must read the same sub-words)")
    teacher_model = load_teacher(Path(teacher), inp.labels, eager) if distill else None

    from ..data.tokenize import load_tokenizer

    tok, _ = load_tokenizer(vocab)
    vocab_size = tok.get_vocab_size()
    pad = tok.token_to_id("[PAD]")
    pad = 0 if pad is None else pad
    if teacher_model is not None and teacher_model.get_input_embeddings().num_embeddings < vocab_size:
        raise ValueError(f"{teacher}: the teacher's vocabulary is smaller than {vocab / 'tokenizer.json'}'s")
    if init is not None and student != "tinybert":
        raise ValueError(f"task-student: --init applies to tinybert only, not {student}")
    init = Path(init) if init is not None else None
    net = models.make(student, cfg, vocab_size, pad, inp.labels,
                      int((params.get("tokenize") or {}).get("max_length", 512)), eager, init)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    net.to(device)
    accepted = {"input_ids", "attention_mask"}
    eval_bs = int(hp["eval_batch_size"])
    val = ner.features(inp, "validation", train=False)

    def validate() -> dict:
        return ner.evaluate(inp, "validation", predict(net, val, eval_bs, pad, accepted, device), hp).scores

    logger.info("training %s (%s distillation, augmentation x%d): %d rows, %d parameters",
                student, "with" if distill else "without", augment, len(feats), models.count_parameters(net))
    result = train(net, teacher_model, feats, hp, loss_cfg, seed, pad, validate, ner.SELECT, device)
    test_feats = ner.features(inp, "test", train=False)
    test = ner.evaluate(inp, "test", predict(net, test_feats, eval_bs, pad, accepted, device), hp)
    net.to("cpu")
    metrics = {"role": "student", "student": student, "display": cfg.get("display", student),
               "dataset": td.get("dataset"), "seed": seed, "distill": bool(distill), "augment": int(augment),
               **counts, "loss": {"alpha": loss_cfg.alpha, "temperature": loss_cfg.temperature,
                                  "hidden_weight": loss_cfg.hidden_weight,
                                  "attention_weight": loss_cfg.attention_weight} if distill else None,
               "test": test.scores, "validation": result.best_validation, "best_epoch": result.best_epoch,
               "steps": result.steps, "parameters": models.count_parameters(net), "size_mb": models.size_mb(net),
               "latency": measure_all(net, [f["input_ids"] for f in test_feats], td["latency"])}
    logger.info("%s test f1 %.4f", common.run_name(student, distill, augment), test.scores["f1"])
    from ..models.card import write as write_card
    from .model_cards import student_card

    card = student_card(params, student, common.run_name(student, distill, augment), vocab, init, net, metrics,
                        inp.labels)
    with atomic_dir(out) as tmp:
        models.save(net, student, tmp, inp.labels)
        common.copy_tokenizer(vocab, tmp)
        write_card(card, tmp)
        write_json(tmp / "metrics.json", metrics)
        write_jsonl(tmp / "per_example.jsonl", test.records)
        ner.write_predictions(tmp, inp, test)
        common.write_log(tmp / "train_log.csv", result.log)
    return metrics
