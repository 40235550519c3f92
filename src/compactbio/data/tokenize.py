"""The tokenize stage: a prepared dataset -> a ``datasets`` folder of token ids.

The output is what ``save_to_disk`` writes (a ``DatasetDict`` of the three
splits, or one ``Dataset`` for the MLM corpus) plus ``meta.json``; see
:mod:`compactbio.data.tokenized` and docs/architecture.md for the columns.
Tokenization runs as ``Dataset.map(batched=True)`` with ``tokenize.num_proc``
worker processes (0: every core the job may use), so a paper-scale corpus
tokenizes on all the cores of its job; the demo keeps 1 so its many small
jobs never start a process pool.  Each batch goes to the Rust tokenizer's
batched call and comes back as an Arrow table built from flat buffers;
Python only reshapes the results.  ``datasets`` is imported inside
:func:`run` only: the row functions below (also used by task distillation
and the benchmarks) need just ``tokenizers``, ``pyarrow`` and ``numpy``.

* NER: words are encoded as pre-tokenised input; every sub-word gets its
  word's label (the paper's alignment) and keeps its word index, so
  evaluation can go back to words.  A sentence longer than ``max_length``
  is cut at word boundaries into several rows; no word is dropped.  A word
  that normalises to nothing (a stray control character) becomes ``[UNK]``
  rather than vanishing, so word indices stay complete.
* RE: one row per example, truncated to ``max_length``.
* QA: (question, context) pairs cut into windows of ``qa_max_length`` with
  ``qa_stride`` tokens of overlap; offsets map tokens back to the context.
* MLM (``corpus_packing: false``, the authors' preprocessing.py): one
  ``[CLS] ... [SEP]`` row per document, truncated at ``corpus_max_length``;
  with ``corpus_packing: true`` documents are concatenated and packed into
  rows of exactly ``corpus_max_length`` (tokenized in parallel, packed in one
  sequential pass over the memory-mapped ids).  The corpus is read with
  ``datasets``' text builder into an on-disk cache, so it never sits in memory.

Rows are a pure function of each input row, so any batch size and any number
of worker processes give the same rows in the same order.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..io import atomic_dir, read_json, read_jsonl, write_json
from .errors import DataError

logger = logging.getLogger(__name__)
IGNORE = -100
SPLITS = ("train", "validation", "test")
I32 = pa.int32()
LIST32 = pa.list_(I32)
SCHEMAS = {
    "ner": pa.schema([("input_ids", LIST32), ("labels", LIST32), ("word_ids", LIST32), ("sentence", I32)]),
    "re": pa.schema([("input_ids", LIST32), ("label", I32)]),
    "qa": pa.schema([("input_ids", LIST32), ("token_type_ids", LIST32), ("example", I32), ("offset_start", LIST32),
                     ("offset_end", LIST32), ("start_position", I32), ("end_position", I32)]),
    "mlm": pa.schema([("input_ids", LIST32)]),
}


class BatchError(Exception):
    """A data problem met inside a map worker: ``(file, problem)``, re-raised as :class:`DataError`.

    ``DataError`` itself does not survive pickling back from a worker process
    (its constructor takes more than the message), this one does.
    """


# ------------------------------------------------------------------ helpers
def load_tokenizer(folder: Path):
    from tokenizers import Tokenizer

    path = Path(folder) / "tokenizer.json"
    if not path.is_file():
        raise DataError(path, "no tokenizer.json in the tokenizer folder")
    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.no_truncation()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return tok, digest


def special_frame(tok) -> tuple[list[int], list[int]]:
    """Ids the post-processor puts before and after a single sequence ([CLS] / [SEP] for BERT)."""
    enc = tok.encode("a", add_special_tokens=True)
    mask = enc.special_tokens_mask
    real = [i for i, m in enumerate(mask) if not m]
    return enc.ids[: real[0]], enc.ids[real[-1] + 1:]


def unk_id(tok) -> int:
    for name in ("[UNK]", "<unk>"):
        i = tok.token_to_id(name)
        if i is not None:
            return i
    raise ValueError("tokenizer has no unknown token ([UNK] or <unk>)")


def list_array(rows: list) -> pa.Array:
    """list<int32> from a list of int sequences via one flat buffer (much faster than pa.array)."""
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    offsets = np.zeros(len(rows) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.fromiter((x for r in rows for x in r), dtype=np.int32, count=int(offsets[-1]))
    return pa.ListArray.from_arrays(pa.array(offsets, I32), pa.array(flat, I32))


def _concat(parts: list[dict[str, pa.Array]], schema: pa.Schema) -> dict[str, pa.Array]:
    """Column-wise concatenation of per-batch columns (an empty split keeps its typed columns)."""
    if not parts:
        return {f.name: pa.array([], f.type) for f in schema}
    return {f.name: pa.concat_arrays([p[f.name] for p in parts]) for f in schema}


def _progress(total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="ex", leave=False, disable=None)


def _batches(n: int, size: int):
    for start in range(0, n, size):
        yield start, min(n, start + size)


# ------------------------------------------------------------------ NER
def chunk_words(word_lens: list[int], budget: int) -> list[tuple[int, int]]:
    """Greedy word-boundary cuts so each chunk holds at most ``budget`` sub-words."""
    chunks, start, used = [], 0, 0
    for i, n in enumerate(word_lens):
        if used + n > budget and i > start:
            chunks.append((start, i))
            start, used = i, 0
        used += n
    chunks.append((start, len(word_lens)))
    return chunks


def align_sentence(ids: list[int], wids: list, tags: list[int], n_words: int, pre: list[int], post: list[int],
                   budget: int, unk: int) -> list[tuple[list[int], list[int], list[int]]]:
    """(input_ids, labels, word_ids) rows for one encoded sentence; several if it is too long."""
    if len(ids) <= budget and len(set(wids)) == n_words:  # the common case: fits, every word has sub-words
        return [(pre + ids + post, [IGNORE] * len(pre) + [tags[w] for w in wids] + [IGNORE] * len(post),
                 [-1] * len(pre) + wids + [-1] * len(post))]
    per_word: list[list[int]] = [[] for _ in range(n_words)]
    for tid, w in zip(ids, wids):
        if w is not None:
            per_word[w].append(tid)
    for toks in per_word:
        if not toks:  # a word that normalised to nothing still needs a position
            toks.append(unk)
    rows = []
    for a, b in chunk_words([len(t) for t in per_word], budget):
        sub, lab, wid = list(pre), [IGNORE] * len(pre), [-1] * len(pre)
        for w in range(a, b):
            toks = per_word[w][:budget]
            sub += toks
            lab += [tags[w]] * len(toks)
            wid += [w] * len(toks)
        rows.append((sub + post, lab + [IGNORE] * len(post), wid + [-1] * len(post)))
    return rows


def check_ner_row(row, record: int, desc: str) -> None:
    """One prepared NER row: an object with a non-empty list of string ``tokens`` and one string tag per token.

    ``record`` counts from 1 over the file's rows (its line, as prepare writes one row a line).  Without
    this a sentence with fewer tags than tokens fails deep in the alignment with a bare IndexError, and
    one with more tags is tokenized silently with the extra tags dropped.
    """
    where = f"record {record}" + (f" (sentence {row.get('id')!r})" if isinstance(row, dict) and "id" in row else "")
    if not isinstance(row, dict):
        raise DataError(desc, f"{where}: expected a JSON object with 'tokens' and 'tags'")
    tokens, tags = row.get("tokens"), row.get("tags")
    if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) for t in tokens):
        raise DataError(desc, f"{where}: 'tokens' must be a non-empty list of strings")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise DataError(desc, f"{where}: 'tags' must be a list of strings")
    if len(tokens) != len(tags):
        raise DataError(desc, f"{where}: {len(tokens)} tokens but {len(tags)} tags (one tag per token); "
                              f"rerun prepare for this dataset")


def _tag_ids(row: dict, label_ids: dict[str, int], desc: str) -> list[int]:
    try:
        return [label_ids[t] for t in row["tags"]]
    except KeyError as exc:
        raise DataError(desc, f"sentence {row.get('id')}: tag {exc.args[0]!r} is not in meta.json labels") from None


def ner_frame(tok, max_length: int) -> tuple[list[int], list[int], int, int]:
    """``(pre, post, budget, unk)``: the special ids around a row, the sub-words between them, ``[UNK]``."""
    pre, post = special_frame(tok)
    return pre, post, max_length - len(pre) - len(post), unk_id(tok)


def ner_inputs(rows: list[dict], label_ids: dict[str, int], desc: str) -> dict[str, list]:
    """The checked words and tag ids of a prepared split (checked before any tokenizing)."""
    for i, row in enumerate(rows):
        check_ner_row(row, i + 1, desc)
    return {"tokens": [r["tokens"] for r in rows], "tags": [_tag_ids(r, label_ids, desc) for r in rows]}


def ner_columns(tok, tokens: list[list[str]], tags: list[list[int]], sentences, frame) -> dict[str, pa.Array]:
    """Aligned rows of one batch of sentences; ``sentences`` are their row numbers in the split."""
    pre, post, budget, unk = frame
    encs = tok.encode_batch(tokens, is_pretokenized=True, add_special_tokens=False)
    out_ids, out_labels, out_words, out_sent = [], [], [], []
    for words, tag, sent, enc in zip(tokens, tags, sentences, encs):
        for ids, labs, wids in align_sentence(enc.ids, enc.word_ids, tag, len(words), pre, post, budget, unk):
            out_ids.append(ids)
            out_labels.append(labs)
            out_words.append(wids)
            out_sent.append(sent)
    return {"input_ids": list_array(out_ids), "labels": list_array(out_labels),
            "word_ids": list_array(out_words), "sentence": pa.array(out_sent, I32)}


def ner_rows(tok, rows: list[dict], label_ids: dict[str, int], max_length: int, batch_size: int, desc: str):
    """A whole split in this process (task distillation's augmented sets, the benchmarks)."""
    frame = ner_frame(tok, max_length)
    inp = ner_inputs(rows, label_ids, desc)
    parts = []
    with _progress(len(rows), desc) as bar:
        for lo, hi in _batches(len(rows), batch_size):
            parts.append(ner_columns(tok, inp["tokens"][lo:hi], inp["tags"][lo:hi], range(lo, hi), frame))
            bar.update(hi - lo)
    return _concat(parts, SCHEMAS["ner"])


# ------------------------------------------------------------------ RE
def re_inputs(rows: list[dict], label_ids: dict[str, int], desc: str) -> dict[str, list]:
    try:
        labels = [label_ids[r["label"]] for r in rows]
    except KeyError as exc:
        raise DataError(desc, f"label {exc.args[0]!r} is not in meta.json labels") from None
    return {"text": [r["text"] for r in rows], "label": labels}


def re_columns(tok, texts: list[str], labels: list[int], max_length: int) -> dict[str, pa.Array]:
    tok.enable_truncation(max_length)
    try:
        ids = [e.ids for e in tok.encode_batch(texts)]
    finally:
        tok.no_truncation()
    return {"input_ids": list_array(ids), "label": pa.array(labels, I32)}


def re_rows(tok, rows: list[dict], label_ids: dict[str, int], max_length: int, batch_size: int, desc: str):
    inp = re_inputs(rows, label_ids, desc)
    parts = []
    with _progress(len(rows), desc) as bar:
        for lo, hi in _batches(len(rows), batch_size):
            parts.append(re_columns(tok, inp["text"][lo:hi], inp["label"][lo:hi], max_length))
            bar.update(hi - lo)
    return _concat(parts, SCHEMAS["re"])


# ------------------------------------------------------------------ QA
def answer_positions(seq_ids, offsets, start_char: int, end_char: int) -> tuple[int, int]:
    """Token span of [start_char, end_char) inside the window's context, or (0, 0)."""
    ctx = [i for i, s in enumerate(seq_ids) if s == 1]
    if not ctx or offsets[ctx[0]][0] > start_char or offsets[ctx[-1]][1] < end_char:
        return 0, 0
    s = next(i for i in ctx if offsets[i][1] > start_char)
    e = next(i for i in reversed(ctx) if offsets[i][0] < end_char)
    return s, e


def qa_inputs(rows: list[dict]) -> dict[str, list]:
    """Question, context and the first answer's character span (None: no answer, as in the test split)."""
    starts, ends = [], []
    for r in rows:
        answer = r["answers"][0] if r.get("answers") else None
        if answer:
            starts.append(answer["answer_start"])
            ends.append(answer["answer_start"] + len(answer["text"]))
        else:
            starts.append(None)
            ends.append(None)
    return {"question": [r["question"] for r in rows], "context": [r["context"] for r in rows],
            "answer_start": starts, "answer_end": ends}


def qa_columns(tok, batch: dict[str, list], examples, max_length: int, stride: int, desc: str) -> dict[str, pa.Array]:
    """Windows of one batch of examples; ``examples`` are their row numbers in the split."""
    examples = list(examples)
    tok.enable_truncation(max_length, stride=stride, strategy="only_second")
    cols = {f.name: [] for f in SCHEMAS["qa"]}
    try:
        try:
            encs = tok.encode_batch(list(zip(batch["question"], batch["context"])))
        except Exception as exc:  # the Rust error for a question longer than the window
            lo, hi = (examples[0], examples[-1] + 1) if examples else (0, 0)
            raise BatchError(desc, f"cannot window questions {lo}..{hi}: {exc}") from None
    finally:
        tok.no_truncation()
    for k, enc in enumerate(encs):
        start, end = batch["answer_start"][k], batch["answer_end"][k]
        for win in [enc] + enc.overflowing:
            seq = win.sequence_ids
            offs = win.offsets
            cols["input_ids"].append(win.ids)
            cols["token_type_ids"].append(win.type_ids)
            cols["example"].append(examples[k])
            cols["offset_start"].append([o[0] if s == 1 else -1 for o, s in zip(offs, seq)])
            cols["offset_end"].append([o[1] if s == 1 else -1 for o, s in zip(offs, seq)])
            sp, ep = answer_positions(seq, offs, start, end) if start is not None else (0, 0)
            cols["start_position"].append(sp)
            cols["end_position"].append(ep)
    return {f.name: (list_array(cols[f.name]) if pa.types.is_list(f.type) else pa.array(cols[f.name], I32))
            for f in SCHEMAS["qa"]}


def qa_rows(tok, rows: list[dict], max_length: int, stride: int, batch_size: int, desc: str):
    inp = qa_inputs(rows)
    parts = []
    with _progress(len(rows), desc) as bar:
        for lo, hi in _batches(len(rows), batch_size):
            try:
                parts.append(qa_columns(tok, {k: v[lo:hi] for k, v in inp.items()}, range(lo, hi),
                                        max_length, stride, desc))
            except BatchError as exc:
                raise DataError(*exc.args) from None
            bar.update(hi - lo)
    return _concat(parts, SCHEMAS["qa"])


# ------------------------------------------------------------------ MLM
def _frame(tok, max_length: int) -> tuple[list[int], list[int], int]:
    """``[CLS]`` / ``[SEP]`` ids and the room left between them in a row of ``max_length``."""
    pre, post = special_frame(tok)
    body = max_length - len(pre) - len(post)
    if body < 1:
        raise ValueError(f"corpus_max_length {max_length} leaves no room for tokens")
    return pre, post, body


def document_rows(tok, lines: list[str], max_length: int) -> list[list[int]]:
    """One ``[CLS] ... [SEP]`` row per non-blank line (document), truncated at ``max_length``.

    The authors' preprocessing.py: ``tokenizer(texts, truncation=True, max_length=256)``
    over one title + abstract text per citation, no packing.  A document with no token is dropped.
    """
    pre, post, body = _frame(tok, max_length)
    docs = [d for d in (line.strip() for line in lines) if d]
    if not docs:
        return []
    return [pre + e.ids[:body] + post for e in tok.encode_batch(docs, add_special_tokens=False) if e.ids]


class Packer:
    """Concatenates documents' ids and cuts ``[CLS] ... [SEP]`` rows; the short tail is dropped.

    Fed the documents in order, in batches of any size, it cuts the same rows
    as one pass over the whole corpus: the carry holds the unfinished row.
    """

    def __init__(self, tok, max_length: int):
        self.pre, self.post, self.body = _frame(tok, max_length)
        self.carry = np.zeros(0, np.int32)
        self.rows = 0

    def feed(self, flat: np.ndarray) -> np.ndarray:
        """The full rows (``n x max_length`` int32) completed by the next documents' concatenated ids."""
        flat = np.concatenate([self.carry, np.asarray(flat, np.int32)])
        n = len(flat) // self.body
        self.carry = flat[n * self.body:]
        self.rows += n
        blocks = flat[: n * self.body].reshape(n, self.body)
        return np.concatenate([np.tile(np.array(self.pre, np.int32), (n, 1)), blocks,
                               np.tile(np.array(self.post, np.int32), (n, 1))], axis=1)


def packed_array(packed: np.ndarray) -> pa.Array:
    """list<int32> rows of a 2-D id block, without a copy per row."""
    offsets = np.arange(0, packed.size + 1, packed.shape[1], dtype=np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets, I32), pa.array(packed.ravel(), I32))


