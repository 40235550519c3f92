"""The ``finetune`` stage: one (model, dataset, seed) job, from inputs to scored outputs.

Order of work: validate every input (fast, nothing written), fine-tune, keep
the last epoch's state (``finetune.<task>.select: last``, the authors') or the
best one on the validation split (``best``), score the test split once, then
write all outputs into ``out`` in one atomic step (``metrics.json``,
``scores.json``, ``per_example.jsonl``, ``per_example_validation.jsonl``, the
predictions, ``train_log.csv``).  The per-example records carry the model's
confidence (:mod:`.confidence`); the validation split's are those of the
selected model, where the cascade study chooses its routing thresholds.
Every score goes through the project's ``evaluate`` modules
(:mod:`compactbio.metrics.modules`), imported only when the first score is due.
With ``select: last`` the validation split may be empty
(``datasets.<id>.split.validation_fraction: 0``).
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from ..io import atomic_dir, write_json, write_jsonl
from .hparams import hyperparameters
from .inputs import check_model_dir, check_same_tokenizer, load_inputs, row_limits, task_of_prepared

logger = logging.getLogger(__name__)


def _task_module(task: str):
    from . import ner, qa, re
    return {"ner": ner, "re": re, "qa": qa}[task]


def _setup_torch(seed: int, num_threads: int) -> None:
    """Seed every RNG and fix the thread count.

    One thread is much faster for tiny demo models when several jobs share two
    cores (oversubscribed threads spin), and a fixed count keeps CPU float
    reductions, hence metrics, identical from run to run.  0 keeps torch's default.
    """
    import random

    import numpy as np
    import torch

    if num_threads:
        torch.set_num_threads(int(num_threads))
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    # CPU kernels are deterministic for a fixed thread count; this turns any
    # non-deterministic op into a warning rather than a silent difference.
    torch.use_deterministic_algorithms(True, warn_only=True)


def protocol(hp: dict, task: str, has_validation: bool) -> dict:
    """How this run was trained and scored (the tables' notes say it)."""
    out = {"select": hp["select"], "validation": has_validation}
    if task == "qa":
        out.update(scoring=hp["scoring"], answer_cleanup=hp["answer_cleanup"])
    return out


SCORES_FILE = "scores.json"   # the test split's numeric scores, flat: what `dvc metrics show` reads
RECORDS_FILE = "per_example.jsonl"                    # the test split's per-example records
VALIDATION_RECORDS_FILE = "per_example_validation.jsonl"   # the selected model's, on validation (may be empty)


def flat_scores(metrics: dict) -> dict[str, float]:
    """The flat ``scores.json`` object: ``metrics["test"]``'s numeric values, nothing else.

    metrics.json also holds names, seeds, the validation split and the
    baseline, which make ``dvc metrics show`` / ``diff`` hard to read.
    """
    return {k: v for k, v in metrics["test"].items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def run(params: dict, model: str, dataset: str, seed: int, model_dir: Path, data: Path,
        prepared: Path, out: Path) -> dict:
    """Fine-tune ``model_dir`` on the tokenized ``data``, score with ``prepared``'s gold; return metrics."""
    model_dir, data, prepared, out = Path(model_dir), Path(data), Path(prepared), Path(out)
    check_model_dir(model_dir)
    task_name = task_of_prepared(prepared)
    hp = hyperparameters(params, task_name, model)
    inp = load_inputs(data, prepared, row_limits(hp))
    has_validation = inp.n_rows("validation") > 0
    if hp["select"] == "best" and not has_validation:
        raise ValueError(f"params: finetune.{task_name}.select is 'best' but {prepared} has no validation split "
                         f"(datasets.{dataset}.split.validation_fraction is 0?): use select: last, or carve one out")
    check_same_tokenizer(model_dir, inp)
    task = _task_module(inp.task)
    logger.info("fine-tuning %s on %s (%s, seed %d): %d train rows, lr %g, %d epochs",
                model, dataset, inp.task, seed, inp.n_rows("train"), hp["learning_rate"], hp["epochs"])

    import torch  # heavy imports only once the inputs are known to be good

    from .loop import predict, train
    from .modeling import accepted_inputs, load_model, pad_id

    _setup_torch(seed, hp.get("num_threads") or 0)
    net = load_model(model_dir, inp.task, inp.labels)
    vocab = net.get_input_embeddings().num_embeddings
    for split in ("train", "validation", "test"):
        top = max((max(ids) for ids in inp.rows[split]["input_ids"] if ids), default=0)
        if top >= vocab:
            raise ValueError(f"{data / f'{split}.arrow'}: token id {top} is outside the vocabulary of "
                             f"{model_dir} ({vocab}); the data was tokenized with another tokenizer")
    accepted, pad = accepted_inputs(net), pad_id(net)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    net.to(device)
    eval_bs = int(hp["eval_batch_size"])
    val_feats = task.features(inp, "validation", train=False) if has_validation else []

    last_validation: dict = {"epoch": 0, "evaluation": None}   # the latest epoch's, to reuse if it is selected

    def validate() -> dict:
        ev = task.evaluate(inp, "validation", predict(net, val_feats, eval_bs, pad, accepted, device), hp)
        last_validation.update(epoch=last_validation["epoch"] + 1, evaluation=ev)   # called once per epoch
        return ev.scores

    result = train(net, task.features(inp, "train", train=True), hp, seed, pad, accepted,
                   validate if has_validation else None, task.SELECT, device, selection=hp["select"])
    validation_records = []
    if has_validation:
        val = last_validation["evaluation"]
        if last_validation["epoch"] != result.best_epoch:   # an earlier epoch was selected: its state is loaded
            val = task.evaluate(inp, "validation", predict(net, val_feats, eval_bs, pad, accepted, device), hp)
            if val.scores != result.best_validation:
                logger.warning("validation scores of the selected model differ on a second pass: %s vs %s",
                               val.scores, result.best_validation)
        validation_records = val.records
    test = task.evaluate(inp, "test", predict(net, task.features(inp, "test", train=False), eval_bs, pad, accepted, device), hp)
    metrics = {"task": inp.task, "model": model, "dataset": dataset, "seed": seed,
               "test": test.scores, "validation": result.best_validation, "best_epoch": result.best_epoch,
               "baseline": task.baseline(inp, hp), "protocol": protocol(hp, inp.task, has_validation)}
    logger.info("test %s", ", ".join(f"{k} {v:.4f}" for k, v in test.scores.items()))

    with atomic_dir(out) as tmp:
        write_json(tmp / "metrics.json", metrics)
        write_json(tmp / SCORES_FILE, flat_scores(metrics))
        write_jsonl(tmp / RECORDS_FILE, test.records)
        write_jsonl(tmp / VALIDATION_RECORDS_FILE, validation_records)
        task.write_predictions(tmp, inp, test)
        with open(tmp / "train_log.csv", "w", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["step", "epoch", "loss", "validation_score"], lineterminator="\n")
            w.writeheader()
            w.writerows(result.log)
        if hp.get("keep_model"):   # finetune.common.keep_model: the task model too, in <out>/model/
            from . import kept_model

            kept_model.save(params, net, model, dataset, seed, model_dir, prepared, hp, metrics,
                            tmp / kept_model.FOLDER)
    return metrics
