"""Task heads on top of a pre-trained (MLM) model folder.

The Auto classes pick the right architecture (BERT, DistilBERT, MobileBERT)
from ``config.json``; the head is freshly initialised from the seeded global
RNG, so the same seed gives the same head.
"""

from __future__ import annotations

import inspect
import json
import logging
from pathlib import Path

logger = logging.getLogger(__name__)

# Modules a task model adds on top of an MLM checkpoint (BERT's MLM model has no pooler).
HEAD_MODULES = {"classifier", "qa_outputs", "pre_classifier", "pooler"}
HEAD_SUFFIX = {"ner": "ForTokenClassification", "re": "ForSequenceClassification",
               "qa": "ForQuestionAnswering"}


def check_existing_head(model_dir: Path, task: str, labels: list[str]) -> None:
    """A folder that already holds a classification head for this task must use our label set.

    Loading it with other labels would either crash deep inside torch (other
    count) or, worse, silently map label ids to the wrong names (same count).
    """
    config = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    archs = config.get("architectures") or []
    if task == "qa" or not any(a.endswith(HEAD_SUFFIX[task]) for a in archs):
        return
    id2label = config.get("id2label") or {}
    theirs = [id2label[k] for k in sorted(id2label, key=int)]
    if theirs != list(labels):
        raise ValueError(f"{Path(model_dir) / 'config.json'}: the model already has a {archs[0]} head "
                         f"for labels {theirs}, but the dataset's labels are {list(labels)}")


def load_model(model_dir: Path, task: str, labels: list[str]):
    """The model with a head for ``task`` (``labels`` sets the classifier size for NER/RE)."""
    import transformers

    auto = {"ner": transformers.AutoModelForTokenClassification,
            "re": transformers.AutoModelForSequenceClassification,
            "qa": transformers.AutoModelForQuestionAnswering}[task]
    check_existing_head(model_dir, task, labels)
    kwargs = {}
    if task in ("ner", "re"):
        kwargs = dict(num_labels=len(labels), id2label=dict(enumerate(labels)),
                      label2id={lab: i for i, lab in enumerate(labels)})
    previous = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # its load report lists the expected head swap
    try:
        model, info = auto.from_pretrained(str(model_dir), output_loading_info=True, **kwargs)
    except (OSError, KeyError) as exc:  # unknown model type, unreadable weights
        raise ValueError(f"{model_dir}: cannot load a {task} model: {exc}") from None
    finally:
        transformers.logging.set_verbosity(previous)
    missing = sorted(info.get("missing_keys") or [])
    head = [k for k in missing if HEAD_MODULES & set(k.split("."))]
    body = [k for k in missing if k not in head]
    logger.info("%s: new %s head (%s)", model_dir, task, ", ".join(head) or "none")
    if body:
        # A pre-trained body should be complete; missing encoder weights mean the
        # folder holds another architecture or a broken checkpoint.
        logger.warning("%s: %d encoder weights were not in the checkpoint and are random, e.g. %s",
                       model_dir, len(body), body[:3])
    return model


def accepted_inputs(model) -> set[str]:
    """Argument names of ``model.forward``: DistilBERT takes no ``token_type_ids``."""
    return set(inspect.signature(model.forward).parameters)


def pad_id(model) -> int:
    pid = getattr(model.config, "pad_token_id", None)
    return 0 if pid is None else int(pid)