def pack_rows(tok, lines: list[str], max_length: int) -> np.ndarray:
    """The packed rows of a list of documents, in this process (tests, small corpora)."""
    packer = Packer(tok, max_length)
    return packer.feed(np.concatenate([np.zeros(0, np.int32)] + [np.asarray(e.ids, np.int32) for e in
                                      tok.encode_batch(list(lines), add_special_tokens=False)]))


# ------------------------------------------------------------------ map functions
# Module-level (picklable) batch functions for ``Dataset.map(batched=True)``;
# each returns an Arrow table, which ``datasets`` writes without converting.
def _map_ner(batch, indices, tok, frame):
    return pa.table(ner_columns(tok, batch["tokens"], batch["tags"], indices, frame), schema=SCHEMAS["ner"])


def _map_re(batch, tok, max_length):
    return pa.table(re_columns(tok, batch["text"], batch["label"], max_length), schema=SCHEMAS["re"])


def _map_qa(batch, indices, tok, max_length, stride, desc):
    return pa.table(qa_columns(tok, batch, indices, max_length, stride, desc), schema=SCHEMAS["qa"])


def _map_documents(batch, tok, max_length):
    return pa.table({"input_ids": list_array(document_rows(tok, batch["text"], max_length))}, schema=SCHEMAS["mlm"])


