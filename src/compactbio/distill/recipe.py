"""Distillation recipes as data: parse and check ``pretrain.distill.<student>.recipe``.

Layer indices (the same for student and teacher):

* hidden states: 0 = embedding output, ``l`` = output of encoder layer ``l``
  (1-based), negative counts from the end (-1 = last layer);
* attention maps: ``l`` = the attention probabilities of layer ``l``
  (1-based, ``l >= 1``), -1 = last layer.

A term applies its loss to each (student_layers[i], teacher_layers[i]) pair
and *sums* over the pairs (Eq. 5 and Eq. 8 sum over layers), then multiplies by
``weight``.  ``projection: true`` routes the student's hidden states through the
one learned linear map student_hidden -> teacher_hidden (W_p of Eq. 5 and 6,
shared by all terms that ask for it).

KL terms (``output_kl``, ``attention_kl``) take ``direction``: the default
``teacher_student`` is the authors' code (KLDivLoss with the teacher as
target), ``student_teacher`` the paper's Eqs. 2 and 8 as written.
``attention_kl`` takes ``normalize``: ``elements`` (default, the authors'
``KLDivLoss(reduction="mean")``) or ``rows`` (a mean of per-row KLs).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import losses

LOSSES = ("mlm", "output_kl", "output_soft_ce", "hidden_cosine", "hidden_mse",
          "attention_mse", "attention_kl", "embedding_mse")
HIDDEN = ("hidden_cosine", "hidden_mse", "embedding_mse")
ATTENTION = ("attention_mse", "attention_kl")
OUTPUT = ("output_kl", "output_soft_ce")
KEYS = {"loss", "weight", "student_layers", "teacher_layers", "projection", "direction", "normalize"}
KL = ("output_kl", "attention_kl")


@dataclass(frozen=True)
class Term:
    loss: str
    weight: float
    student_layers: tuple = ()
    teacher_layers: tuple = ()
    projection: bool = False
    direction: str = "teacher_student"
    normalize: str = "elements"        # attention_kl only (see losses.attention_kl)

    @property
    def name(self) -> str:
        return self.loss


@dataclass(frozen=True)
class Recipe:
    temperature: float
    terms: tuple

    @property
    def needs_hidden(self) -> bool:
        return any(t.loss in HIDDEN for t in self.terms)

    @property
    def needs_attentions(self) -> bool:
        return any(t.loss in ATTENTION for t in self.terms)

    @property
    def needs_logits(self) -> bool:
        return any(t.loss in OUTPUT or t.loss == "mlm" for t in self.terms)

    @property
    def needs_projection(self) -> bool:
        return any(t.projection for t in self.terms)


def _index(i: int, n_layers: int, attention: bool, where: str) -> int:
    j = i + n_layers + 1 if i < 0 else i
    lo = 1 if attention else 0
    if not lo <= j <= n_layers:
        raise ValueError(f"{where}: layer {i} out of range for a {n_layers}-layer model "
                         f"({'attention maps are 1..L' if attention else 'hidden states are 0..L, 0 = embeddings'})")
    return j


def parse(recipe: dict, where: str = "pretrain.distill.<student>.recipe") -> Recipe:
    if not isinstance(recipe, dict) or not recipe.get("terms"):
        raise ValueError(f"{where}: a recipe needs a non-empty `terms` list")
    temperature = float(recipe.get("temperature", 1.0))
    if temperature <= 0:
        raise ValueError(f"{where}.temperature: must be > 0, got {temperature}")
    terms = []
    for k, raw in enumerate(recipe["terms"]):
        w = f"{where}.terms[{k}]"
        if not isinstance(raw, dict):
            raise ValueError(f"{w}: expected a mapping, got {raw!r}")
        unknown = set(raw) - KEYS
        if unknown:
            raise ValueError(f"{w}: unknown key(s) {sorted(unknown)}")
        loss = raw.get("loss")
        if loss not in LOSSES:
            raise ValueError(f"{w}.loss: unknown loss {loss!r}; expected one of {', '.join(LOSSES)}")
        if loss == "embedding_mse":
            s_layers, t_layers = [0], [0]
        elif loss in HIDDEN or loss in ATTENTION:
            s_layers = list(raw.get("student_layers", [-1]))
            t_layers = list(raw.get("teacher_layers", [-1]))
            if len(s_layers) != len(t_layers) or not s_layers:
                raise ValueError(f"{w}: student_layers {s_layers} and teacher_layers {t_layers} "
                                 "must be non-empty and of equal length")
        else:
            s_layers = t_layers = []
        if "direction" in raw and loss not in KL:
            raise ValueError(f"{w}.direction: only {' and '.join(KL)} have a direction")
        direction = raw.get("direction", "teacher_student")
        if direction not in losses.DIRECTIONS:
            raise ValueError(f"{w}.direction: expected one of {losses.DIRECTIONS}, got {direction!r}")
        if "normalize" in raw and loss != "attention_kl":
            raise ValueError(f"{w}.normalize: only attention_kl takes normalize")
        normalize = raw.get("normalize", "elements")
        if normalize not in losses.ATTENTION_NORMS:
            raise ValueError(f"{w}.normalize: expected one of {losses.ATTENTION_NORMS}, got {normalize!r}")
        projection = bool(raw.get("projection", False))
        if projection and loss not in ("hidden_mse", "embedding_mse"):
            raise ValueError(f"{w}.projection: only hidden_mse and embedding_mse use a projection")
        terms.append(Term(loss, float(raw.get("weight", 1.0)), tuple(s_layers), tuple(t_layers),
                          projection, direction, normalize))
    return Recipe(temperature, tuple(terms))


def resolve_layers(recipe: Recipe, n_student: int, n_teacher: int, where: str) -> Recipe:
    """Turn negative indices into absolute ones and check them against the two models."""
    out = []
    for k, t in enumerate(recipe.terms):
        att = t.loss in ATTENTION
        s = tuple(_index(i, n_student, att, f"{where}.terms[{k}].student_layers") for i in t.student_layers)
        te = tuple(_index(i, n_teacher, att, f"{where}.terms[{k}].teacher_layers") for i in t.teacher_layers)
        out.append(Term(t.loss, t.weight, s, te, t.projection, t.direction, t.normalize))
    return Recipe(recipe.temperature, tuple(out))
