"""``compactbio continual``: continue MLM pre-training of a compact model on the corpus."""

from __future__ import annotations

import logging
from pathlib import Path

from transformers import AutoTokenizer

from ..models.build import load_masked_lm
from ..params import params_hash
from .engine import is_main
from .export import export, model_card
from .mlm import MLMTask
from .run import corpus_description, corpus_settings, run_engine, section

logger = logging.getLogger(__name__)


def run(params: dict, model: str, init: Path, corpus: Path, out: Path, workdir: Path) -> None:
    cfg = section(params, "pretrain", "continual", model)
    init = Path(init)
    if not (init / "config.json").is_file():
        raise FileNotFoundError(f"{init}: model folder has no config.json")
    net = load_masked_lm(init)
    tokenizer = AutoTokenizer.from_pretrained(str(init))
    phash = params_hash({"continual": cfg, "engine": params["pretrain"]["engine"], **corpus_settings(params)})
    task = MLMTask(net)
    _, world, _, n_rows = run_engine(params, task, tokenizer, Path(corpus), section(cfg, "train"),
                                     Path(workdir), phash, task.terms)
    if is_main():
        facts = {"model": model, "made by": "continual MLM pre-training", "init": str(init),
                 "architecture": net.config.model_type, "steps": cfg["train"]["steps"],
                 "batch size": cfg["train"]["batch_size"], "learning rate": cfg["train"]["learning_rate"],
                 "processes": world, "data": corpus_description(params, corpus, n_rows), "params hash": phash,
                 "parameters": sum(p.numel() for p in net.parameters())}
        export(net, tokenizer, Path(out), model_card(f"{model} (continual MLM)", facts))
