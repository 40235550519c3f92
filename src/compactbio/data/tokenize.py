"""The tokenize stage: a prepared dataset -> Arrow IPC files of token ids.

Runs once per (model, dataset) pair, more than a hundred times in a demo, so
it imports only ``tokenizers``, ``pyarrow`` and ``numpy`` (no torch, no
transformers) and leaves the per-text work to the Rust tokenizer's batched
calls; Python only reshapes the results.

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
  rows of exactly ``corpus_max_length``.  Both stream in record batches so a
  large corpus never sits in memory.

See docs/architecture.md for the columns.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..io import atomic_dir, read_json, read_jsonl, write_json
from .errors import DataError

logger = logging.getLogger(__name__)
IGNORE = -100
SPLITS = ("train", "validation", "test")
I32 = pa.int32()


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


def write_table(path: Path, columns: dict[str, pa.Array]) -> int:
    table = pa.table(columns)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return table.num_rows


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


def ner_rows(tok, rows: list[dict], label_ids: dict[str, int], max_length: int, batch_size: int, desc: str):
    pre, post = special_frame(tok)
    budget = max_length - len(pre) - len(post)
    unk = unk_id(tok)
    out_ids, out_labels, out_words, out_sent = [], [], [], []
    for i, row in enumerate(rows):
        check_ner_row(row, i + 1, desc)
    with _progress(len(rows), desc) as bar:
        for lo, hi in _batches(len(rows), batch_size):
            encs = tok.encode_batch([r["tokens"] for r in rows[lo:hi]], is_pretokenized=True, add_special_tokens=False)
            for k, enc in enumerate(encs):
                row = rows[lo + k]
                for ids, labs, wids in align_sentence(enc.ids, enc.word_ids, _tag_ids(row, label_ids, desc),
                                                      len(row["tokens"]), pre, post, budget, unk):
                    out_ids.append(ids)
                    out_labels.append(labs)
                    out_words.append(wids)
                    out_sent.append(lo + k)
            bar.update(hi - lo)
    return {"input_ids": list_array(out_ids), "labels": list_array(out_labels),
            "word_ids": list_array(out_words), "sentence": pa.array(out_sent, I32)}


# ------------------------------------------------------------------ RE
def re_rows(tok, rows: list[dict], label_ids: dict[str, int], max_length: int, batch_size: int, desc: str):
    tok.enable_truncation(max_length)
    ids = []
    try:
        labels = [label_ids[r["label"]] for r in rows]
    except KeyError as exc:
        raise DataError(desc, f"label {exc.args[0]!r} is not in meta.json labels") from None
    with _progress(len(rows), desc) as bar:
        for lo, hi in _batches(len(rows), batch_size):
            ids += [e.ids for e in tok.encode_batch([r["text"] for r in rows[lo:hi]])]
            bar.update(hi - lo)
    tok.no_truncation()
    return {"input_ids": list_array(ids), "label": pa.array(labels, I32)}


# ------------------------------------------------------------------ QA
def answer_positions(seq_ids, offsets, start_char: int, end_char: int) -> tuple[int, int]:
    """Token span of [start_char, end_char) inside the window's context, or (0, 0)."""
    ctx = [i for i, s in enumerate(seq_ids) if s == 1]
    if not ctx or offsets[ctx[0]][0] > start_char or offsets[ctx[-1]][1] < end_char:
        return 0, 0
    s = next(i for i in ctx if offsets[i][1] > start_char)
    e = next(i for i in reversed(ctx) if offsets[i][0] < end_char)
    return s, e


def qa_rows(tok, rows: list[dict], max_length: int, stride: int, batch_size: int, desc: str):
    tok.enable_truncation(max_length, stride=stride, strategy="only_second")
    cols = {k: [] for k in ("input_ids", "token_type_ids", "example", "offset_start", "offset_end",
                            "start_position", "end_position")}
    with _progress(len(rows), desc) as bar:
        for lo, hi in _batches(len(rows), batch_size):
            batch = rows[lo:hi]
            try:
                encs = tok.encode_batch([(r["question"], r["context"]) for r in batch])
            except Exception as exc:  # the Rust error for a question longer than the window
                raise DataError(desc, f"cannot window questions {lo}..{hi}: {exc}") from None
            for k, enc in enumerate(encs):
                r = batch[k]
                answer = r["answers"][0] if r.get("answers") else None
                for win in [enc] + enc.overflowing:
                    seq = win.sequence_ids
                    offs = win.offsets
                    cols["input_ids"].append(win.ids)
                    cols["token_type_ids"].append(win.type_ids)
                    cols["example"].append(lo + k)
                    cols["offset_start"].append([o[0] if s == 1 else -1 for o, s in zip(offs, seq)])
                    cols["offset_end"].append([o[1] if s == 1 else -1 for o, s in zip(offs, seq)])
                    if answer:
                        start = answer["answer_start"]
                        sp, ep = answer_positions(seq, offs, start, start + len(answer["text"]))
                    else:
                        sp = ep = 0
                    cols["start_position"].append(sp)
                    cols["end_position"].append(ep)
            bar.update(hi - lo)
    tok.no_truncation()
    out = {k: list_array(cols[k]) for k in ("input_ids", "token_type_ids", "offset_start", "offset_end")}
    out.update({k: pa.array(cols[k], I32) for k in ("example", "start_position", "end_position")})
    return {k: out[k] for k in cols}


# ------------------------------------------------------------------ MLM
def _frame(tok, max_length: int) -> tuple[list[int], list[int], int]:
    """``[CLS]`` / ``[SEP]`` ids and the room left between them in a row of ``max_length``."""
    pre, post = special_frame(tok)
    body = max_length - len(pre) - len(post)
    if body < 1:
        raise ValueError(f"corpus_max_length {max_length} leaves no room for tokens")
    return pre, post, body


