"""``compactbio base-model``: the teacher and the general-domain baselines.

Paper scale: a pinned hub snapshot (``hub`` may also be a local folder), with
the tokenizer the tokenizer stage wrote (the params ``lowercase`` applied there),
checked to have exactly the model's vocabulary size.
Demo scale: a tiny model of the real architecture with the demo tokenizer's
vocabulary, MLM-trained briefly on the demo corpus so that distillation has
something to learn from.

A base model may continue another (``init``: BioBERT v1.2 is v1.1 trained
further with an LM head).  At paper scale its snapshot is taken as it is; at
demo scale the init's weights are MLM-trained further.  At both, the two must
share one vocabulary, token for token.
"""

from __future__ import annotations

import logging
from pathlib import Path

from transformers import AutoTokenizer

from ..models.build import load_hub_masked_lm, load_masked_lm, tiny_model
from ..models.card import training_view
from ..params import params_hash
from .engine import is_main
from .export import export, model_card
from .mlm import MLMTask
from .run import corpus_description, corpus_settings, inputs_digest, run_engine, section, set_threads

logger = logging.getLogger(__name__)


def _check_same_vocabulary(tok, tokenizer: Path, init: Path) -> None:
    """A model continued from ``init`` reads token ids as ``init`` wrote them: one vocabulary."""
    if not (Path(init) / "tokenizer.json").is_file():
        raise FileNotFoundError(f"{init}: no tokenizer.json (the model this one continues)")
    theirs = AutoTokenizer.from_pretrained(str(init))
    if tok.get_vocab() != theirs.get_vocab():
        raise ValueError(f"{tokenizer / 'tokenizer.json'}: its vocabulary ({len(tok)} tokens) is not that of "
                         f"{init} ({len(theirs)} tokens), which this model continues (params `init`)")


def run(params: dict, model: str, tokenizer: Path, corpus: Path, out: Path, workdir: Path,
        init: Path | None = None) -> None:
    set_threads(params)
    cfg = section(params, "pretrain", "base", model)
    # The card-only keys (license) stay out of the resume hash: changing them re-exports, never retrains.
    settings = {"base": training_view(cfg), "engine": params["pretrain"]["engine"], **corpus_settings(params)}
    hub = cfg.get("hub")
    tokenizer = Path(tokenizer)
    if not (tokenizer / "tokenizer.json").is_file():
        raise FileNotFoundError(f"{tokenizer}: no tokenizer.json (run the tokenizer stage)")
    tok = AutoTokenizer.from_pretrained(str(tokenizer))
    if (init is None) != (cfg.get("init") is None):
        raise ValueError(f"params `pretrain.base.{model}.init` is {cfg.get('init')!r} but the command gives "
                         f"{'no --init' if init is None else f'--init {init}'}")
    if init is not None:
        _check_same_vocabulary(tok, tokenizer, Path(init))
    if hub:
        phash = params_hash(settings)
        revision = cfg.get("revision")
        logger.info("loading %s (revision %s)", hub, revision)
        net, source = load_hub_masked_lm(hub, revision=revision, arch=cfg.get("arch"))
        if int(net.config.vocab_size) != len(tok):
            raise ValueError(f"{tokenizer / 'tokenizer.json'}: {len(tok)} tokens but {hub} has vocab_size "
                             f"{net.config.vocab_size}")
        if is_main():
            # A local folder given as `hub` has no commit: it is not a hub repository to name.
            hub_id = source["source"] if source.get("resolved commit") else None
            facts = {"model": model, "made by": "hub snapshot", **source,
                     **({"continues": cfg["init"]} if init is not None else {}),
                     "tokenizer": f"the tokenizer stage's for {model} (lowercase: "
                                  f"{bool((cfg.get('tokenizer') or {}).get('lowercase', False))})",
                     "architecture": net.config.model_type, "params hash": phash,
                     "parameters": sum(p.numel() for p in net.parameters())}
            what = f"The hub model `{hub_id}`" if hub_id else "A local model folder (params `hub`)"
            summary = (f"{what} as the pipeline uses it: its weights at the resolved commit, "
                       f"with the tokenizer the pipeline checked against its vocabulary.")
            export(net, tok, Path(out), model_card(
                params, model, cfg, net, title=f"{model} (hub snapshot)", made_by="hub snapshot", summary=summary,
                facts=facts, base_model=hub_id, hub_id=hub_id, params_hash=phash))
        return
    if init is not None:
        net = load_masked_lm(init)
        if net.config.model_type != section(cfg, "arch"):
            raise ValueError(f"{init}: a {net.config.model_type} model, but `pretrain.base.{model}.arch` is "
                             f"{cfg['arch']}")
        made_by = f"demo: {cfg['init']}'s weights, MLM pre-training continued"
    else:
        seed = int(params["pretrain"]["engine"].get("seed", 0))
        net = tiny_model(section(cfg, "arch"), cfg.get("config"), tok, seed)
        made_by = "demo: tiny model, MLM pre-training from scratch"
    # What the training starts from is part of the resume hash: a checkpoint of other inputs restarts.
    phash = params_hash({**settings, "inputs": inputs_digest(tokenizer, corpus, *([init] if init is not None else []))})
    mlm = section(cfg, "mlm")
    task = MLMTask(net)
    _, world, _, n_rows = run_engine(params, task, tok, Path(corpus), mlm, Path(workdir), phash, task.terms)
    if is_main():
        facts = {"model": model, "made by": made_by,
                 "architecture": cfg["arch"], "config": cfg.get("config"),
                 "tokenizer": f"WordPiece trained on the corpus by the tokenizer stage for {model}",
                 "steps": mlm["steps"], "batch size": mlm["batch_size"], "learning rate": mlm["learning_rate"],
                 "processes": world, "data": corpus_description(params, corpus, n_rows), "params hash": phash,
                 "parameters": sum(p.numel() for p in net.parameters())}
        start = f"{cfg['init']}'s demo weights" if init is not None else "scratch"
        summary = (f"A tiny {cfg['arch']} model built from {start} and briefly MLM-trained, standing in for "
                   f"{model} so the pipeline runs offline on a CPU; not a usable biomedical model.")
        export(net, tok, Path(out), model_card(
            params, model, cfg, net, title=f"{model} (demo base model)", made_by="demo base model",
            summary=summary, facts=facts, corpus=corpus, params_hash=phash))
