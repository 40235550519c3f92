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


def table(folder, split="train"):
    """A split's rows as a user reads them: one ``load_from_disk`` call on the tokenized folder."""
    from datasets import load_from_disk

    ds = load_from_disk(str(folder))
    return (ds[split] if isinstance(ds, dict) else ds).to_list()


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
    out = table(tmp_path / "out")
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
    out = table(tmp_path / "out")
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
    out = table(tmp_path / "out")
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
    assert all(r["start_position"] == 0 for r in table(tmp_path / "out", "test"))


def test_mlm_packing_matches_naive_concatenation(tok_dir, tmp_path):
    tok = load(tok_dir)
    (tmp_path / "pm").mkdir()
    (tmp_path / "pm/corpus.txt").write_text("\n".join(DOCS[:10]) + "\n")
    (tmp_path / "pm/meta.json").write_text(json.dumps({"name": "pm", "task": "mlm", "labels": []}))
    tokenize.run(params(), tok_dir, tmp_path / "pm", tmp_path / "out")
    out = table(tmp_path / "out")
    flat = [i for d in DOCS[:10] for i in tok.encode(d, add_special_tokens=False).ids]
    n = len(flat) // 14
    assert len(out) == n
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    assert [r["input_ids"] for r in out] == [[cls] + flat[k * 14:(k + 1) * 14] + [sep] for k in range(n)]
    # one Dataset (not a DatasetDict) beside meta.json; no cache or temporary file left behind
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "data-00000-of-00001.arrow", "dataset_info.json", "meta.json", "state.json"]


