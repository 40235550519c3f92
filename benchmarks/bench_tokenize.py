"""Tokenization throughput: the tokenize stage's batched path vs a one-sentence-at-a-time loop.

Both use the same tokenizer (a WordPiece trained here on the real PubMed
sample, no hub) on the real NCBI-disease and BC2GM training sets, and both
produce the same aligned rows (checked), so the ratio measures batching alone.

    COMPACTBIO_REAL_DATA=/work/shared/data python benchmarks/bench_tokenize.py
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from compactbio.data import prepare, tokenize, tokenizer


def loop_reference(tok, rows, label_ids, max_length):
    """The plain way: encode one sentence per call; same alignment code, same rows as the stage."""
    pre, post = tokenize.special_frame(tok)
    budget, unk = max_length - len(pre) - len(post), tokenize.unk_id(tok)
    out = []
    for r in rows:
        enc = tok.encode(r["tokens"], is_pretokenized=True, add_special_tokens=False)
        tags = [label_ids[t] for t in r["tags"]]
        out += tokenize.align_sentence(enc.ids, enc.word_ids, tags, len(r["tokens"]), pre, post, budget, unk)
    return out


def main() -> int:
    real = Path(os.environ.get("COMPACTBIO_REAL_DATA", "/work/shared/data"))
    if not real.is_dir():
        print(f"no real data at {real}", file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="bench_tokenize-"))
    params = {"datasets": {"pubmed": {"format": "corpus", "path": "."},
                           "ncbi-disease": {"format": "biobert_ner", "path": "datasets/NER/NCBI-disease"},
                           "bc2gm": {"format": "biobert_ner", "path": "datasets/NER/BC2GM"}},
              "pretrain": {"base": {"wp": {"hub": None, "tokenizer": {"lowercase": False, "vocab_size": 28996}}}},
              "tokenize": {"max_length": 256, "batch_size": 1000}}
    prepare.run(params, "pubmed", real / "pubmed", tmp / "pubmed")
    tokenizer.run(params, "wp", tmp / "pubmed", tmp / "tok")
    tok, _ = tokenize.load_tokenizer(tmp / "tok")
    print(f"tokenizer: WordPiece, {tok.get_vocab_size()} tokens, trained on {real / 'pubmed'}")
    print(f"{'dataset':<14}{'sentences':>10}{'tokens':>10}{'batched tok/s':>16}{'loop tok/s':>14}{'ratio':>8}")
    for name in ("ncbi-disease", "bc2gm"):
        prepare.run(params, name, real / "biobert", tmp / name)
        rows = [__import__("json").loads(x) for x in open(tmp / name / "train.jsonl")]
        labels = {"B": 0, "I": 1, "O": 2}
        best_b = best_l = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            cols = tokenize.ner_rows(tok, rows, labels, 256, 1000, name)
            best_b = min(best_b, time.perf_counter() - t0)
            t0 = time.perf_counter()
            ref = loop_reference(tok, rows, labels, 256)
            best_l = min(best_l, time.perf_counter() - t0)
        assert cols["input_ids"].to_pylist() == [r[0] for r in ref]  # same rows on both sides
        assert cols["labels"].to_pylist() == [r[1] for r in ref]
        n_tokens = sum(len(r[0]) for r in ref)
        print(f"{name:<14}{len(rows):>10}{n_tokens:>10}{n_tokens / best_b:>16,.0f}{n_tokens / best_l:>14,.0f}"
              f"{best_l / best_b:>8.2f}")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
