"""``compactbio base-model``: the teacher and the general-domain baselines.

Paper scale: a pinned hub snapshot (``hub`` may also be a local folder), with
the tokenizer the tokenizer stage wrote (the params ``lowercase`` applied there),
checked to have exactly the model's vocabulary size.
Demo scale: a tiny model of the real architecture with the demo tokenizer's
vocabulary, MLM-trained briefly on the demo corpus so that distillation has
something to learn from.
"""

from __future__ import annotations

import logging
from pathlib import Path

from transformers import AutoTokenizer

from ..params import params_hash
from ..pretrain.engine import is_main
from ..pretrain.export import export, model_card
from ..pretrain.mlm import MLMTask
from ..pretrain.run import corpus_description, corpus_settings, run_engine, section
from .build import load_hub_masked_lm, tiny_model

logger = logging.getLogger(__name__)


def run(params: dict, model: str, tokenizer: Path, corpus: Path, out: Path, workdir: Path) -> None:
    cfg = section(params, "pretrain", "base", model)
    phash = params_hash({"base": cfg, "engine": params["pretrain"]["engine"], **corpus_settings(params)})
    hub = cfg.get("hub")
    tokenizer = Path(tokenizer)
    if not (tokenizer / "tokenizer.json").is_file():
        raise FileNotFoundError(f"{tokenizer}: no tokenizer.json (run the tokenizer stage)")
    tok = AutoTokenizer.from_pretrained(str(tokenizer))
    if hub:
        revision = cfg.get("revision")
        logger.info("loading %s (revision %s)", hub, revision)
        net, source = load_hub_masked_lm(hub, revision=revision, arch=cfg.get("arch"))
        if int(net.config.vocab_size) != len(tok):
            raise ValueError(f"{tokenizer / 'tokenizer.json'}: {len(tok)} tokens but {hub} has vocab_size "
                             f"{net.config.vocab_size}")
        if is_main():
            facts = {"model": model, "made by": "hub snapshot", **source, "tokenizer": str(tokenizer),
                     "architecture": net.config.model_type, "params hash": phash,
                     "parameters": sum(p.numel() for p in net.parameters())}
            export(net, tok, Path(out), model_card(f"{model} (hub snapshot)", facts))
        return
    seed = int(params["pretrain"]["engine"].get("seed", 0))
    net = tiny_model(section(cfg, "arch"), cfg.get("config"), tok, seed)
    mlm = section(cfg, "mlm")
    task = MLMTask(net)
    _, world, _, n_rows = run_engine(params, task, tok, Path(corpus), mlm, Path(workdir), phash, task.terms)
    if is_main():
        facts = {"model": model, "made by": "demo: tiny model, MLM pre-training from scratch",
                 "architecture": cfg["arch"], "config": cfg.get("config"), "tokenizer": str(tokenizer),
                 "steps": mlm["steps"], "batch size": mlm["batch_size"], "learning rate": mlm["learning_rate"],
                 "processes": world, "data": corpus_description(params, corpus, n_rows), "params hash": phash,
                 "parameters": sum(p.numel() for p in net.parameters())}
        export(net, tok, Path(out), model_card(f"{model} (demo base model)", facts))
