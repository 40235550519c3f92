"""Stage ``task-teacher``: fine-tune the teacher on the NER set and keep the trained model.

The fine-tuning stage (:mod:`compactbio.finetune.stage`) scores a model but
does not keep it; the students need the trained teacher, so this stage trains
it with the students' loop (:func:`compactbio.taskdistill.train.train` without
a teacher: cross entropy on every real sub-word, AdamW, selection on
validation F1, length-grouped batches, which make CPU runs several times
cheaper) on the original training split and saves the result as a model folder
(``save_pretrained`` + the tokenizer), with ``metrics.json`` beside it: test
F1 at the word level, parameters, size and batch-1 latency.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..io import atomic_dir, write_json, write_jsonl
from . import common
from .latency import measure_all

logger = logging.getLogger(__name__)


def run(params: dict, model_dir: Path, data: Path, prepared: Path, out: Path) -> dict:
    """Fine-tune ``model_dir`` on ``data`` (tokenized with its tokenizer), save it to ``out``; return metrics."""
    from ..finetune import ner
    from ..finetune.inputs import check_model_dir
    from ..finetune.loop import predict
    from ..finetune.modeling import accepted_inputs, load_model, pad_id
    from .models import count_parameters, size_mb
    from .train import LossConfig, train

    model_dir, out = Path(model_dir), Path(out)
    td = common.section(params)
    check_model_dir(model_dir)
    hp = common.teacher_hp(params)
    inp = common.load_checked(data, prepared, model_dir, hp)
    seed = int(td["seed"])
    common.setup_torch(seed, hp["num_threads"])
    net = load_model(model_dir, "ner", inp.labels)
    accepted, pad = accepted_inputs(net), pad_id(net)
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    net.to(device)
    eval_bs = int(hp["eval_batch_size"])
    val = ner.features(inp, "validation", train=False)

    def validate() -> dict:
        return ner.evaluate(inp, "validation", predict(net, val, eval_bs, pad, accepted, device), hp).scores

    logger.info("fine-tuning the teacher %s: %d rows, %d epochs, lr %g", model_dir, inp.n_rows("train"),
                hp["epochs"], hp["learning_rate"])
    result = train(net, None, ner.features(inp, "train", train=True), hp, LossConfig(), seed, pad, validate,
                   ner.SELECT, device)
    test_feats = ner.features(inp, "test", train=False)
    test = ner.evaluate(inp, "test", predict(net, test_feats, eval_bs, pad, accepted, device), hp)
    net.to("cpu")
    from .augment import mention_count, read_rows

    train_rows = read_rows(Path(prepared) / "train.jsonl")
    counts = {"train_sentences": len(train_rows), "train_mentions": mention_count(train_rows)}
    metrics = {"role": "teacher", "model": td.get("teacher"), "dataset": td.get("dataset"), "seed": seed,
               "distill": False, "augment": 1, **counts, "augmented_sentences": counts["train_sentences"],
               "augmented_mentions": counts["train_mentions"], "test": test.scores, "validation": result.best_validation,
               "best_epoch": result.best_epoch, "steps": result.steps,
               "parameters": count_parameters(net), "size_mb": size_mb(net),
               "latency": measure_all(net, [f["input_ids"] for f in test_feats], td["latency"])}
    logger.info("teacher test f1 %.4f", test.scores["f1"])
    from ..models.folder import write_model_folder
    from .model_cards import teacher_card

    card = teacher_card(params, td, model_dir, net, hp, metrics, inp.labels)
    with atomic_dir(out) as tmp:
        write_model_folder(net, None, tmp, card, tokenizer_from=model_dir)   # tokenizer.json byte for byte
        write_json(tmp / "metrics.json", metrics)
        write_jsonl(tmp / "per_example.jsonl", test.records)
        ner.write_predictions(tmp, inp, test)
        common.write_log(tmp / "train_log.csv", result.log)
    return metrics
