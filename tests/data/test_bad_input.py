"""A corpus of malformed inputs: each must fail with file, line and problem, leaving no output."""

import json

import pytest

from compactbio.data import prepare

GOOD_NER = "a\tO\nb\tB\n"


def ner(train):
    return {"train.tsv": train, "devel.tsv": GOOD_NER, "test.tsv": GOOD_NER, "labels.txt": "B\nI\nO\n"}


def chemprot(train):
    good = json.dumps({"text": "x", "label": "INHIBITOR", "metadata": []}) + "\n"
    return {"train.txt": train, "dev.txt": good, "test.txt": good}


def bioasq(golden_ids):
    qid = "0123456789abcdef01234567"
    entry = lambda ans, ids=(qid,): {"data": [{"paragraphs": [{"context": "ctx ANS", "qas": [
        {"id": f"{i}_001", "question": "q?", "answers": ans}]} for i in ids]}]}
    golden = {"questions": [{"id": g, "type": "factoid", "body": "q?", "exact_answer": [["ANS"]]} for g in golden_ids]}
    return {"BioASQ-train-factoid-7b.json": json.dumps(entry([{"text": "ANS", "answer_start": 4}], (qid, "f" * 23 + "0"))),
            "BioASQ-test-factoid-7b.json": json.dumps(entry([])),
            "7B_golden.json": json.dumps(golden)}


GAD_TEST = "index\tsentence\tlabel\n0\ts @GENE$ @DISEASE$.\t1\n"
QID = "0123456789abcdef01234567"
TRAIN = "BioASQ-train-factoid-7b.json"


def bioasq_train(train):
    """The good BioASQ folder with its training file replaced (a JSON value, or raw text/bytes)."""
    return {**bioasq([QID]), TRAIN: train if isinstance(train, (str, bytes)) else json.dumps(train)}


def qa_entry(answers, qid=f"{QID}_001", context="ctx ANS"):
    return {"context": context, "qas": [{"id": qid, "question": "q?", "answers": answers}]}


def squad(*paragraphs):
    return {"data": [{"paragraphs": list(paragraphs)}]}

