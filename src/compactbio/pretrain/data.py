"""The packed MLM corpus, length-grouped batches and dynamic masking.

Everything random here is a pure function of ``(seed, epoch)`` or
``(seed, step)``: the batch order of an epoch and the masks of a step can be
recomputed from the step counter alone.  That is what makes resume exact
(the checkpoint's data position is the step) and what makes DDP equal to one
process: every rank draws the masks of the *whole* global batch and keeps
its own rows, so the global batch is masked identically however it is split.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

logger = logging.getLogger(__name__)

PAD_MULTIPLE = 8
MEGA_BATCHES = 50  # length grouping window, in global batches
SLAB = 1 << 24     # token ids checked at a time by CorpusRows.validate


def _view(arr: pa.Array) -> np.ndarray:
    """A null-free integer Arrow array as a numpy view of its (memory-mapped) buffer.

    Not ``Array.to_numpy``: that imports pandas, 2 s and 30 MB at a job's start.
    """
    dtype = np.dtype(str(arr.type))
    return np.frombuffer(arr.buffers()[1], dtype=dtype, count=len(arr), offset=arr.offset * dtype.itemsize)


class CorpusRows(Sequence):
    """The corpus's ``input_ids`` rows, read from the memory-mapped Arrow column only when asked for.

    ``rows[i]`` is a fresh int64 array (what the masker and collate take);
    ``lengths`` comes from the list offsets alone, so length grouping never
    reads a token.  Resident memory is then a few bytes a row whatever the
    corpus size: the tokens stay in the page cache, shared and evictable.
    """

    def __init__(self, column: pa.ChunkedArray, where: Path):
        self.where = Path(where)
        chunks = [c for c in column.chunks if len(c)]
        for c in chunks:
            if c.null_count or c.values.null_count:
                raise ValueError(f"{self.where}: null rows or token ids in 'input_ids' (re-run tokenize)")
        self._offsets = [_view(c.offsets) for c in chunks]
        self._values = [c.values for c in chunks]
        self._arrays: list[np.ndarray | None] = [None] * len(chunks)
        sizes = [len(c) for c in chunks]
        self._starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)
        self._start_list = self._starts[:-1].tolist()
        self.lengths = (np.concatenate([np.diff(o).astype(np.int64) for o in self._offsets])
                        if chunks else np.zeros(0, np.int64))

    def __len__(self) -> int:
        return int(self._starts[-1])

    def _chunk_values(self, c: int) -> np.ndarray:
        arr = self._arrays[c]
        if arr is None:
            arr = self._arrays[c] = _view(self._values[c])
        return arr

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"row {i} of a corpus of {len(self)} rows")
        c = bisect.bisect_right(self._start_list, i) - 1
        j = i - self._start_list[c]
        off = self._offsets[c]
        return self._chunk_values(c)[off[j]:off[j + 1]].astype(np.int64)

    def validate(self, vocab_size: int | None = None) -> None:
        """Every row ``[CLS] ... [SEP]``-shaped (>= 2 ids) with ids in ``[0, vocab_size)``; else name the row.

        Vectorised over the flat id buffer in slabs: no row is materialised,
        and the only memory touched is the page cache of the mapped file.
        """
        path = self.where
        if len(self) == 0:
            raise ValueError(f"{path}: the corpus has no rows")
        short = np.flatnonzero(self.lengths < 2)
        if short.size:
            i = int(short[0])
            raise ValueError(f"{path}: row {i}: sequence of length {self.lengths[i]} (expected [CLS] ... [SEP])")
        for c, off in enumerate(self._offsets):
            values = self._chunk_values(c)
            end = int(off[-1])
            unsigned = values.view(np.dtype(f"u{values.dtype.itemsize}"))  # a negative id wraps to a huge one
            for lo in range(int(off[0]), end, SLAB):
                flat = values[lo:min(end, lo + SLAB)]
                if (flat.min() >= 0) if vocab_size is None else (unsigned[lo:lo + len(flat)].max() < vocab_size):
                    continue   # one pass over the ids of the slab
                bad = (flat < 0) if vocab_size is None else ((flat < 0) | (flat >= vocab_size))
                pos = lo + int(np.flatnonzero(bad)[0])
                row = self._start_list[c] + int(np.searchsorted(off, pos, side="right")) - 1
                raise ValueError(f"{path}: row {row}: token id out of range [0, {vocab_size})")


def open_corpus(corpus: str | Path) -> CorpusRows:
    """The tokenized corpus (``save_to_disk`` folder, or a legacy ``train.arrow``), memory-mapped, unchecked."""
    from ..data.tokenized import read_split, split_source

    if not split_source(corpus, "train").exists():
        raise FileNotFoundError(f"{corpus}: tokenized corpus not found (run the tokenize stage)")
    table, where = read_split(corpus, "train")
    if "input_ids" not in table.column_names:
        raise ValueError(f"{where}: no column 'input_ids' (columns: {table.column_names})")
    column = table.column("input_ids")
    if not (pa.types.is_list(column.type) or pa.types.is_large_list(column.type)) or \
            not pa.types.is_integer(column.type.value_type):
        raise ValueError(f"{where}: column 'input_ids' is {column.type}, expected a list of integer token ids")
    return CorpusRows(column, where)


def load_corpus(corpus: str | Path, vocab_size: int | None = None) -> CorpusRows:
    """The corpus rows (``input_ids``), memory-mapped and validated; ``rows[i]`` is an int64 array."""
    rows = open_corpus(corpus)
    rows.validate(vocab_size)
    return rows


def epoch_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """Global batches of one epoch: shuffled, grouped by length inside windows, tail dropped."""
    n = len(lengths)
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(n)
    if n < batch_size:
        return [order]
    window = batch_size * MEGA_BATCHES
    batches = []
    for start in range(0, n, window):
        chunk = order[start:start + window]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk) - batch_size + 1, batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


@dataclass
class Masker:
    """BERT dynamic masking: ``probability`` of real non-special tokens; 80% [MASK], 10% random, 10% kept."""

    mask_id: int
    vocab_size: int
    special_ids: tuple
    probability: float = 0.15

    def __call__(self, rows: list[np.ndarray], generator: torch.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
        width = max(len(r) for r in rows)
        shape = (len(rows), width)
        u = torch.rand(shape, generator=generator).numpy()
        kind = torch.rand(shape, generator=generator).numpy()
        rand_tok = torch.randint(self.vocab_size, shape, generator=generator).numpy()
        out = []
        specials = np.asarray(self.special_ids, dtype=np.int64)
        for j, r in enumerate(rows):
            n = len(r)
            chosen = (u[j, :n] < self.probability) & ~np.isin(r, specials)
            labels = np.where(chosen, r, -100)
            ids = r.copy()
            ids = np.where(chosen & (kind[j, :n] < 0.8), self.mask_id, ids)
            ids = np.where(chosen & (kind[j, :n] >= 0.8) & (kind[j, :n] < 0.9), rand_tok[j, :n], ids)
            out.append((ids, labels))
        return out


def collate(masked: list[tuple[np.ndarray, np.ndarray]], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad to a multiple of 8 (tensor-core friendly shapes, fewer distinct shapes)."""
    width = max(len(ids) for ids, _ in masked)
    width = -(-width // PAD_MULTIPLE) * PAD_MULTIPLE
    b = len(masked)
    input_ids = torch.full((b, width), pad_id, dtype=torch.long)
    labels = torch.full((b, width), -100, dtype=torch.long)
    attention = torch.zeros((b, width), dtype=torch.long)
    for j, (ids, lab) in enumerate(masked):
        n = len(ids)
        input_ids[j, :n] = torch.from_numpy(ids)
        labels[j, :n] = torch.from_numpy(lab)
        attention[j, :n] = 1
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


def accumulation_steps(batch_size: int, world: int, accumulation: int = 1,
                       max_device_batch: int | None = None) -> int:
    """Micro-batches per optimizer step for a global batch of ``batch_size`` on ``world`` ranks.

    Without ``max_device_batch`` this is ``accumulation`` as configured (each
    rank then takes ``batch_size / (accumulation x world)`` rows at a time).
    With it, the global batch still stays ``batch_size`` -- so the
    hyperparameters, the masks and the gradient do not depend on the hardware
    -- and the count is the smallest one >= ``accumulation`` that splits the
    batch evenly with at most ``max_device_batch`` rows per rank and
    micro-batch: one setting fits a job on 1, 4 or 8 GPUs of a given memory.
    Even splits keep every rank's shapes alike (DDP waits for the slowest).
    """
    if accumulation < 1 or world < 1:
        raise ValueError(f"pretrain: gradient_accumulation {accumulation} and world size {world} must be >= 1")
    if max_device_batch is None:
        return accumulation
    if max_device_batch < 1:
        raise ValueError(f"pretrain.engine.max_device_batch: expected a positive integer, got {max_device_batch}")
    if batch_size % world:
        raise ValueError(f"pretrain: batch_size {batch_size} cannot be split evenly over {world} processes")
    per_rank = batch_size // world
    for a in range(max(accumulation, -(-per_rank // max_device_batch)), per_rank + 1):
        if per_rank % a == 0:
            return a
    raise ValueError(f"pretrain: batch_size {batch_size} on {world} processes: no gradient accumulation "
                     f">= {accumulation} divides the {per_rank} rows of each process evenly")


class StepBatches:
    """The micro-batches one rank processes at one optimizer step, plus global counts."""

    def __init__(self, rows: list[np.ndarray], batch_size: int, accumulation: int, world: int, rank: int,
                 seed: int, masker: Masker, pad_id: int):
        if batch_size % (accumulation * world):
            raise ValueError(f"pretrain: batch_size {batch_size} is not divisible by gradient_accumulation "
                             f"{accumulation} x world size {world}")
        self.rows, self.batch_size, self.accumulation = rows, batch_size, accumulation
        self.world, self.rank, self.seed = world, rank, seed
        self.masker, self.pad_id = masker, pad_id
        lengths = getattr(rows, "lengths", None)   # CorpusRows: from the offsets, no row read
        self.lengths = np.asarray(lengths, dtype=np.int64) if lengths is not None else np.array([len(r) for r in rows])
        # Epoch 0's plan, kept: counting its batches and serving the first step need the same plan.
        self._epoch, self._batches = 0, epoch_batches(self.lengths, batch_size, seed, 0)
        self.per_epoch = len(self._batches)
        if len(rows) < batch_size:
            logger.warning("corpus has %d rows, fewer than one batch of %d", len(rows), batch_size)

    def global_indices(self, step: int) -> np.ndarray:
        epoch, index = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            self._epoch, self._batches = epoch, epoch_batches(self.lengths, self.batch_size, self.seed, epoch)
        return self._batches[index]

    def __call__(self, step: int):
        """(micro-batches of this rank, global masked count, global real lengths) for ``step``."""
        idx = self.global_indices(step)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        masked = self.masker([self.rows[i] for i in idx], g)
        n_masked = int(sum((lab != -100).sum() for _, lab in masked))
        lengths = [len(ids) for ids, _ in masked]
        micro = len(idx) // self.accumulation if len(idx) >= self.accumulation else len(idx)
        out = []
        for a in range(self.accumulation):
            part = masked[a * micro:(a + 1) * micro] if a < self.accumulation - 1 else masked[a * micro:]
            mine = part[self.rank::self.world]
            if mine:
                out.append(collate(mine, self.pad_id))
        return out, n_masked, lengths
