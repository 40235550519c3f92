"""Glue shared by the three pre-training stages: corpus -> engine -> exported folder."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from .data import Masker, StepBatches, load_corpus
from .engine import TrainConfig, barrier, distributed, train

logger = logging.getLogger(__name__)


def section(params: dict, *keys: str):
    node = params
    for i, k in enumerate(keys):
        if not isinstance(node, dict) or k not in node:
            raise ValueError(f"params: missing key '{'.'.join(keys[:i + 1])}'")
        node = node[k]
    return node


def set_threads(params: dict) -> None:
    """torch's CPU threads for this job: ``pretrain.engine.num_threads`` (0: torch's default).

    A fixed count keeps CPU float reductions, hence the weights, the same whichever front end
    started the job (Snakemake sets OMP_NUM_THREADS to a job's ``threads``, DVC leaves torch one
    thread a core); one thread is also the fastest for tiny demo models sharing two cores.
    """
    threads = int(section(params, "pretrain", "engine").get("num_threads") or 0)
    if threads:
        import torch

        torch.set_num_threads(threads)


def inputs_digest(*folders: Path) -> str:
    """SHA-256 of what a pre-training job starts from: a model folder's weights, a tokenized corpus's
    Arrow shards, a tokenizer.  Part of the job's resume hash, so a checkpoint made from other inputs
    (a retrained teacher, a re-tokenized corpus) is started afresh, never resumed into a stale model."""
    digest = hashlib.sha256()
    for folder in folders:
        folder = Path(folder)
        files = [folder / "model.safetensors", folder / "tokenizer.json", *sorted(folder.glob("*.arrow"))]
        for f in (f for f in files if f.is_file()):
            digest.update(f"{f.name}\0".encode())
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    digest.update(block)
    return digest.hexdigest()[:16]


def corpus_settings(params: dict) -> dict:
    """The tokenize keys that shape the corpus rows: part of every pre-training job's resume hash."""
    t = params.get("tokenize", {})
    return {"corpus_max_length": t.get("corpus_max_length"),
            **({"corpus_packing": t["corpus_packing"]} if "corpus_packing" in t else {})}


def corpus_description(params: dict, corpus: Path, n_rows: int) -> str:
    """How the model card names the training data."""
    packed = params.get("tokenize", {}).get("corpus_packing", True)
    # The corpus's dataset id (its folder name), not the path: a card must not carry local paths.
    return f"{Path(corpus).name} ({n_rows} {'packed sequences' if packed else 'documents, one a row'})"


def corpus_rows(params: dict, corpus: Path, vocab_size: int):
    rows = load_corpus(corpus, vocab_size)
    max_len = params.get("tokenize", {}).get("corpus_max_length")
    if max_len is not None:
        long = np.flatnonzero(rows.lengths > int(max_len))   # from the offsets: no row is read
        if long.size:
            i = int(long[0])
            raise ValueError(f"{rows.where}: row {i}: length {rows.lengths[i]} exceeds "
                             f"tokenize.corpus_max_length {max_len}")
    return rows


def run_engine(params: dict, task, tokenizer, corpus: Path, train_cfg: dict, workdir: Path,
               params_hash: str, term_names: list[str]):
    """Train ``task`` on the corpus; returns (task, world, rank, number of corpus rows)."""
    engine = section(params, "pretrain", "engine")
    world, rank = distributed()
    cfg = TrainConfig.from_params(train_cfg, engine)
    rows = corpus_rows(params, corpus, len(tokenizer))
    if tokenizer.mask_token_id is None or tokenizer.pad_token_id is None:
        raise ValueError(f"tokenizer for {corpus} has no [MASK] or [PAD] token")
    masker = Masker(mask_id=tokenizer.mask_token_id, vocab_size=len(tokenizer),
                    special_ids=tuple(tokenizer.all_special_ids),
                    probability=float(engine.get("mask_probability", 0.15)))
    accumulation = cfg.accumulation(world)
    logger.info("global batch %d = %d process(es) x %d micro-batch(es) of %d rows (max_device_batch: %s)",
                cfg.batch_size, world, accumulation, -(-cfg.batch_size // (world * accumulation)),
                cfg.max_device_batch)
    batches = StepBatches(rows, cfg.batch_size, accumulation, world, rank, cfg.seed,
                          masker, tokenizer.pad_token_id)
    train(task, batches, cfg, task.norms, Path(workdir), params_hash, term_names)
    barrier()
    return task, world, rank, len(rows)
