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
