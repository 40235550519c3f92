"""Mention-aware data augmentation for NER (Dai and Adel, 2020, without synonym replacement).

Why: a small student learns more from the teacher when it sees more inputs;
the teacher's soft labels on augmented sentences carry its knowledge even
where the (copied) hard labels are only approximately right.

Three methods, each with its own probability ``p`` (the BioBERT-distillation study's README uses 0.5):

* ``label_wise``: every token, with probability p, is replaced by a token
  drawn from the training set's tokens carrying the *same* tag (drawn from
  the multiset, so frequent tokens are drawn more often);
* ``mention``: every mention, with probability p, is replaced by a mention
  drawn from the training set's mentions (any length); its tags are rebuilt
  as ``B I ... I`` (keeping the drawn mention's entity type), and every
  mention not replaced is kept as it is;
* ``shuffle``: the sentence is cut into segments (each mention, and each
  maximal run of tokens outside mentions); every segment, with probability p,
  has its tokens shuffled, tags staying in place.

None of the methods adds or removes a mention, and each keeps one tag per
token.  Mentions are counted as conlleval does (:func:`compactbio.metrics.ner.entities`).

The augmented set holds ``n`` times the original sentences: the originals,
then ``n - 1`` augmented copies of each, every copy made by one method drawn
(seeded) from the enabled ones.  ``n = 1`` is the original set.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..metrics.ner import entities, split_tag

logger = logging.getLogger(__name__)

METHODS = ("label_wise", "mention", "shuffle")


@dataclass(frozen=True)
class Pools:
    """What replacements are drawn from: the training set's tokens per tag and its mentions."""

    tokens_by_tag: dict[str, list[str]]
    mentions: list[tuple[str, tuple[str, ...]]]   # (entity type, tokens)


# ------------------------------------------------------------------ input
def check_row(row: dict, where: str) -> None:
    """A prepared NER row: tokens and BIO tags, one tag per token."""
    tokens, tags = row.get("tokens"), row.get("tags")
    if not isinstance(tokens, list) or not isinstance(tags, list):
        raise ValueError(f"{where}: needs lists 'tokens' and 'tags'")
    if len(tokens) != len(tags):
        raise ValueError(f"{where}: {len(tokens)} tokens but {len(tags)} tags")
    for tag in tags:
        try:
            prefix, _ = split_tag(tag)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        if prefix not in ("B", "I", "O"):
            raise ValueError(f"{where}: tag {tag!r} is not BIO (augmentation rebuilds BIO tags only)")


def read_rows(path: Path) -> list[dict]:
    """A prepared ``<split>.jsonl`` with every row checked; errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: file not found")
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: not valid JSON: {exc.msg}") from None
            check_row(row, f"{path}:{lineno}")
            rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no sentences")
    return rows


# ------------------------------------------------------------------ helpers
def mention_tags(etype: str, length: int) -> list[str]:
    suffix = f"-{etype}" if etype else ""
    return [f"B{suffix}"] + [f"I{suffix}"] * (length - 1)


def segments(tags: Sequence[str]) -> list[tuple[int, int]]:
    """Cover the sentence with ``[start, end)`` segments: each mention, each run of non-mention tokens."""
    spans, pos = [], 0
    for _, start, end in entities(tags):
        if start > pos:
            spans.append((pos, start))
        spans.append((start, end))
        pos = end
    if pos < len(tags):
        spans.append((pos, len(tags)))
    return spans


def build_pools(rows: Sequence[dict]) -> Pools:
    by_tag: dict[str, list[str]] = {}
    found: list[tuple[str, tuple[str, ...]]] = []
    for row in rows:
        for tok, tag in zip(row["tokens"], row["tags"]):
            by_tag.setdefault(tag, []).append(tok)
        for etype, start, end in entities(row["tags"]):
            found.append((etype, tuple(row["tokens"][start:end])))
    return Pools(tokens_by_tag=by_tag, mentions=found)


# ------------------------------------------------------------------ methods
def label_wise(row: dict, pools: Pools, p: float, rng: random.Random) -> dict:
    tokens = list(row["tokens"])
    for i, tag in enumerate(row["tags"]):
        if rng.random() < p:
            tokens[i] = rng.choice(pools.tokens_by_tag[tag])
    return {**row, "tokens": tokens, "tags": list(row["tags"])}


def mention(row: dict, pools: Pools, p: float, rng: random.Random) -> dict:
    tokens, tags = [], []
    for start, end in segments(row["tags"]):
        span_tags = row["tags"][start:end]
        is_mention = split_tag(span_tags[0])[0] != "O"
        if is_mention and pools.mentions and rng.random() < p:
            etype, new = rng.choice(pools.mentions)
            tokens += list(new)
            tags += mention_tags(etype, len(new))
        else:
            tokens += row["tokens"][start:end]
            tags += span_tags
    return {**row, "tokens": tokens, "tags": tags}


def shuffle(row: dict, pools: Pools, p: float, rng: random.Random) -> dict:
    tokens = list(row["tokens"])
    for start, end in segments(row["tags"]):
        if end - start > 1 and rng.random() < p:
            part = tokens[start:end]
            rng.shuffle(part)
            tokens[start:end] = part
    return {**row, "tokens": tokens, "tags": list(row["tags"])}


APPLY = {"label_wise": label_wise, "mention": mention, "shuffle": shuffle}


# ------------------------------------------------------------------ the set
def check_config(n: int, methods: Sequence[str], p: dict) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"params: augmentation size must be an integer >= 1, got {n!r}")
    if n > 1 and not methods:
        raise ValueError("params: task_distill.augment.methods is empty but an augmentation size > 1 was asked for")
    for m in methods:
        if m not in APPLY:
            raise ValueError(f"params: task_distill.augment.methods: unknown method {m!r}; expected {METHODS}")
        q = p.get(m)
        if q is None or not 0.0 <= float(q) <= 1.0:
            raise ValueError(f"params: task_distill.augment.p.{m} must be a probability in [0, 1], got {q!r}")


def augment(rows: Sequence[dict], n: int, methods: Sequence[str], p: dict, seed: int) -> list[dict]:
    """``n`` times ``rows``: the originals, then ``n - 1`` augmented copies of each (see module doc)."""
    check_config(n, methods, p)
    out = [dict(r) for r in rows]
    if n == 1:
        return out
    pools = build_pools(rows)
    rng = random.Random(seed)
    for copy in range(1, n):
        for row in rows:
            method = rng.choice(list(methods))
            new = APPLY[method](row, pools, float(p[method]), rng)
            new["id"] = f"{row.get('id', '')}-aug{copy}"
            out.append(new)
    logger.info("augmented %d sentences to %d (x%d, methods %s)", len(rows), len(out), n, ", ".join(methods))
    return out


def mention_count(rows: Sequence[dict]) -> int:
    return sum(len(entities(r["tags"])) for r in rows)
