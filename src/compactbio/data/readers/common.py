"""Helpers shared by the readers: split names, label checks, seeded splits."""

from __future__ import annotations

import random
from pathlib import Path

from ..errors import DataError

SPLITS = ("train", "validation", "test")


def split_files(ds: dict, defaults: dict[str, str]) -> dict[str, str]:
    """File name per canonical split; ``datasets.<id>.files`` overrides the defaults."""
    files = dict(defaults)
    files.update(ds.get("files") or {})
    return files


def require_nonempty(path: Path, rows: list, what: str) -> None:
    if not rows:
        raise DataError(path, f"empty split: no {what} found")


def seeded_pick(items: list, fraction: float, seed: int) -> set:
    """Choose ``round(fraction * len(items))`` items with a private RNG.

    The items are sorted first so the choice depends only on the seed and the
    set of items, not on the order a file happened to list them in.
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"split fraction must be in [0, 1), got {fraction}")
    pool = sorted(items)
    n = round(fraction * len(pool))
    if fraction > 0 and len(pool) > 1:
        n = max(1, min(n, len(pool) - 1))
    rng = random.Random(seed)
    return set(rng.sample(pool, n))
