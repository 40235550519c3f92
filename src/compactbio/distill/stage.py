"""``compactbio distill``: distil a compact student from the teacher with a params recipe."""

from __future__ import annotations

import logging
from pathlib import Path

from transformers import AutoTokenizer

from ..params import params_hash
from ..pretrain.engine import is_main
from ..models import card as cards
from ..pretrain.export import export, model_card, named
from ..pretrain.run import corpus_description, corpus_settings, inputs_digest, run_engine, section, set_threads
from ..models.build import load_masked_lm
from ..models.student import make_student
from . import gate
from .recipe import parse
from .task import DistillTask

logger = logging.getLogger(__name__)


def run(params: dict, model: str, teacher: Path, corpus: Path, out: Path, workdir: Path) -> None:
    set_threads(params)
    cfg = section(params, "pretrain", "distill", model)
    where = f"pretrain.distill.{model}.recipe"
    recipe = parse(section(cfg, "recipe"), where)
    attn = "eager" if recipe.needs_attentions else None
    teacher = Path(teacher)
    if not (teacher / "config.json").is_file():
        raise FileNotFoundError(f"{teacher}: teacher model folder has no config.json")
    teacher_model = load_masked_lm(teacher, attn_implementation=attn)
    tokenizer = AutoTokenizer.from_pretrained(str(teacher))
    # Stop before a day of distillation from a teacher whose MLM head is untrained or missing.
    gate_facts = gate.check(teacher_model, gate.corpus_tail(corpus), tokenizer,
                            params["pretrain"].get("distill_gate"), str(teacher))
    seed = int(params["pretrain"]["engine"].get("seed", 0))
    student = make_student(teacher_model, section(cfg, "student"), seed, attn)
    task = DistillTask(student, teacher_model, recipe, where)
    # The card-only keys (license) stay out of the resume hash: changing them re-exports, never retrains.
    phash = params_hash({"distill": cards.training_view(cfg), "engine": params["pretrain"]["engine"],
                         **corpus_settings(params), "inputs": inputs_digest(teacher, corpus)})
    logger.info("distilling %s from %s: %d -> %d layers, %.1fM student parameters (params hash %s)",
                model, teacher, teacher_model.config.num_hidden_layers, student.config.num_hidden_layers,
                sum(p.numel() for p in student.parameters()) / 1e6, phash)
    _, world, _, n_rows = run_engine(params, task, tokenizer, Path(corpus), section(cfg, "train"),
                                     Path(workdir), phash, task.terms)
    if is_main():
        source = cards.source_of(teacher)
        facts = {
            "model": model, "made by": "knowledge distillation",
            "teacher": named(cfg["teacher"], source),
            "teacher masked-token accuracy": gate_facts if gate_facts is not None else "not checked",
            "student init": {k: v for k, v in cfg["student"].items() if k != "config"},
            "student config": {k: getattr(student.config, k) for k in
                               ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")},
            "steps": cfg["train"]["steps"], "batch size": cfg["train"]["batch_size"],
            "learning rate": cfg["train"]["learning_rate"], "processes": world,
            "warm-up steps": cfg["train"].get("warmup_steps"), "weight decay": cfg["train"].get("weight_decay"),
            "data": corpus_description(params, corpus, n_rows), "params hash": phash,
            "parameters": sum(p.numel() for p in student.parameters()),
        }
        summary = (f"A compact student distilled from the teacher {named(cfg['teacher'], source)} on the "
                   f"pre-training corpus with the loss recipe below (Rohanian et al., 2023).")
        export(student, tokenizer, Path(out), model_card(
            params, model, cfg, student, title=f"{model} (distilled)", made_by="knowledge distillation",
            summary=summary, facts=facts, corpus=corpus, base_model=source.hub_id, recipe=cfg["recipe"],
            params_hash=phash, tags=["distillation"]))
