"""Augmentation keeps tags consistent with tokens, never loses a mention, and is seeded."""

from __future__ import annotations

import json
import random

import pytest

from compactbio.metrics.ner import entities
from compactbio.taskdistill import augment as A

ROWS = [
    {"id": "s0", "tokens": ["The", "BRCA1", "gene", "binds", "p53", "."], "tags": ["O", "B", "I", "O", "B", "O"]},
    {"id": "s1", "tokens": ["No", "genes", "here", "at", "all", "."], "tags": ["O", "O", "O", "O", "O", "O"]},
    {"id": "s2", "tokens": ["IL", "-", "2", "receptor", "alpha", "and", "TNF", "levels"],
     "tags": ["B", "I", "I", "I", "I", "O", "B", "O"]},
    {"id": "s3", "tokens": ["CD4", "CD8", "cells", "express", "Ras", "GTPase"], "tags": ["B", "B", "O", "O", "B", "I"]},
]
TYPED = [
    {"id": "t0", "tokens": ["aspirin", "treats", "headache", "."], "tags": ["B-Chem", "O", "B-Dis", "O"]},
    {"id": "t1", "tokens": ["acute", "renal", "failure", "after", "cisplatin"],
     "tags": ["B-Dis", "I-Dis", "I-Dis", "O", "B-Chem"]},
]
P = {"label_wise": 0.5, "mention": 0.5, "shuffle": 0.5}


def valid_bio(tags: list[str]) -> bool:
    """Every I continues a mention of the same type (independent of the code under test)."""
    prev = "O"
    for t in tags:
        if t.startswith("I"):
            if prev == "O" or prev[2:] != t[2:]:
                return False
        prev = t
    return True


def bio_mentions(tokens, tags):
    """Mentions by hand: a B and the I's that follow it."""
    out, cur = [], None
    for tok, tag in zip(tokens, tags):
        if tag.startswith("B"):
            if cur:
                out.append(cur)
            cur = (tag[2:], [tok])
        elif tag.startswith("I") and cur:
            cur[1].append(tok)
        else:
            if cur:
                out.append(cur)
            cur = None
    if cur:
        out.append(cur)
    return [(t, tuple(toks)) for t, toks in out]


@pytest.mark.parametrize("rows", [ROWS, TYPED], ids=["untyped", "typed"])
@pytest.mark.parametrize("method", A.METHODS)
def test_each_method_keeps_labels_consistent_and_every_mention(rows, method):
    pools = A.build_pools(rows)
    for seed in range(30):
        rng = random.Random(seed)
        for row in rows:
            new = A.APPLY[method](row, pools, 0.5, rng)
            assert len(new["tokens"]) == len(new["tags"])
            assert valid_bio(new["tags"])
            assert len(bio_mentions(new["tokens"], new["tags"])) == len(bio_mentions(row["tokens"], row["tags"]))
            assert len(entities(new["tags"])) == len(entities(row["tags"]))
            if method != "mention":   # tags stay in place; only tokens change
                assert new["tags"] == row["tags"]
                assert len(new["tokens"]) == len(row["tokens"])


def test_label_wise_draws_only_tokens_of_the_same_tag():
    pools = A.build_pools(ROWS)
    by_tag = {}
    for r in ROWS:
        for tok, tag in zip(r["tokens"], r["tags"]):
            by_tag.setdefault(tag, set()).add(tok)
    rng = random.Random(0)
    changed = 0
    for _ in range(20):
        for row in ROWS:
            new = A.label_wise(row, pools, 1.0, rng)
            for a, b, tag in zip(row["tokens"], new["tokens"], new["tags"]):
                assert b in by_tag[tag]
                changed += a != b
    assert changed > 0


