"""The tokenized data layer: pre-training read path memory and start, tokenization throughput.

Part 1, the pre-training data path.  For synthetic corpora of 50k, 200k and
1M rows of 256 token ids (written directly, no tokenizer), each in a fresh
process, it measures what a pre-training job does before its first step:
open and validate the corpus, build the length-grouped batch plan of epoch 0
(``StepBatches``, global batch 192 as in the paper) and mask the first batch.

* before: the code of commit 8311469 (``load_corpus`` read the whole Arrow
  table and turned every row into a Python list, then an int64 array);
* after: ``compactbio.pretrain.data.load_corpus`` on the ``save_to_disk``
  folder the tokenize stage now writes (rows read lazily from the mapped file,
  lengths from the list offsets).

The files are in the page cache (just written, then synced), as for a job
that follows its tokenize job; "after" is the better of two runs.  Resident
memory is the process's anonymous memory (``RssAnon``: heap, arrays, Python
objects) above its level after the imports -- not the page cache, which the
mapped file uses, shares and gives back under pressure (``RssFile`` is
printed beside it; "peak" is the before run's high-water mark, ``VmHWM``).
Goals: resident memory flat in corpus size (within 100 MB from 50k to 1M
rows) and the first batch within 2 s at 1M rows.  The before run of a size is
skipped when this machine's available memory could not hold its peak (scaled
from the smaller size measured in the same run).

Part 2, tokenization throughput on real data (the folder of
/work/shared/data/README.md): the BC2GM training, validation and test sets and
the PubMed sample, tokenized by a cased WordPiece of BioBERT's size trained
here on that sample.  ``before`` runs the stage as it was (the same batch
functions called in one process, one Arrow IPC file written per split);
``num_proc 1`` and ``num_proc 2`` run the new stage (``Dataset.map`` with that
many workers, ``save_to_disk``).  Best of three; the outputs are checked equal.
With ``num_proc 1`` the Rust tokenizer already spreads each batch over every
core; with more workers ``datasets`` turns that off in them (one thread each),
so worker processes pay off in the Python alignment, on machines with more
cores than two.

    python benchmarks/bench_data_memory.py /work/shared/data [--rows 50000 200000 1000000] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

LENGTH = 256
VOCAB = 28996
BATCH = 192
SPECIAL = (0, 100, 101, 102, 103)   # BERT cased: [PAD] [UNK] [CLS] [SEP] [MASK]


# ------------------------------------------------------------------ part 1: the corpus read path
def write_corpora(folder: Path, rows: int) -> tuple[Path, Path]:
    """``rows`` rows of ``[CLS] ids [SEP]``: an Arrow stream as the old reader took it, and the same rows
    saved by ``datasets`` (what the tokenize stage writes)."""
    from datasets import Dataset

    legacy, new = folder / f"legacy-{rows}", folder / f"new-{rows}"
    legacy.mkdir(parents=True)
    rng = np.random.default_rng(rows)
    schema = pa.schema([("input_ids", pa.list_(pa.int32()))])
    offsets_step = np.arange(0, 1000 * LENGTH + 1, LENGTH, dtype=np.int32)
    with pa.OSFile(str(legacy / "train.arrow"), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for lo in range(0, rows, 1000):
            n = min(1000, rows - lo)
            ids = rng.integers(999, VOCAB, (n, LENGTH), dtype=np.int32)
            ids[:, 0], ids[:, -1] = 101, 102
            arr = pa.ListArray.from_arrays(pa.array(offsets_step[: n + 1]), pa.array(ids.ravel()))
            writer.write_batch(pa.record_batch([arr], schema=schema))
    Dataset.from_file(str(legacy / "train.arrow")).save_to_disk(str(new))
    return legacy, new


def _old_load_corpus(corpus: Path, vocab_size: int) -> list:
    """``compactbio.pretrain.data.load_corpus`` as of commit 8311469 (verbatim but for the names)."""
    path = Path(corpus) / "train.arrow"
    with pa.memory_map(str(path)) as src:
        try:
            table = pa.ipc.open_file(src).read_all()
        except pa.ArrowInvalid:
            table = None
    if table is None:
        with pa.memory_map(str(path)) as src:
            table = pa.ipc.open_stream(src).read_all()
    rows = [np.asarray(r, dtype=np.int64) for r in table.column("input_ids").to_pylist()]
    for i, r in enumerate(rows):
        if r.size < 2:
            raise ValueError(f"{path}: row {i}: sequence of length {r.size}")
        if r.min() < 0 or r.max() >= vocab_size:
            raise ValueError(f"{path}: row {i}: token id out of range")
    return rows


def _status() -> dict[str, int]:
    """Resident anonymous and file-backed memory of this process, in bytes."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