# (case id, format, dataset extra params, files, expected file, expected line, expected problem)
CASES = [
    ("ner-columns", "biobert_ner", {}, ner("a\tO\nb\tB\tX\n"), "train.tsv", 2, "wrong column count"),
    ("ner-one-column", "biobert_ner", {}, ner("a\tO\n\nlonely\n"), "train.tsv", 3, "wrong column count"),
    ("ner-label", "biobert_ner", {}, ner("a\tO\nb\tB-Gene\n"), "train.tsv", 2, "outside the label set"),
    ("ner-empty-split", "biobert_ner", {}, ner("\n\n  \n"), "train.tsv", None, "empty split"),
    ("ner-utf8", "biobert_ner", {}, ner(b"a\tO\n\nb\xff\tB\n"), "train.tsv", 3, "not valid UTF-8"),
    ("gad-columns", "gad", {"split": {"mode": "pooled", "fold": 1}},
     {"1/train.tsv": "ok @GENE$ @DISEASE$.\t1\nbroken row without label\n", "1/test.tsv": GAD_TEST},
     "1/train.tsv", 2, "wrong column count"),
    ("gad-label", "gad", {"split": {"mode": "kfold", "fold": 1}},
     {"1/train.tsv": "ok.\t1\nok.\t2\n", "1/test.tsv": GAD_TEST}, "1/train.tsv", 2, "outside the label set"),
    ("gad-empty", "gad", {"split": {"mode": "kfold", "fold": 1}},
     {"1/train.tsv": "ok.\t1\n", "1/test.tsv": "index\tsentence\tlabel\n"}, "1/test.tsv", None, "empty split"),
    ("chemprot-truncated", "chemprot", {}, chemprot('{"text": "x", "label": "INHIBITOR"}\n{"text": "y", "lab'),
     "train.txt", 2, "invalid or truncated JSON"),
    ("chemprot-label", "chemprot", {"labels": ["INHIBITOR", "SUBSTRATE"]},
     chemprot('{"text": "x", "label": "INHIBITOR"}\n\n{"text": "y", "label": "NOPE"}\n'), "train.txt", 3,
     "outside the label set"),
    ("chemprot-utf8", "chemprot", {}, chemprot(b'{"text": "caf\xe9", "label": "INHIBITOR"}\n'), "train.txt", 1,
     "not valid UTF-8"),
    ("bioasq-golden-missing", "bioasq", {}, bioasq(["ffffffffffffffffffffffff"]), "7B_golden.json", None,
     "missing 1 test question"),
    ("bioasq-truncated", "bioasq", {}, {**bioasq(["0123456789abcdef01234567"]),
                                        "BioASQ-train-factoid-7b.json": '{"data": [\n{"paragraphs": '},
     "BioASQ-train-factoid-7b.json", 2, "invalid or truncated JSON"),
    # BioASQ entries that are not objects: named by their position in the file, not an AttributeError
    ("bioasq-data-not-objects", "bioasq", {}, bioasq_train({"data": [1, 2]}), TRAIN, None,
     "data[0]: expected a JSON object, got int 1"),
    ("bioasq-paragraph-string", "bioasq", {}, bioasq_train({"data": [{"paragraphs": ["a string"]}]}), TRAIN, None,
     "data[0].paragraphs[0]: expected a JSON object, got str"),
    ("bioasq-paragraphs-not-list", "bioasq", {}, bioasq_train({"data": [{"paragraphs": {"context": "c"}}]}), TRAIN,
     None, "data[0]: expected a list 'paragraphs'"),
    ("bioasq-qas-not-dicts", "bioasq", {}, bioasq_train(squad({"context": "ctx ANS", "qas": ["x"]})), TRAIN, None,
     "data[0].paragraphs[0].qas[0]: expected a JSON object, got str"),
    ("bioasq-answer-not-dict", "bioasq", {}, bioasq_train(squad(qa_entry(["ANS"]))), TRAIN, None,
     "data[0].paragraphs[0].qas[0].answers[0]: expected a JSON object"),
    ("bioasq-golden-not-dicts", "bioasq", {}, {**bioasq([QID]), "7B_golden.json": json.dumps({"questions": ["x"]})},
     "7B_golden.json", None, "questions[0]: expected a JSON object"),
    # BioASQ answers that are not where they say: each names the file, the position and the question id
    ("bioasq-negative-start", "bioasq", {}, bioasq_train(squad(qa_entry([{"text": "tx", "answer_start": -6}]))),
     TRAIN, None, f"(question {QID}_001): answer_start -6 is outside its context"),
    ("bioasq-start-minus-one", "bioasq", {}, bioasq_train(squad(qa_entry([{"text": "S", "answer_start": -1}]))),
     TRAIN, None, f"(question {QID}_001): answer_start -1 is outside its context"),
    ("bioasq-start-past-end", "bioasq", {}, bioasq_train(squad(qa_entry([{"text": "ANS", "answer_start": 5}]))),
     TRAIN, None, "answer_start 5 is outside its context (answer of 3 characters, context of 7)"),
    ("bioasq-start-bool", "bioasq", {}, bioasq_train(squad(qa_entry([{"text": "tx", "answer_start": True}]))),
     TRAIN, None, "int 'answer_start'"),
    ("bioasq-empty-answer", "bioasq", {}, bioasq_train(squad(qa_entry([{"text": "", "answer_start": 0}]))),
     TRAIN, None, f"(question {QID}_001): empty answer text"),
    ("bioasq-answer-elsewhere", "bioasq", {}, bioasq_train(squad(qa_entry([{"text": "ANS", "answer_start": 3}]))),
     TRAIN, None, "data[0].paragraphs[0].qas[0].answers[0] (question 0123456789abcdef01234567_001): answer 'ANS' "
                  "is not at answer_start 3"),
    # the same <question>_<snippet> id twice: both positions named
    ("bioasq-duplicate-id", "bioasq", {},
     bioasq_train(squad(qa_entry([{"text": "ANS", "answer_start": 4}]), qa_entry([{"text": "ctx", "answer_start": 0}]),
                        qa_entry([{"text": "ANS", "answer_start": 4}], qid="f" * 23 + "0_001"))), TRAIN, None,
     f"duplicate id {QID}_001: at data[0].paragraphs[0].qas[0] and again at data[0].paragraphs[1].qas[0]"),
    # NUL bytes: every text reader goes through read_text, which names the file and line
    ("ner-nul", "biobert_ner", {}, ner(b"a\tO\n\nb\x00c\tB\n"), "train.tsv", 3, "NUL byte"),
    ("ner-labels-nul", "biobert_ner", {}, {**ner(GOOD_NER), "labels.txt": b"B\nI\x00\nO\n"}, "labels.txt", 2,
     "NUL byte"),
    ("gad-nul", "gad", {"split": {"mode": "kfold", "fold": 1}},
     {"1/train.tsv": b"ok.\t1\nok.\t0\nfine.\t1\n", "1/test.tsv": GAD_TEST.encode() + b"1\tpad\x00\x00\t0\n"},
     "1/test.tsv", 3, "NUL byte"),
    ("chemprot-nul", "chemprot", {}, chemprot(b'{"text": "x", "label": "INHIBITOR"}\n\x00\x00\x00\x00'), "train.txt",
     2, "NUL byte"),
    ("bioasq-nul", "bioasq", {}, bioasq_train(b'{"data": [\n\x00]}'), TRAIN, 2, "NUL byte"),
    ("corpus-nul", "corpus", {}, {"a.txt": b"first doc\nsecond\x00doc\n"}, "a.txt", 2, "NUL byte"),
    ("corpus-jsonl-nul", "corpus", {}, {"a.jsonl": b'{"text": "fine"}\n{"text": "x\x00"}\n'}, "a.jsonl", 2,
     "NUL byte"),
    ("corpus-empty", "corpus", {}, {"a.txt": "\n\n"}, "", None, "empty corpus"),
    ("corpus-jsonl", "corpus", {}, {"a.jsonl": '{"text": "fine"}\n{"text": \n'}, "a.jsonl", 2,
     "invalid or truncated JSON"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, case):
    _, fmt, extra, files, bad_file, line, problem = case
    raw = tmp_path / "raw" / "ds"
    for name, content in files.items():
        p = raw / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
    params = {"datasets": {"d": {"format": fmt, "path": "ds", **extra}}}
    out = tmp_path / "out" / "d"
    with pytest.raises(ValueError) as err:
        prepare.run(params, "d", tmp_path / "raw", out)
    msg = str(err.value)
    where = str(raw / bad_file).rstrip("/") + (f":{line}:" if line else "")
    assert where in msg, msg
    assert problem in msg, msg
    assert not out.exists()
    assert not out.parent.exists() or list(out.parent.iterdir()) == []  # no temp folder either


def test_bad_format_name(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset format 'xml_ner'"):
        prepare.run({"datasets": {"d": {"format": "xml_ner", "path": "."}}}, "d", tmp_path, tmp_path / "o")


# ------------------------------------------------------------------ a UTF-8 byte-order mark is not data
BOM = b"\xef\xbb\xbf"


def _prepare(tmp_path, fmt, files, extra=None):
    raw = tmp_path / "raw" / "ds"
    for name, content in files.items():
        p = raw / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
    out = tmp_path / "out" / "d"
    prepare.run({"datasets": {"d": {"format": fmt, "path": "ds", **(extra or {})}}}, "d", tmp_path / "raw", out)
    return out


def _rows(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_bom_is_not_part_of_the_first_ner_token(tmp_path):
    files = {**ner(BOM + GOOD_NER.encode()), "labels.txt": BOM + b"B\nI\nO\n"}
    out = _prepare(tmp_path, "biobert_ner", files)
    assert _rows(out / "train.jsonl")[0]["tokens"] == ["a", "b"]
    assert json.loads((out / "meta.json").read_text())["labels"] == ["B", "I", "O"]


def test_bom_before_a_gad_header_still_reads_it_as_a_header(tmp_path):
    files = {"1/train.tsv": BOM + b"ok @GENE$.\t1\nno @GENE$.\t0\n", "1/test.tsv": BOM + GAD_TEST.encode()}
    out = _prepare(tmp_path, "gad", files, {"split": {"mode": "kfold", "fold": 1, "validation_fraction": 0}})
    assert [r["text"] for r in _rows(out / "train.jsonl")] == ["ok @GENE$.", "no @GENE$."]
    assert [r["text"] for r in _rows(out / "test.jsonl")] == ["s @GENE$ @DISEASE$."]


def test_bom_in_json_inputs(tmp_path):
    good = json.dumps({"text": "x", "label": "INHIBITOR"}).encode() + b"\n"
    out = _prepare(tmp_path / "cp", "chemprot", {"train.txt": BOM + good, "dev.txt": good, "test.txt": good})
    assert _rows(out / "train.jsonl")[0]["text"] == "x"
    files = {k: BOM + v.encode() for k, v in bioasq([QID]).items()}
    out = _prepare(tmp_path / "qa", "bioasq", files, {"split": {"validation_fraction": 0}})
    assert _rows(out / "train.jsonl")[0]["answers"] == [{"text": "ANS", "answer_start": 4}]


def test_bom_in_a_corpus(tmp_path):
    files = {"a.txt": BOM + b"first doc\nsecond doc\n", "b.jsonl": BOM + b'{"text": "third"}\n'}
    out = _prepare(tmp_path, "corpus", files)
    assert (out / "corpus.txt").read_text(encoding="utf-8").splitlines() == ["first doc", "second doc", "third"]


# ------------------------------------------------------------------ NER rows: one tag per token
def test_prepare_checks_one_tag_per_token(tmp_path):
    from compactbio.data.readers import Prepared

    bad = Prepared(task="ner", labels=["B", "I", "O"],
                   splits={"train": [{"id": "train-0", "tokens": ["a"], "tags": ["O"]},
                                     {"id": "train-1", "tokens": ["a", "b"], "tags": ["O"]}]})
    with pytest.raises(ValueError, match=r"ds: train sentence 2 \('train-1'\): 2 tokens but 1 tags"):
        prepare.check_ner(bad, tmp_path / "ds")


@pytest.mark.parametrize("row, problem", [
    ({"id": "s1", "tokens": ["a", "b", "a"], "tags": ["O"]}, "record 2 (sentence 's1'): 3 tokens but 1 tags"),
    ({"id": "s1", "tokens": ["a"], "tags": ["O", "B", "I"]}, "record 2 (sentence 's1'): 1 tokens but 3 tags"),
    ({"id": "s1", "tokens": "a b", "tags": ["O", "O"]}, "'tokens' must be a non-empty list of strings"),
    ({"id": "s1", "tokens": ["a", 3], "tags": ["O", "O"]}, "'tokens' must be a non-empty list of strings"),
    ({"id": "s1", "tokens": ["a"]}, "'tags' must be a list of strings"),
    (["a", "O"], "record 2: expected a JSON object"),
])
def test_tokenize_checks_ner_rows(row, problem):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    from compactbio.data import tokenize

    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "b"])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                       special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    rows = [{"id": "s0", "tokens": ["a"], "tags": ["O"]}, row]
    with pytest.raises(ValueError) as err:
        tokenize.ner_rows(tok, rows, {"B": 0, "I": 1, "O": 2}, 16, 8, "prep/train.jsonl")
    assert str(err.value).startswith("prep/train.jsonl: ") and problem in str(err.value), str(err.value)