def test_mention_replacement_keeps_unreplaced_mentions_and_rebuilds_tags():
    pools = A.build_pools(TYPED + ROWS)
    train_mentions = {m for r in TYPED + ROWS for m in bio_mentions(r["tokens"], r["tags"])}
    rng = random.Random(3)
    replaced = kept = 0
    for _ in range(50):
        for row in TYPED + ROWS:
            old = bio_mentions(row["tokens"], row["tags"])
            new = A.mention(row, pools, 0.5, rng)
            got = bio_mentions(new["tokens"], new["tags"])
            assert len(got) == len(old)
            for o, g in zip(old, got):
                assert g in train_mentions          # every mention is a real training mention
                kept += o == g
                replaced += o != g
            # the O tokens around mentions are untouched, in order
            assert [t for t, g in zip(new["tokens"], new["tags"]) if g == "O"] == \
                   [t for t, g in zip(row["tokens"], row["tags"]) if g == "O"]
    assert replaced > 0 and kept > 0
    assert A.mention(ROWS[0], pools, 0.0, rng) == ROWS[0]


def test_shuffle_permutes_tokens_only_within_segments():
    row = ROWS[2]
    pools = A.build_pools(ROWS)
    saw_change = False
    for seed in range(20):
        new = A.shuffle(row, pools, 1.0, random.Random(seed))
        # segments by hand: [IL - 2 receptor alpha] [and] [TNF] [levels]
        assert sorted(new["tokens"][:5]) == sorted(row["tokens"][:5])
        assert new["tokens"][5:] == row["tokens"][5:]
        saw_change |= new["tokens"] != row["tokens"]
    assert saw_change
    assert A.segments(["O", "B", "I", "O", "O", "B", "B"]) == [(0, 1), (1, 3), (3, 5), (5, 6), (6, 7)]


def test_augmented_size_determinism_and_mention_count():
    out = A.augment(ROWS, 3, list(A.METHODS), P, seed=7)
    assert len(out) == 3 * len(ROWS)
    assert out[: len(ROWS)] == ROWS
    assert A.mention_count(out) == 3 * A.mention_count(ROWS)
    assert len({r["id"] for r in out}) == len(out)
    assert A.augment(ROWS, 3, list(A.METHODS), P, seed=7) == out
    assert A.augment(ROWS, 3, list(A.METHODS), P, seed=8) != out
    assert A.augment(ROWS, 1, [], {}, seed=7) == ROWS
    for r in out:
        assert len(r["tokens"]) == len(r["tags"]) and valid_bio(r["tags"])


def test_bad_configuration_and_input(tmp_path):
    with pytest.raises(ValueError, match="size"):
        A.augment(ROWS, 0, list(A.METHODS), P, seed=0)
    with pytest.raises(ValueError, match="unknown method"):
        A.augment(ROWS, 2, ["synonym"], P, seed=0)
    with pytest.raises(ValueError, match="probability"):
        A.augment(ROWS, 2, ["shuffle"], {"shuffle": 1.5}, seed=0)
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n" + json.dumps({"id": "x", "tokens": ["a", "b"], "tags": ["O"]}) + "\n")
    with pytest.raises(ValueError, match=r"train.jsonl:2: 2 tokens but 1 tags"):
        A.read_rows(path)
    path.write_text(json.dumps({"id": "x", "tokens": ["a"], "tags": ["S-Gene"]}) + "\n")
    with pytest.raises(ValueError, match=r"train.jsonl:1: .*not BIO"):
        A.read_rows(path)


@pytest.mark.realdata
def test_real_bc2gm_keeps_every_mention(real_data):
    """On BC2GM's real training file (first 2000 sentences), x3 augmentation keeps tags valid and mentions."""
    path = real_data / "biobert" / "datasets" / "NER" / "BC2GM" / "train.tsv"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    rows, tokens, tags = [], [], []
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line.strip():
            if tokens:
                rows.append({"id": str(len(rows)), "tokens": tokens, "tags": tags})
                tokens, tags = [], []
            if len(rows) == 2000:
                break
            continue
        tok, tag = line.split("\t")
        tokens.append(tok)
        tags.append(tag)
    out = A.augment(rows, 3, list(A.METHODS), P, seed=0)
    assert len(out) == 3 * len(rows)
    assert A.mention_count(out) == 3 * A.mention_count(rows)
    assert sum(r["tokens"] != rows[i % len(rows)]["tokens"] for i, r in enumerate(out)) > len(rows)
    for r in out:
        assert len(r["tokens"]) == len(r["tags"]) and valid_bio(r["tags"])