def _map_document_ids(batch, tok):
    ids = [e.ids for e in tok.encode_batch(batch["text"], add_special_tokens=False)]
    return pa.table({"ids": list_array(ids)})


# ------------------------------------------------------------------ stage
def workers(tcfg: dict) -> int:
    """``tokenize.num_proc``: worker processes for ``Dataset.map``; 0 is every core this job may use."""
    n = tcfg.get("num_proc", 1)
    n = 1 if n is None else int(n)
    if n < 0:
        raise ValueError(f"tokenize.num_proc must be >= 0, got {n}")
    if n == 0:
        n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return n


def _procs(num_proc: int, rows: int, batch_size: int) -> int | None:
    """Processes worth starting for ``rows`` rows: at most one per batch; ``None`` (this process) for one."""
    n = min(num_proc, -(-rows // batch_size))
    return n if n > 1 else None


@contextlib.contextmanager
def _quiet_datasets():
    """``datasets``' progress bars follow the project's tqdm rule: shown on a terminal, not in a job log."""
    import datasets

    hidden = datasets.are_progress_bars_disabled()
    if not hidden and not sys.stderr.isatty():
        datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not hidden:
            datasets.enable_progress_bars()


def _fingerprint(*parts) -> str:
    """A deterministic ``datasets`` fingerprint: the same inputs save the same ``state.json``."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _map(ds, fn, schema: pa.Schema, *, num_proc: int, batch_size: int, fingerprint: str, desc: str,
         fn_kwargs: dict, with_indices: bool = False):
    """``ds.map(fn, batched=True)`` into ``schema``'s columns, on up to ``num_proc`` processes."""
    import datasets

    features = datasets.Features.from_arrow_schema(schema)
    if len(ds) == 0:  # map() would drop the features of an empty result
        return datasets.Dataset.from_dict({f.name: [] for f in schema}, features=features)
    try:
        return ds.map(fn, batched=True, batch_size=batch_size, with_indices=with_indices,
                      num_proc=_procs(num_proc, len(ds), batch_size), remove_columns=ds.column_names,
                      features=features, fn_kwargs=fn_kwargs, load_from_cache_file=False,
                      new_fingerprint=fingerprint, desc=desc)
    except BatchError as exc:
        raise DataError(*exc.args) from None


def _final(ds, description: str, fingerprint: str):
    """``ds``'s memory-mapped table under a clean info and a fixed fingerprint, so ``save_to_disk`` writes
    the same bytes for the same rows (nothing about input paths, worker count or split names)."""
    import datasets

    info = datasets.DatasetInfo(description=description, features=ds.features)
    return datasets.Dataset(ds.data, info=info, fingerprint=fingerprint)


def tokenize_corpus(tok, corpus: Path, max_length: int, packing: bool, batch_size: int, num_proc: int,
                    cache: Path, fingerprint: str):
    """The MLM corpus as one memory-mapped ``Dataset`` (its Arrow files live under ``cache``)."""
    import datasets

    if not corpus.is_file():
        raise DataError(corpus, "prepared corpus missing")
    if corpus.stat().st_size == 0:   # the text builder fails on an empty file with no useful message
        raise DataError(corpus, "corpus has no document with a token (the file is empty)")
    try:
        text = datasets.load_dataset("text", data_files=str(corpus), split="train", cache_dir=str(cache))
    except datasets.exceptions.DatasetGenerationError as exc:   # e.g. bytes that are not UTF-8
        raise DataError(corpus, f"cannot read the prepared corpus: {exc.__cause__ or exc}") from None
    common = dict(num_proc=num_proc, batch_size=batch_size, desc="tokenize corpus")
    if not packing:
        _frame(tok, max_length)  # a length too small fails here, not in a worker
        ds = _map(text, _map_documents, SCHEMAS["mlm"], fingerprint=fingerprint,
                  fn_kwargs={"tok": tok, "max_length": max_length}, **common)
        if len(ds) == 0:
            raise DataError(corpus, "corpus has no document with a token")
        return ds
    packer = Packer(tok, max_length)
    ids = _map(text, _map_document_ids, pa.schema([("ids", LIST32)]), fingerprint=fingerprint + "ids",
               fn_kwargs={"tok": tok}, **common)
    dest = cache / "packed.arrow"
    with pa.OSFile(str(dest), "wb") as sink, pa.ipc.new_stream(sink, SCHEMAS["mlm"]) as writer:
        for table in ids.with_format("arrow").iter(batch_size=batch_size):
            flat = table.column("ids").combine_chunks().flatten().to_numpy()
            block = packer.feed(flat)
            if len(block):
                writer.write_batch(pa.record_batch([packed_array(block)], schema=SCHEMAS["mlm"]))
    if packer.rows == 0:
        raise DataError(corpus, f"corpus too small: fewer than {packer.body} tokens, not one row of {max_length}")
    return datasets.Dataset.from_file(str(dest))


def tokenize_split(task: str, tok, rows: list[dict], label_ids: dict[str, int], max_length: int, stride: int,
                   batch_size: int, num_proc: int, fingerprint: str, desc: str):
    """One prepared fine-tuning split as a ``Dataset`` of aligned rows (checked before any tokenizing)."""
    import datasets

    if task == "ner":
        inp, fn, kw, idx = ner_inputs(rows, label_ids, desc), _map_ner, {"frame": ner_frame(tok, max_length)}, True
    elif task == "re":
        inp, fn, kw, idx = re_inputs(rows, label_ids, desc), _map_re, {"max_length": max_length}, False
    else:
        inp, fn, idx = qa_inputs(rows), _map_qa, True
        kw = {"max_length": max_length, "stride": stride, "desc": desc}
    # An in-memory table with a fingerprint given: from_dict would hash every row to make one up.
    ds = datasets.Dataset(datasets.table.InMemoryTable(pa.table(inp)), fingerprint=fingerprint + "in")
    return _map(ds, fn, SCHEMAS[task], num_proc=num_proc, batch_size=batch_size, fingerprint=fingerprint,
                desc=f"tokenize {Path(desc).name}", fn_kwargs={"tok": tok, **kw}, with_indices=idx)


def run(params: dict, tokenizer: Path, dataset: Path, out: Path) -> None:
    tcfg = params.get("tokenize", {})
    tok, digest = load_tokenizer(Path(tokenizer))
    dataset = Path(dataset)
    meta_path = dataset / "meta.json"
    if not meta_path.is_file():
        raise DataError(meta_path, "prepared dataset has no meta.json")
    meta = read_json(meta_path)
    task = meta["task"]
    if task not in SCHEMAS:
        raise DataError(meta_path, f"unknown task {task!r}")
    batch_size = int(tcfg.get("batch_size", 1000))
    num_proc = workers(tcfg)
    if task == "mlm":
        max_length = int(tcfg.get("corpus_max_length", 256))
    elif task == "qa":
        max_length = int(tcfg.get("qa_max_length", 384))
    else:
        max_length = int(tcfg.get("max_length", 256))
    stride = int(tcfg.get("qa_stride", 128))
    packing = bool(tcfg.get("corpus_packing", True))
    label_ids = {lab: i for i, lab in enumerate(meta.get("labels", []))}
    settings = [digest, task, max_length, stride if task == "qa" else None, packing if task == "mlm" else None]
    description = f"{meta.get('name')} tokenized by compactbio (see meta.json)"
    rows_per_split = {}
    from datasets import DatasetDict

    with atomic_dir(out) as tmp, _quiet_datasets():
        cache = tmp / ".cache"   # the corpus's text cache and map results; removed before the folder is final
        try:
            if task == "mlm":
                fp = _fingerprint(*settings, "train")
                ds = tokenize_corpus(tok, dataset / "corpus.txt", max_length, packing, batch_size, num_proc, cache, fp)
                _final(ds, description, fp).save_to_disk(str(tmp))
                rows_per_split["train"] = len(ds)
            else:
                splits = {}
                for split in SPLITS:
                    src = dataset / f"{split}.jsonl"
                    if not src.is_file():
                        raise DataError(src, "prepared split missing")
                    rows = read_jsonl(src)   # a truncated or hand-edited line is named by file and line
                    fp = _fingerprint(*settings, split)
                    ds = tokenize_split(task, tok, rows, label_ids, max_length, stride, batch_size, num_proc, fp,
                                        str(src))
                    splits[split] = _final(ds, description, fp)
                    rows_per_split[split] = len(splits[split])
                # An empty split (validation_fraction 0) still needs its one shard: datasets would write
                # none, and load_from_disk then fails on the folder.
                empty = {s: 1 for s, d in splits.items() if len(d) == 0}
                DatasetDict(splits).save_to_disk(str(tmp), num_shards=empty or None)
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        info = {"task": task, "labels": meta.get("labels", []), "max_length": max_length,
                "tokenizer_sha256": digest, "dataset": meta.get("name"), "rows": rows_per_split,
                "examples": {s: n for s, n in meta.get("splits", {}).items()}}
        if task == "qa":
            info["stride"] = stride
        if task == "mlm":
            info["packing"] = packing
        write_json(tmp / "meta.json", info)
    logger.info("tokenized %s (%s): rows %s", meta.get("name"), task, rows_per_split)