def test_tokenize_imports_stay_light():
    code = ("import sys, compactbio.data.tokenize, compactbio.data.tokenized, compactbio.finetune.inputs; "
            "bad = [m for m in ('torch', 'transformers', 'datasets') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def _ner_splits():
    words = "Mutations in BRCA1 cause familial breast cancer in patients treated with methazole .".split(" ")
    tags = ["O", "O", "B", "O", "B", "I", "I", "O", "O", "O", "O", "B", "O"]
    train = [{"id": f"s{i}", "tokens": words[i % 5:], "tags": tags[i % 5:]} for i in range(23)]
    return {"train": train, "validation": [], "test": train[:4]}


def test_folder_opens_with_load_from_disk_and_matches_the_stage_reader(tok_dir, tmp_path):
    """A DatasetDict of the three splits (int32 columns, an empty split typed too), meta.json beside it;
    the stages' pyarrow reader sees exactly the tables load_from_disk maps."""
    from datasets import DatasetDict, load_from_disk

    from compactbio.data.tokenized import read_split, split_source
    from compactbio.finetune.inputs import read_rows

    ds = prepared(tmp_path / "ner", "ner", ["B", "I", "O"], _ner_splits())
    tokenize.run(params(max_length=12), tok_dir, ds, tmp_path / "out")
    user = load_from_disk(str(tmp_path / "out"))
    assert isinstance(user, DatasetDict) and list(user) == ["train", "validation", "test"]
    schema = user["train"].data.schema
    assert schema.field("input_ids").type == pa.list_(pa.int32()) and schema.field("sentence").type == pa.int32()
    assert len(user["validation"]) == 0 and user["validation"].column_names == user["train"].column_names
    meta = read_json(tmp_path / "out/meta.json")
    assert meta["rows"] == {s: len(user[s]) for s in user} and meta["rows"]["train"] > 23  # long ones split
    for split in user:
        table, where = read_split(tmp_path / "out", split)
        assert where == split_source(tmp_path / "out", split) == tmp_path / "out" / split
        assert table.equals(user[split].data.table)
        assert read_rows(tmp_path / "out", split)[0] == user[split].to_dict()
    assert sorted(r["sentence"] for r in user["train"]) == [r["sentence"] for r in user["train"]]


def _digests(folder):
    return {str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(folder.rglob("*")) if f.is_file()}


@pytest.mark.parametrize("task", ["ner", "qa", "mlm", "mlm-packed"])
def test_workers_and_batches_do_not_change_a_byte(tok_dir, tmp_path, task):
    """num_proc 2 with tiny batches writes the same files as num_proc 1 with one batch: rows are a pure
    function of each input row, in input order, and nothing about the run is recorded."""
    ctx = DOCS[0] + " " + DOCS[1]
    if task == "ner":
        ds = prepared(tmp_path / "in", "ner", ["B", "I", "O"], _ner_splits())
    elif task == "qa":
        rows = [{"id": f"q{i}_001", "question_id": f"q{i}", "question": "Which drug ?", "context": ctx[i:],
                 "answers": [{"text": "cisplatin", "answer_start": ctx.index("cisplatin") - i}]} for i in range(9)]
        ds = prepared(tmp_path / "in", "qa", [], {"train": rows, "test": [{**r, "answers": []} for r in rows]})
    else:
        ds = tmp_path / "in"
        ds.mkdir()
        (ds / "corpus.txt").write_text("\n".join(DOCS[:20]) + "\n\n")
        (ds / "meta.json").write_text(json.dumps({"name": "pm", "task": "mlm", "labels": []}))
    outs = []
    for num_proc, batch_size in ((1, 1000), (2, 2)):
        p = params(max_length=12)
        p["tokenize"].update(num_proc=num_proc, batch_size=batch_size, corpus_packing=task == "mlm-packed")
        tokenize.run(p, tok_dir, ds, tmp_path / f"out{num_proc}")
        outs.append(_digests(tmp_path / f"out{num_proc}"))
    assert outs[0] == outs[1]
    assert not [k for k in outs[0] if ".cache" in k or "tmp" in k]


def test_a_data_error_in_a_worker_names_the_file(tok_dir, tmp_path):
    """A question longer than the window fails inside a map worker; it still reaches the user as one
    DataError naming the prepared file, and no output is left."""
    long_q = " ".join(DOCS[:3])
    rows = [{"id": f"q{i}_001", "question_id": f"q{i}", "question": long_q if i == 5 else "Which ?",
             "context": DOCS[0], "answers": []} for i in range(8)]
    ds = prepared(tmp_path / "qa", "qa", [], {"train": rows})
    p = params()
    p["tokenize"].update(num_proc=2, batch_size=2)
    with pytest.raises(tokenize.DataError, match=r"qa/train\.jsonl: cannot window questions 4\.\.6"):
        tokenize.run(p, tok_dir, ds, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [x.name for x in tmp_path.iterdir()] == ["qa"]


def test_readers_need_no_datasets_import(tok_dir, tmp_path):
    """Fine-tuning and pre-training jobs read the folders with pyarrow: no 1-2 s `import datasets` (nor pandas)."""
    ds = prepared(tmp_path / "ner", "ner", ["B", "I", "O"], _ner_splits())
    tokenize.run(params(max_length=12), tok_dir, ds, tmp_path / "out")
    (tmp_path / "pm").mkdir()
    (tmp_path / "pm/corpus.txt").write_text("\n".join(DOCS[:10]) + "\n")
    (tmp_path / "pm/meta.json").write_text(json.dumps({"name": "pm", "task": "mlm", "labels": []}))
    tokenize.run(params(), tok_dir, tmp_path / "pm", tmp_path / "corpus")
    code = ("import sys; from compactbio.finetune.inputs import read_rows; "
            "from compactbio.pretrain.data import load_corpus; "
            "rows = read_rows(sys.argv[1], 'train')[0]; c = load_corpus(sys.argv[2], 10000); "
            "assert len(rows['input_ids']) > 23 and len(c) > 0 and c[0][0] == c[len(c) - 1][0]; "
            "assert not [m for m in ('datasets', 'pandas') if m in sys.modules]")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "out"), str(tmp_path / "corpus")], check=True)


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


@pytest.mark.parametrize("content, problem", [
    (b"", "the file is empty"), (b"\n \n", "corpus too small: fewer than 14 tokens"),
    (b"ok\n\xff bad\n", "cannot read the prepared corpus: 'utf-8'")])
def test_unusable_corpus_is_one_line_and_leaves_nothing(tok_dir, tmp_path, content, problem):
    (tmp_path / "pm").mkdir()
    (tmp_path / "pm/corpus.txt").write_bytes(content)
    (tmp_path / "pm/meta.json").write_text(json.dumps({"name": "pm", "task": "mlm", "labels": []}))
    with pytest.raises(tokenize.DataError, match=rf"pm/corpus\.txt: .*{problem}"):
        tokenize.run(params(), tok_dir, tmp_path / "pm", tmp_path / "out")
    assert sorted(x.name for x in tmp_path.iterdir()) == ["pm"]
