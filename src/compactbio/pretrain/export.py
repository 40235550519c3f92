"""Write a pre-trained model as ``models/<id>/``: safetensors, tokenizer (with ``vocab.txt``) and a model card.

The folder holds exactly what ``save_pretrained`` writes, ``vocab.txt`` and
``README.md`` (:mod:`compactbio.models.folder`), so it can be uploaded to the
Hub as it is.  The card (:mod:`compactbio.models.card`) carries Hub metadata:
the license of the params entry, the hub model it was made from as
``base_model`` (read from the input folder's own card, never a local path),
``fill-mask``, tags saying demo or rehearsal, and the corpus at paper scale.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..io import atomic_dir
from ..models import card as cards
from ..models.folder import write_model_folder

logger = logging.getLogger(__name__)


def scale_of(params: dict) -> tuple[str, bool]:
    """``(scale, rehearsal)``: what a card must say about how real the model is."""
    return str(params.get("scale", "demo")), bool((params.get("rehearsal") or {}).get("enabled"))


def model_card(params: dict, model: str, cfg: dict, net, *, title: str, made_by: str, summary: str,
               facts: dict, corpus: Path | None = None, base_model: str | None = None,
               hub_id: str | None = None, recipe: dict | None = None, params_hash: str | None = None,
               tags: list[str] = ()):
    """The card of ``models/<model>``; ``cfg`` is its params entry (its ``license`` goes in the metadata).

    ``corpus``: the tokenized corpus it was trained on (its folder name is the
    dataset id; listed at paper scale only: the demo corpus is synthetic).
    """
    scale, rehearsal = scale_of(params)
    datasets = [Path(corpus).name] if corpus is not None and scale == "paper" else []
    return cards.pretrained_card(
        model=model, title=title, made_by=made_by, summary=summary, arch=getattr(net.config, "model_type", None),
        scale=scale, rehearsal=rehearsal, license=cfg.get("license"), base_model=base_model, hub_id=hub_id,
        datasets=datasets, facts=facts, recipe=recipe, params_hash=params_hash, tags=list(tags))


def named(model_id: str, source: cards.Source) -> str:
    """How a card names another model of the pipeline: its id, and its hub repository when it is a snapshot."""
    return f"{model_id} ({source.hub_id})" if source.hub_id else model_id


def export(model, tokenizer, out: Path, card) -> None:
    """Atomically write ``model`` (safetensors) + tokenizer + ``vocab.txt`` + README.md to ``out``."""
    previous = getattr(model.config, "_attn_implementation", None)
    with atomic_dir(out) as tmp:
        write_model_folder(model, tokenizer, tmp, card)
    logger.info("wrote %s (attention used in training: %s)", out, previous)
