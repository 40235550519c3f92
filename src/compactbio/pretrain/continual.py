"""``compactbio continual``: continue MLM pre-training of a compact model on the corpus."""

from __future__ import annotations

import logging
from pathlib import Path

from transformers import AutoTokenizer

from ..models.build import load_masked_lm
from ..params import params_hash
from .engine import is_main
from ..models import card as cards
from .export import export, model_card, named
from .mlm import MLMTask
from .run import corpus_description, corpus_settings, inputs_digest, run_engine, section, set_threads

logger = logging.getLogger(__name__)


def run(params: dict, model: str, init: Path, corpus: Path, out: Path, workdir: Path) -> None:
    set_threads(params)
    cfg = section(params, "pretrain", "continual", model)
    init = Path(init)
    if not (init / "config.json").is_file():
        raise FileNotFoundError(f"{init}: model folder has no config.json")
    net = load_masked_lm(init)
    tokenizer = AutoTokenizer.from_pretrained(str(init))
    # The card-only keys (license) stay out of the resume hash: changing them re-exports, never retrains.
    phash = params_hash({"continual": cards.training_view(cfg), "engine": params["pretrain"]["engine"],
                         **corpus_settings(params), "inputs": inputs_digest(init, corpus)})
    task = MLMTask(net)
    _, world, _, n_rows = run_engine(params, task, tokenizer, Path(corpus), section(cfg, "train"),
                                     Path(workdir), phash, task.terms)
    if is_main():
        source = cards.source_of(init)
        facts = {"model": model, "made by": "continual MLM pre-training", "init": named(cfg["init"], source),
                 "architecture": net.config.model_type, "steps": cfg["train"]["steps"],
                 "batch size": cfg["train"]["batch_size"], "learning rate": cfg["train"]["learning_rate"],
                 "processes": world, "data": corpus_description(params, corpus, n_rows), "params hash": phash,
                 "parameters": sum(p.numel() for p in net.parameters())}
        summary = (f"{named(cfg['init'], source)} further pre-trained with the masked-LM objective on the "
                   f"pre-training corpus (continual learning, Rohanian et al., 2023).")
        export(net, tokenizer, Path(out), model_card(
            params, model, cfg, net, title=f"{model} (continual MLM)", made_by="continual MLM pre-training",
            summary=summary, facts=facts, corpus=corpus, base_model=source.hub_id, params_hash=phash,
            tags=["continual-pretraining"]))
