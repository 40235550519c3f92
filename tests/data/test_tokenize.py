"""Tokenization stage checked against naive one-word / one-text reference encodings."""

import hashlib
import json
import subprocess
import sys

import pyarrow as pa
import pytest

from compactbio.data import tokenize, tokenizer
from compactbio.io import read_json

DOCS = ["Mutations in BRCA1 cause familial breast cancer in patients .",
        "Patients were treated with methazole and cisplatin for cardiopathy .",
        "The TP53 gene encodes a tumour suppressor protein expressed in mice ."] * 30


def params(vocab=300, lowercase=False, max_length=12):
    return {"pretrain": {"base": {"m": {"hub": None, "revision": None,
                                        "tokenizer": {"lowercase": lowercase, "vocab_size": vocab}}}},
            "tokenize": {"max_length": max_length, "corpus_max_length": 16, "qa_max_length": 24, "qa_stride": 6,
                         "batch_size": 7}}


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("tok")
    (root / "corpus").mkdir()
    (root / "corpus/corpus.txt").write_text("\n".join(DOCS) + "\n")
    tokenizer.run(params(), "m", root / "corpus", root / "tok")
    return root / "tok"


def load(tok_dir):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(tok_dir / "tokenizer.json"))


def prepared(root, task, labels, splits, **meta):
    root.mkdir(parents=True)
    for s in ("train", "validation", "test"):
        (root / f"{s}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in splits.get(s, splits["train"])))
    (root / "meta.json").write_text(json.dumps({"name": "x", "task": task, "labels": labels, **meta}))
    return root


def table(path):
    return pa.ipc.open_file(str(path)).read_all().to_pylist()


def test_tokenizer_folder_loads_with_transformers(tok_dir, tmp_path):
    from transformers import AutoTokenizer

    t = AutoTokenizer.from_pretrained(tok_dir)
    assert t.is_fast and len(t) == load(tok_dir).get_vocab_size() <= 300 and t.cls_token == "[CLS]" and t.mask_token == "[MASK]"
    assert t.convert_ids_to_tokens(t("BRCA1 cause")["input_ids"])[0] == "[CLS]"
    # paper path with a local folder as `hub`: copied through AutoTokenizer / save_pretrained
    p = params()
    p["pretrain"]["base"]["m"]["hub"] = str(tok_dir)
    tokenizer.run(p, "m", tmp_path / "unused", tmp_path / "copy")
    assert AutoTokenizer.from_pretrained(tmp_path / "copy")("BRCA1")["input_ids"] == t("BRCA1")["input_ids"]


def test_lowercase_option(tok_dir, tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c/corpus.txt").write_text("\n".join(DOCS) + "\n")
    tokenizer.run(params(lowercase=True), "m", tmp_path / "c", tmp_path / "low")
    low = load(tmp_path / "low")
    assert low.encode("BRCA1").ids == low.encode("brca1").ids
    assert load(tok_dir).encode("BRCA1").ids != load(tok_dir).encode("brca1").ids


def test_ner_alignment_and_word_boundary_split(tok_dir, tmp_path):
    tok = load(tok_dir)
    words = "Mutations in BRCA1 cause familial breast cancer in patients treated with methazole \x07 .".split(" ")
    tags = ["O", "O", "B", "O", "B", "I", "I", "O", "O", "O", "O", "B", "O", "O"]
    rows = [{"id": "s0", "tokens": words, "tags": tags}, {"id": "s1", "tokens": ["TP53"], "tags": ["B"]}]
    ds = prepared(tmp_path / "ner", "ner", ["B", "I", "O"], {"train": rows})
    tokenize.run(params(max_length=12), tok_dir, ds, tmp_path / "out")
    out = table(tmp_path / "out/train.arrow")
    cls, sep, unk = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]"), tok.token_to_id("[UNK]")
    # Naive reference: encode each word alone; the control character normalises away -> [UNK].
    ref = {w: (tok.encode(w, add_special_tokens=False).ids or [unk]) for w in words}
    rows0 = [r for r in out if r["sentence"] == 0]
    assert len(rows0) > 1  # 12 tokens cannot hold the sentence: cut into several rows
    seen_words = []
    for r in rows0:
        assert len(r["input_ids"]) <= 12
        assert r["input_ids"][0] == cls and r["input_ids"][-1] == sep
        assert r["labels"][0] == r["labels"][-1] == -100 and r["word_ids"][0] == r["word_ids"][-1] == -1
        ws = r["word_ids"][1:-1]
        assert ws == sorted(ws)
        for w in dict.fromkeys(ws):
            pos = [i for i, x in enumerate(r["word_ids"]) if x == w]
            assert [r["input_ids"][i] for i in pos] == ref[words[w]]
            assert {r["labels"][i] for i in pos} == {["B", "I", "O"].index(tags[w])}
        seen_words += list(dict.fromkeys(ws))
    assert seen_words == list(range(len(words)))  # every word once, in order, none lost
    assert [r["sentence"] for r in out][-1] == 1
    meta = read_json(tmp_path / "out/meta.json")
    assert meta["tokenizer_sha256"] == hashlib.sha256((tok_dir / "tokenizer.json").read_bytes()).hexdigest()
    assert meta["labels"] == ["B", "I", "O"] and meta["max_length"] == 12


def test_re_rows(tok_dir, tmp_path):
    tok = load(tok_dir)
    rows = [{"id": str(i), "text": DOCS[i], "label": ["0", "1"][i % 2]} for i in range(3)]
    ds = prepared(tmp_path / "re", "re", ["0", "1"], {"train": rows})
    tokenize.run(params(max_length=10), tok_dir, ds, tmp_path / "out")
    out = table(tmp_path / "out/train.arrow")
    for r, src in zip(out, rows):
        full = tok.encode(src["text"]).ids
        assert r["input_ids"] == full[:9] + [full[-1]]  # truncated to 10 keeping [SEP]
        assert r["label"] == int(src["label"])


def test_qa_windows_recover_answers(tok_dir, tmp_path):
    ctx = DOCS[0] + " " + DOCS[1] + " " + DOCS[2]
    ans = "methazole"
    rows = [{"id": "a_001", "question_id": "a", "question": "Which drug ?", "context": ctx,
             "answers": [{"text": ans, "answer_start": ctx.index(ans)}]}]
    ds = prepared(tmp_path / "qa", "qa", [], {"train": rows, "test": [{**rows[0], "answers": []}]})
    tokenize.run(params(), tok_dir, ds, tmp_path / "out")
    out = table(tmp_path / "out/train.arrow")
    assert len(out) > 2 and all(len(r["input_ids"]) <= 24 and r["example"] == 0 for r in out)
    hits = [r for r in out if r["start_position"] > 0]
    assert hits
    for r in hits:
        s, e = r["start_position"], r["end_position"]
        assert ctx[r["offset_start"][s]:r["offset_end"][e]] == ans
    # windows overlap by the stride and cover the whole context
    covered = set()
    for r in out:
        for a, b in zip(r["offset_start"], r["offset_end"]):
            if a >= 0:
                covered.update(range(a, b))
    assert all(i in covered for i, ch in enumerate(ctx) if not ch.isspace())
    assert all(r["start_position"] == 0 for r in table(tmp_path / "out/test.arrow"))


def test_mlm_packing_matches_naive_concatenation(tok_dir, tmp_path):
    tok = load(tok_dir)
    (tmp_path / "pm").mkdir()
    (tmp_path / "pm/corpus.txt").write_text("\n".join(DOCS[:10]) + "\n")
    (tmp_path / "pm/meta.json").write_text(json.dumps({"name": "pm", "task": "mlm", "labels": []}))
    tokenize.run(params(), tok_dir, tmp_path / "pm", tmp_path / "out")
    out = table(tmp_path / "out/train.arrow")
    flat = [i for d in DOCS[:10] for i in tok.encode(d, add_special_tokens=False).ids]
    n = len(flat) // 14
    assert len(out) == n
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    assert [r["input_ids"] for r in out] == [[cls] + flat[k * 14:(k + 1) * 14] + [sep] for k in range(n)]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["meta.json", "train.arrow"]


def test_tokenize_imports_stay_light():
    code = ("import sys, compactbio.data.tokenize; "
            "bad = [m for m in ('torch', 'transformers') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_wordpiece_training_is_deterministic(tmp_path):
    """Separate processes (different hash seeds) must train byte-identical tokenizers."""
    (tmp_path / "c").mkdir()
    text = "\n".join(f"{d} variant{i} Xq{i % 7}z compound{i * 3}ol" for i, d in enumerate(DOCS)) + "\n"
    (tmp_path / "c/corpus.txt").write_text(text)
    code = ("import sys; from pathlib import Path; from compactbio.data.tokenizer import train_wordpiece; "
            "print(__import__('hashlib').sha256(train_wordpiece(Path(sys.argv[1]), 400, False).to_str().encode())"
            ".hexdigest())")
    outs = {subprocess.run([sys.executable, "-c", code, str(tmp_path / "c/corpus.txt")], check=True,
                           capture_output=True, text=True).stdout for _ in range(3)}
    assert len(outs) == 1
    tok = tokenizer.train_wordpiece(tmp_path / "c/corpus.txt", 400, False)
    assert tok.encode("##a").tokens[1:-1] != ["##a"]  # the pinned ##-tokens are not special: not matched literally