def _line_batches(corpus: Path, batch_size: int):
    """The corpus's lines, ``batch_size`` at a time, with a progress bar: the corpus is never read whole."""
    total = sum(1 for _ in open(corpus, encoding="utf-8"))
    with open(corpus, encoding="utf-8") as f, _progress(total, "corpus") as bar:
        while True:
            lines = [ln for ln in (f.readline() for _ in range(batch_size)) if ln]
            if not lines:
                return
            yield lines
            bar.update(len(lines))


def document_rows(tok, corpus: Path, dest: Path, max_length: int, batch_size: int) -> int:
    """One ``[CLS] ... [SEP]`` row per non-blank line (document), truncated at ``max_length``.

    The authors' preprocessing.py: ``tokenizer(texts, truncation=True, max_length=256)``
    over one title + abstract text per citation, no packing.
    """
    pre, post, body = _frame(tok, max_length)
    schema = pa.schema([("input_ids", pa.list_(I32))])
    rows = 0
    with pa.OSFile(str(dest), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        for lines in _line_batches(corpus, batch_size):
            docs = [d.strip() for d in lines]
            docs = [d for d in docs if d]
            if docs:
                encs = tok.encode_batch(docs, add_special_tokens=False)
                out = [pre + e.ids[:body] + post for e in encs if e.ids]
                if out:
                    writer.write_batch(pa.record_batch([list_array(out)], schema=schema))
                    rows += len(out)
    if rows == 0:
        raise DataError(corpus, "corpus has no document with a token")
    return rows


def pack_corpus(tok, corpus: Path, dest: Path, max_length: int, batch_size: int) -> int:
    """Concatenate documents and cut ``[CLS] ... [SEP]`` rows; the short tail is dropped."""
    pre, post, body = _frame(tok, max_length)
    schema = pa.schema([("input_ids", pa.list_(I32))])
    frame_pre, frame_post = np.array(pre, np.int32), np.array(post, np.int32)
    carry = np.zeros(0, np.int32)
    rows = 0
    with pa.OSFile(str(dest), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        for docs in _line_batches(corpus, batch_size):
            encs = tok.encode_batch([d.rstrip("\n") for d in docs], add_special_tokens=False)
            flat = np.concatenate([carry] + [np.asarray(e.ids, np.int32) for e in encs])
            n = len(flat) // body
            carry = flat[n * body:]
            if n:
                blocks = flat[: n * body].reshape(n, body)
                packed = np.concatenate([np.tile(frame_pre, (n, 1)), blocks, np.tile(frame_post, (n, 1))], axis=1)
                offsets = np.arange(0, packed.size + 1, max_length, dtype=np.int32)
                arr = pa.ListArray.from_arrays(pa.array(offsets, I32), pa.array(packed.ravel(), I32))
                writer.write_batch(pa.record_batch([arr], schema=schema))
                rows += n
    if rows == 0:
        raise DataError(corpus, f"corpus too small: fewer than {body} tokens, not one row of {max_length}")
    return rows


# ------------------------------------------------------------------ stage
def run(params: dict, tokenizer: Path, dataset: Path, out: Path) -> None:
    tcfg = params.get("tokenize", {})
    tok, digest = load_tokenizer(Path(tokenizer))
    dataset = Path(dataset)
    meta_path = dataset / "meta.json"
    if not meta_path.is_file():
        raise DataError(meta_path, "prepared dataset has no meta.json")
    meta = read_json(meta_path)
    task = meta["task"]
    batch_size = int(tcfg.get("batch_size", 1000))
    if task == "mlm":
        max_length = int(tcfg.get("corpus_max_length", 256))
    elif task == "qa":
        max_length = int(tcfg.get("qa_max_length", 384))
    else:
        max_length = int(tcfg.get("max_length", 256))
    label_ids = {lab: i for i, lab in enumerate(meta.get("labels", []))}
    rows_per_split = {}
    with atomic_dir(out) as tmp:
        if task == "mlm":
            packing = bool(tcfg.get("corpus_packing", True))
            rows_fn = pack_corpus if packing else document_rows
            rows_per_split["train"] = rows_fn(tok, dataset / "corpus.txt", tmp / "train.arrow", max_length, batch_size)
        else:
            for split in SPLITS:
                src = dataset / f"{split}.jsonl"
                if not src.is_file():
                    raise DataError(src, "prepared split missing")
                rows = read_jsonl(src)   # a truncated or hand-edited line is named by file and line
                desc = str(src)
                if task == "ner":
                    cols = ner_rows(tok, rows, label_ids, max_length, batch_size, desc)
                elif task == "re":
                    cols = re_rows(tok, rows, label_ids, max_length, batch_size, desc)
                elif task == "qa":
                    cols = qa_rows(tok, rows, max_length, int(tcfg.get("qa_stride", 128)), batch_size, desc)
                else:
                    raise DataError(meta_path, f"unknown task {task!r}")
                rows_per_split[split] = write_table(tmp / f"{split}.arrow", cols)
        info = {"task": task, "labels": meta.get("labels", []), "max_length": max_length,
                "tokenizer_sha256": digest, "dataset": meta.get("name"), "rows": rows_per_split,
                "examples": {s: n for s, n in meta.get("splits", {}).items()}}
        if task == "qa":
            info["stride"] = int(tcfg.get("qa_stride", 128))
        if task == "mlm":
            info["packing"] = packing
        write_json(tmp / "meta.json", info)
    logger.info("tokenized %s (%s): rows %s", meta.get("name"), task, rows_per_split)
