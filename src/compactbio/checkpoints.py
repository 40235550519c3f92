"""``pretrain.source``: train the compact models here, or fine-tune the authors' published checkpoints.

``train`` (the default) is the paper's pipeline: the three students are
distilled from the teacher (``pretrain.distill``) and the three Bio* models
continually pre-trained (``pretrain.continual``).  ``published`` fine-tunes
the checkpoints the authors released on the hub instead (nlpie/distil-biobert
and the others, ``pretrain.published``): the cheapest way to rebuild Tables
2-7, with one GPU and no 100k-step jobs.

The switch works on the params dict alone, so no stage and no front end has
a code path of its own for it: :func:`apply` (called by
``compactbio.params.load_params`` and ``resolve``) turns each distill or
continual entry into the base entry ``pretrain.published.<model>``.  The job
graph then has no distill or continual jobs; each of the six models gets the
jobs of any hub model (tokenizer, tokenize, base-model: a pinned snapshot at
paper scale, a tiny stand-in MLM-trained on the demo corpus at demo scale),
``prefetch`` and the hub mirror list its hub id, and the tables say that they
hold published checkpoints (:func:`table_label`).

A published entry is a full base entry (``hub``, ``revision``, ``arch``,
``config``, ``tokenizer``, ``mlm``, ``license``), validated by the same schema,
so the mapping is data in params.yaml rather than code here.  The jobs built
from it declare ``pretrain.source`` and ``pretrain.published.<model>``
(:func:`entry_keys`): keys that exist in params.yaml, as DVC requires.
"""

from __future__ import annotations

import copy
from typing import Any

SOURCES = ("train", "published")
KINDS = ("distill", "continual")


def source(params: dict) -> str:
    return str((params.get("pretrain") or {}).get("source", "train"))


def published_entries(params: dict) -> dict:
    return (params.get("pretrain") or {}).get("published") or {}


def apply(params: dict) -> dict:
    """Under ``pretrain.source: published``, move every distill / continual model to ``pretrain.base``.

    In place (and returned); its entry becomes a copy of ``pretrain.published.<model>``.
    Idempotent, and a no-op under ``train``.  Raw and resolved dicts alike:
    scale pairs are copied as they are.
    """
    pre = params.get("pretrain")
    if not isinstance(pre, dict) or source(params) != "published":
        return params
    published = published_entries(params)
    base = pre.setdefault("base", {})
    for kind in KINDS:
        entries = pre.get(kind) or {}
        for model in list(entries):
            if model in published:
                base[model] = copy.deepcopy(published[model])
                del entries[model]
    return params


def is_published(params: dict, model: str) -> bool:
    """Whether ``model`` is fetched as a published checkpoint under these params."""
    return source(params) == "published" and model in published_entries(params)


def entry_keys(params: dict, model: str) -> list[str]:
    """The params.yaml keys that define base model ``model``; the last one is its entry.

    ``pretrain.base.<model>``, or for a published checkpoint the switch and
    ``pretrain.published.<model>`` (the key ``pretrain.base.<model>`` exists
    only in the loaded dict, not in the file DVC reads).
    """
    if is_published(params, model):
        return ["pretrain.source", f"pretrain.published.{model}"]
    return [f"pretrain.base.{model}"]


def errors(raw: dict, path: Any, lines: dict) -> list[str]:
    """Cross-references of ``pretrain.published``.

    Checked only under ``published``: with the switch off the entries are
    inert, and a user who drops a model from the pipeline need not delete its
    checkpoint too.  Also valid: params that :func:`apply` already switched (a
    published model under ``pretrain.base``), as tools that write the loaded
    params back to a file (``compactbio rehearsal``) produce: its base entry
    is then a copy of its published one.
    """
    if source(raw) != "published":
        return []
    pre = raw.get("pretrain") or {}
    trained = {m: kind for kind in KINDS for m in (pre.get(kind) or {})}
    published = published_entries(raw)
    applied = {m for m, entry in (pre.get("base") or {}).items() if published.get(m) == entry}
    out = []
    for model in published:
        if model not in trained and model not in applied:
            kp = ("pretrain", "published", model)
            out.append(f"{path}:{lines.get(kp, '?')}: 'pretrain.published.{model}': not a model of "
                       "pretrain.distill or pretrain.continual (a published checkpoint replaces one of them)")
    for model, kind in trained.items():
        if model not in published:
            kp = ("pretrain", kind, model)
            out.append(f"{path}:{lines.get(kp, '?')}: 'pretrain.{kind}.{model}': pretrain.source is published "
                       f"but pretrain.published has no entry for '{model}' (give its hub checkpoint there, or "
                       "set pretrain.source: train)")
    return out


def table_models(params: dict, table: str) -> list[str]:
    """The models a table shows: its own and, for the reported / retention tables, those it gathers."""
    tables = params.get("tables") or {}
    spec = tables.get(table) or {}
    models = list(spec.get("models") or [])
    for sub in spec.get("tables") or []:
        models += (tables.get(sub) or {}).get("models") or []
    return list(dict.fromkeys(models))


def _labelled_models(params: dict, table: str) -> list[str]:
    if source(params) != "published" or ((params.get("tables") or {}).get(table) or {}).get("kind") == "datasets":
        return []
    published = published_entries(params)
    return [m for m in table_models(params, table) if m in published]


def table_keys(params: dict, table: str) -> list[str]:
    """The params.yaml keys :func:`table_label` reads for ``table`` (none under ``train``)."""
    models = _labelled_models(params, table)
    return ["pretrain.source", *(f"pretrain.published.{m}" for m in models)] if models else []


def table_label(params: dict, table: str) -> tuple[str, str] | None:
    """``(caption addition, note)`` for a table showing published checkpoints; None otherwise.

    ``params`` resolved: a null ``hub`` (demo scale) means tiny stand-ins were
    built in the checkpoints' place, and the label says that instead.
    """
    models = _labelled_models(params, table)
    if not models:
        return None
    published = published_entries(params)
    display = {m: ((params.get("models") or {}).get(m) or {}).get("display", m) for m in models}
    hubs = {m: published[m].get("hub") for m in models}
    if not all(hubs.values()):
        return ("compact models: demo stand-ins for the published checkpoints",
                "Published-checkpoint preset (params.yaml pretrain.source: published) at demo scale: "
                f"{', '.join(display.values())} are tiny stand-ins built and briefly MLM-trained like the base "
                "models, in place of the authors' released checkpoints; nothing was distilled or continually "
                "pre-trained.")
    orgs = {str(h).split("/")[0] for h in hubs.values() if "/" in str(h)}
    what = f"published {orgs.pop()} checkpoints" if len(orgs) == 1 else "published checkpoints"
    which = "; ".join(f"{display[m]}: {hubs[m]}" + (f" at {str(published[m]['revision'])[:7]}"
                                                     if published[m].get("revision") else "") for m in models)
    return (f"compact models: {what}",
            f"The compact models are the authors' {what} (params.yaml pretrain.source: published), fine-tuned here; "
            f"this pipeline did not distil or pre-train them. {which}.")
