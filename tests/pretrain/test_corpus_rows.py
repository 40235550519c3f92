"""The memory-mapped corpus: same rows, lengths and batches as the lists it replaces, bad rows named."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import torch

from compactbio.pretrain.data import Masker, StepBatches, load_corpus, open_corpus
from compactbio.pretrain.run import corpus_rows


def _rows(n=203, seed=0):
    rng = np.random.default_rng(seed)
    return [[2] + rng.integers(5, 45, int(rng.integers(0, 30))).tolist() + [3] for _ in range(n)]


def _save(folder, rows, shards=3):
    """As the tokenize stage writes it: a save_to_disk Dataset, here in several shards of many batches."""
    from datasets import Dataset, Features

    features = Features.from_arrow_schema(pa.schema([("input_ids", pa.list_(pa.int32()))]))
    ds = Dataset.from_dict({"input_ids": rows}, features=features)
    ds.save_to_disk(str(folder), num_shards=shards)
    return folder


def test_rows_and_lengths_match_the_stored_lists(tmp_path):
    data = _rows()
    rows = load_corpus(_save(tmp_path / "c", data), 45)
    assert len(rows) == len(data)
    assert [r.tolist() for r in rows] == data and all(r.dtype == np.int64 for r in rows[:5])
    assert rows.lengths.dtype == np.int64 and rows.lengths.tolist() == [len(r) for r in data]
    assert [r.tolist() for r in rows[-3:]] == data[-3:] and rows[-1].tolist() == data[-1]
    with pytest.raises(IndexError):
        rows[len(data)]


def test_legacy_single_arrow_file_reads_the_same(tmp_path):
    data = _rows(50)
    table = pa.table({"input_ids": pa.array(data, type=pa.list_(pa.int32()))})
    (tmp_path / "old").mkdir()
    with pa.OSFile(str(tmp_path / "old/train.arrow"), "wb") as s, pa.ipc.new_file(s, table.schema) as w:
        w.write_table(table)
    old, new = open_corpus(tmp_path / "old"), open_corpus(_save(tmp_path / "new", data))
    assert [r.tolist() for r in old] == [r.tolist() for r in new] == data
    assert old.where == tmp_path / "old/train.arrow" and new.where == tmp_path / "new"


def test_batches_equal_those_of_in_memory_rows(tmp_path):
    """Length grouping, masks and DDP sharding see the same rows whether they are mapped or in memory."""
    data = _rows(120)
    mapped = load_corpus(_save(tmp_path / "c", data), 45)
    listed = [np.asarray(r, dtype=np.int64) for r in data]
    m = Masker(4, 45, (0, 1, 2, 3, 4))
    for world, rank in ((1, 0), (2, 1)):
        a = StepBatches(mapped, 16, 2, world, rank, 7, m, 0)
        b = StepBatches(listed, 16, 2, world, rank, 7, m, 0)
        assert np.array_equal(a.lengths, b.lengths) and a.per_epoch == b.per_epoch
        for step in (0, 3, a.per_epoch + 1):   # across an epoch boundary too
            (ma, na, la), (mb, nb, lb) = a(step), b(step)
            assert na == nb and la == lb and len(ma) == len(mb)
            for x, y in zip(ma, mb):
                assert all(torch.equal(x[k], y[k]) for k in x)


def test_bad_rows_are_named_in_any_shard(tmp_path):
    data = _rows(90)
    data[77][3] = 99                        # in the last shard
    with pytest.raises(ValueError, match=r"/bad: row 77: token id out of range \[0, 45\)"):
        load_corpus(_save(tmp_path / "bad", data), 45)
    data = _rows(90)
    data[64] = [2]
    with pytest.raises(ValueError, match=r"row 64: sequence of length 1"):
        load_corpus(_save(tmp_path / "short", data), 45)
    data = _rows(90)
    data[5][1] = -1
    with pytest.raises(ValueError, match=r"row 5: token id out of range"):
        load_corpus(_save(tmp_path / "neg", data))
    with pytest.raises(FileNotFoundError, match="tokenized corpus not found"):
        load_corpus(tmp_path / "absent")


def test_row_longer_than_corpus_max_length_is_named(tmp_path):
    data = _rows(40)
    data[33] = [2] + [6] * 40 + [3]
    folder = _save(tmp_path / "c", data)
    with pytest.raises(ValueError, match=r"/c: row 33: length 42 exceeds tokenize.corpus_max_length 32"):
        corpus_rows({"tokenize": {"corpus_max_length": 32}}, folder, 45)
    assert len(corpus_rows({"tokenize": {"corpus_max_length": 42}}, folder, 45)) == 40
