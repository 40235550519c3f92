"""Distillation as an engine task: frozen teacher, trainable student (+ projection), a recipe.

The teacher is held outside the module's parameters (not a submodule), runs
in eval mode under ``torch.inference_mode`` and only computes what the recipe
uses; its outputs are cloned out of inference mode because autograd must save
them for the student's backward (e.g. the cosine's gradient needs h_t).
"""

from __future__ import annotations

import torch
from torch import nn

from ..models import heads
from . import losses
from .recipe import ATTENTION, Recipe, resolve_layers


def term_names(recipe: Recipe) -> list[str]:
    seen: dict[str, int] = {}
    for t in recipe.terms:
        seen[t.loss] = seen.get(t.loss, 0) + 1
    names, k = [], {}
    for t in recipe.terms:
        if seen[t.loss] == 1:
            names.append(t.loss)
        else:
            k[t.loss] = k.get(t.loss, 0) + 1
            names.append(f"{t.loss}_{k[t.loss]}")
    return names


class DistillTask(nn.Module):
    def __init__(self, student: nn.Module, teacher: nn.Module, recipe: Recipe, where: str = "recipe"):
        super().__init__()
        self.student = student
        self.recipe = resolve_layers(recipe, heads.num_layers(student), heads.num_layers(teacher), where)
        self.terms = term_names(self.recipe)
        d_s, d_t = heads.hidden_size(student), heads.hidden_size(teacher)
        self.projection = nn.Linear(d_s, d_t) if recipe.needs_projection else None
        for k, t in enumerate(self.recipe.terms):
            if t.loss in ("hidden_mse", "embedding_mse") and not t.projection and d_s != d_t:
                raise ValueError(f"{where}.terms[{k}]: student hidden {d_s} != teacher hidden {d_t}; "
                                 "set projection: true")
            if t.loss == "hidden_cosine" and d_s != d_t:
                raise ValueError(f"{where}.terms[{k}]: hidden_cosine needs equal hidden sizes ({d_s} vs {d_t})")
            if t.loss in ATTENTION and heads.num_heads(student) != heads.num_heads(teacher):
                raise ValueError(f"{where}.terms[{k}]: {t.loss} needs equal head counts")
        if recipe.needs_attentions:
            for m, who in ((student, "student"), (teacher, "teacher")):
                if m.config._attn_implementation != "eager":
                    raise ValueError(f"{where}: attention terms need the {who} loaded with "
                                     "attn_implementation='eager' (SDPA returns no maps)")
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        self.__dict__["teacher"] = teacher  # not a submodule: no grads, not in state_dict, not in DDP

    def to(self, *args, **kwargs):
        self.__dict__["teacher"].to(*args, **kwargs)
        return super().to(*args, **kwargs)

    def norms(self, n_masked: int, lengths: list) -> dict:
        h = heads.num_heads(self.teacher)
        d = heads.hidden_size(self.teacher)
        return {n: losses.count(t.loss, n_masked, lengths, h, d, t.normalize)
                for n, t in zip(self.terms, self.recipe.terms)}

    def _teacher(self, ids, am, sel):
        r = self.recipe
        with torch.inference_mode():
            out = heads.encode(self.teacher, ids, am, hidden_states=r.needs_hidden,
                               attentions=r.needs_attentions)
            logits = heads.mlm_head(self.teacher, out.last_hidden_state[sel]) if r.needs_logits else None
        hs = tuple(h.clone() for h in out.hidden_states) if r.needs_hidden else None
        att = tuple(a.clone() for a in out.attentions) if r.needs_attentions else None
        return hs, att, (logits.clone() if logits is not None else None)

    def forward(self, batch: dict, norms: dict):
        ids, am, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
        sel = labels != -100
        r = self.recipe
        t_h, t_a, t_logits = self._teacher(ids, am, sel)
        out = heads.encode(self.student, ids, am, hidden_states=r.needs_hidden, attentions=r.needs_attentions)
        s_logits = heads.mlm_head(self.student, out.last_hidden_state[sel]) if r.needs_logits else None
        s_h = out.hidden_states if r.needs_hidden else None
        s_a = out.attentions if r.needs_attentions else None
        if r.needs_attentions and (not s_a or not t_a or any(a is None for a in (*s_a, *t_a))):
            raise ValueError("attention maps missing from the model outputs (eager attention required)")
        total = 0.0
        values = {}
        for name, t in zip(self.terms, r.terms):
            nz = norms[name]
            if t.loss == "mlm":
                v = losses.mlm_loss(s_logits, labels[sel], normalizer=nz)
            elif t.loss == "output_kl":
                m = torch.ones(s_logits.shape[0], dtype=torch.bool, device=s_logits.device)
                v = losses.output_kl(s_logits, t_logits, m, r.temperature, t.direction, normalizer=nz)
            elif t.loss == "output_soft_ce":
                m = torch.ones(s_logits.shape[0], dtype=torch.bool, device=s_logits.device)
                v = losses.output_soft_ce(s_logits, t_logits, m, r.temperature, normalizer=nz)
            else:
                v = 0.0
                for ls, lt in zip(t.student_layers, t.teacher_layers):
                    if t.loss in ("hidden_cosine", "hidden_mse", "embedding_mse"):
                        hs = s_h[ls]
                        if t.projection:
                            hs = self.projection(hs)
                        fn = getattr(losses, t.loss)
                        v = v + fn(hs, t_h[lt], am, normalizer=nz)
                    elif t.loss == "attention_mse":
                        v = v + losses.attention_mse(s_a[ls - 1], t_a[lt - 1], am, normalizer=nz)
                    else:
                        v = v + losses.attention_kl(s_a[ls - 1], t_a[lt - 1], am, t.direction, t.normalize,
                                                    normalizer=nz)
            values[name] = v.detach()
            total = total + t.weight * v
        return total, values