def child(mode: str, folder: str) -> None:
    """One measurement in a fresh process; prints a JSON line."""
    import torch

    from compactbio.data import tokenized  # noqa: F401 - imported by load_corpus; not part of the data's cost
    from compactbio.pretrain.data import Masker, StepBatches, collate, load_corpus

    torch.set_num_threads(1)
    masker = Masker(103, VOCAB, SPECIAL)
    collate(masker([np.array([101, 2000, 102])] * 2, torch.Generator().manual_seed(0)), 0)  # torch's first-op set-up
    base = _status()
    t0 = time.perf_counter()
    rows = _old_load_corpus(Path(folder), VOCAB) if mode == "before" else load_corpus(folder, VOCAB)
    batches = StepBatches(rows, BATCH, 1, 1, 0, 0, masker, 0)
    micro, n_masked, lengths = batches(0)
    first = time.perf_counter() - t0
    now = _status()
    assert len(lengths) == BATCH and micro[0]["input_ids"].shape == (BATCH, LENGTH) and n_masked > 0
    print(json.dumps({"first_batch_s": first, "anon": now["RssAnon"] - base["RssAnon"],
                      "file": now["RssFile"], "hwm": now["VmHWM"], "rows": len(rows)}))


def _measure(mode: str, folder: Path) -> dict:
    res = subprocess.run([sys.executable, __file__, "--child", mode, str(folder)], capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(f"{mode} {folder}: {res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def memory_part(sizes: list[int], work: Path) -> None:
    mib = 1 << 20
    print(f"\n== pre-training data path: corpora of {LENGTH}-token rows, global batch {BATCH} ==")
    print(f"{'rows':>9} {'arrow MB':>9} | {'before: anon MB':>15} {'peak MB':>8} {'first batch s':>13} | "
          f"{'after: anon MB':>14} {'file MB':>8} {'first batch s':>13} | {'anon ratio':>10} {'speed-up':>8}")
    after, per_row = {}, None
    for n in sizes:
        legacy, new = write_corpora(work / "corpora", n)
        os.sync()   # no writeback of the fresh files competing with the reads measured
        size = sum(f.stat().st_size for f in new.glob("*.arrow")) / mib
        a = min((_measure("after", new) for _ in range(2)), key=lambda r: r["first_batch_s"])
        after[n] = a
        need = None if per_row is None else per_row * n   # peak (VmHWM) scaled from the last size
        if need is not None and need * 1.1 + (2 << 30) > _available():
            b = None
            why = f"skipped: peak ~{need / (1 << 30):.1f} GiB, {_available() / (1 << 30):.1f} GiB available"
        else:
            b = _measure("before", legacy)
            per_row = max(per_row or 0, b["hwm"] / n)
        if b:
            print(f"{n:>9} {size:>9.0f} | {b['anon'] / mib:>15.0f} {b['hwm'] / mib:>8.0f} {b['first_batch_s']:>13.2f} | "
                  f"{a['anon'] / mib:>14.1f} {a['file'] / mib:>8.0f} {a['first_batch_s']:>13.2f} | "
                  f"{b['anon'] / max(a['anon'], 1):>10.0f} {b['first_batch_s'] / a['first_batch_s']:>8.1f}")
        else:
            print(f"{n:>9} {size:>9.0f} | {why:>39} | {a['anon'] / mib:>14.1f} {a['file'] / mib:>8.0f} "
                  f"{a['first_batch_s']:>13.2f} |")
        shutil.rmtree(legacy)
        shutil.rmtree(new)
    lo, hi = min(after), max(after)
    growth = (after[hi]["anon"] - after[lo]["anon"]) / mib
    print(f"after: resident memory grows {growth:+.1f} MB from {lo} to {hi} rows (goal: within 100 MB) -> "
          f"{'met' if abs(growth) <= 100 else 'NOT met'}; first batch at {hi} rows "
          f"{after[hi]['first_batch_s']:.2f} s (goal: under 2 s) -> "
          f"{'met' if after[hi]['first_batch_s'] < 2 else 'NOT met'}")


# ------------------------------------------------------------------ part 2: tokenization throughput
def _legacy_stage(tok, prepared: Path, out: Path, task: str, max_length: int, batch_size: int) -> None:
    """The tokenize stage before the datasets layer: batch functions in one process, one IPC file a split."""
    from compactbio.data import tokenize
    from compactbio.io import read_json, read_jsonl

    out.mkdir(parents=True)
    schema = tokenize.SCHEMAS[task]
    if task == "mlm":
        lines = (prepared / "corpus.txt").read_text(encoding="utf-8").split("\n")
        with pa.OSFile(str(out / "train.arrow"), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
            for lo in range(0, len(lines), batch_size):
                rows = tokenize.document_rows(tok, lines[lo:lo + batch_size], max_length)
                if rows:
                    writer.write_batch(pa.record_batch([tokenize.list_array(rows)], schema=schema))
        return
    labels = {lab: i for i, lab in enumerate(read_json(prepared / "meta.json")["labels"])}
    for split in tokenize.SPLITS:
        rows = read_jsonl(prepared / f"{split}.jsonl")
        table = pa.table(tokenize.ner_rows(tok, rows, labels, max_length, batch_size, split), schema=schema)
        with pa.OSFile(str(out / f"{split}.arrow"), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
            writer.write_table(table)


def _tokens(folder: Path, splits) -> int:
    from compactbio.data.tokenized import read_split

    return sum(int(pa.compute.sum(pa.compute.list_value_length(read_split(folder, s)[0].column("input_ids"))).as_py())
               for s in splits)


def throughput_part(data: Path, work: Path, batch_size: int) -> None:
    import pyarrow.compute  # noqa: F401 - used through pa.compute

    from compactbio.data import prepare, tokenize, tokenizer
    from compactbio.data.tokenized import read_split

    params = {"datasets": {"pubmed": {"format": "corpus", "path": "."},
                           "bc2gm": {"format": "biobert_ner", "path": "datasets/NER/BC2GM"}},
              "pretrain": {"base": {"wp": {"hub": None, "tokenizer": {"lowercase": False, "vocab_size": VOCAB}}}},
              "tokenize": {"max_length": 512, "corpus_max_length": 256, "corpus_packing": False,
                           "batch_size": batch_size}}
    prepare.run(params, "pubmed", data / "pubmed", work / "prepared/pubmed")
    prepare.run(params, "bc2gm", data / "biobert", work / "prepared/bc2gm")
    tokenizer.run(params, "wp", work / "prepared/pubmed", work / "tok")
    tok, _ = tokenize.load_tokenizer(work / "tok")
    print(f"\n== tokenization throughput (tokenizer: WordPiece, {tok.get_vocab_size()} tokens, trained on "
          f"{data / 'pubmed'}; batches of {batch_size}; {len(os.sched_getaffinity(0))} cores) ==")
    print(f"{'dataset':<8} {'inputs':>8} {'tokens':>10} | {'before tok/s':>13} | {'num_proc 1 tok/s':>16} "
          f"{'x':>5} | {'num_proc 2 tok/s':>16} {'x':>5}")
    for name, task, size in (("bc2gm", "ner", 512), ("pubmed", "mlm", 256)):
        src = work / "prepared" / name
        inputs = sum(json.loads((src / "meta.json").read_text())["splits"].values())
        splits = ["train"] if task == "mlm" else list(tokenize.SPLITS)
        best = {}
        for run in ("before", 1, 2):
            times = []
            for k in range(3):
                out = work / "out" / f"{name}-{run}-{k}"
                t0 = time.perf_counter()
                if run == "before":
                    _legacy_stage(tok, src, out, task, size, batch_size)
                else:
                    p = {"tokenize": {**params["tokenize"], "num_proc": run}}
                    tokenize.run(p, work / "tok", src, out)
                times.append(time.perf_counter() - t0)
            best[run] = min(times)
        ref = work / "out" / f"{name}-before-0"
        for run in (1, 2):
            for s in splits:
                assert read_split(ref, s)[0].equals(read_split(work / "out" / f"{name}-{run}-0", s)[0]), (name, run, s)
        n = _tokens(ref, splits)
        print(f"{name:<8} {inputs:>8} {n:>10} | {n / best['before']:>13,.0f} | {n / best[1]:>16,.0f} "
              f"{best['before'] / best[1]:>5.2f} | {n / best[2]:>16,.0f} {best['before'] / best[2]:>5.2f}")
        shutil.rmtree(work / "out")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", nargs="?", type=Path, help="real data folder (see /work/shared/data/README.md)")
    ap.add_argument("--rows", type=int, nargs="+", default=[50_000, 200_000, 1_000_000])
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a new temporary one)")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--batch-size", type=int, default=250,
                    help="tokenize.batch_size for part 2 (small enough that the 725-document sample is several "
                         "batches, so two workers both get some)")
    ap.add_argument("--child", nargs=2, metavar=("MODE", "FOLDER"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return 0
    if not args.skip_throughput and (args.data is None or not (args.data / "biobert").is_dir()):
        print("give the real data folder (with biobert/ and pubmed/), or --skip-throughput", file=sys.stderr)
        return 2
    import datasets

    datasets.disable_progress_bars()
    work = Path(tempfile.mkdtemp(prefix="bench_data_memory-", dir=args.work))
    try:
        memory_part(sorted(args.rows), work)
        if not args.skip_throughput:
            throughput_part(args.data, work, args.batch_size)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
