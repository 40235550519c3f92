"""Readers on small hand-written files whose expected output is worked out by hand."""

import gzip
import json

import pytest

from compactbio.data import prepare
from compactbio.io import read_json, read_jsonl

NER_TRAIN = "Famil\tO\n  adenomatous \tB\npolyposis\tI\n.\tO\n\n\n\nBRCA1 O\r\nmutation\tO\n"  # no final newline after blank


def write(path, text, mode="w"):
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def ner_folder(root, train=NER_TRAIN, labels="B\nI\nO"):
    write(root / "train.tsv", train)
    write(root / "devel.tsv", "a\tO\nb\tB\n")
    write(root / "test.tsv", "c\tB\nd\tI\n\ne\tB")  # no final newline
    if labels is not None:
        write(root / "labels.txt", labels)
    return root


def test_ner_quirks(tmp_path):
    ner_folder(tmp_path / "raw" / "NER" / "Mine")
    params = {"datasets": {"mine": {"source": "s", "format": "biobert_ner", "path": "NER/Mine"}}}
    prepare.run(params, "mine", tmp_path / "raw", tmp_path / "out")
    train = read_jsonl(tmp_path / "out/train.jsonl")
    assert train == [
        {"id": "train-0", "tokens": ["Famil", "adenomatous", "polyposis", "."], "tags": ["O", "B", "I", "O"]},
        {"id": "train-1", "tokens": ["BRCA1", "mutation"], "tags": ["O", "O"]},
    ]
    test = read_jsonl(tmp_path / "out/test.jsonl")
    assert [r["tokens"] for r in test] == [["c", "d"], ["e"]]
    meta = read_json(tmp_path / "out/meta.json")
    assert meta["labels"] == ["B", "I", "O"] and meta["task"] == "ner"
    assert meta["splits"] == {"train": 2, "validation": 1, "test": 2}
    assert meta["mentions"] == {"train": 1, "validation": 1, "test": 2}


def test_ner_typed_bioes_without_labels_file(tmp_path):
    root = tmp_path / "raw"
    ner_folder(root, train="x\tS-Gene\ny\tB-Disease\nz\tE-Disease\nw\tO\n", labels=None)
    params = {"datasets": {"t": {"format": "biobert_ner", "path": "."}}}
    prepare.run(params, "t", root, tmp_path / "out")
    meta = read_json(tmp_path / "out/meta.json")
    assert meta["labels"] == ["B", "B-Disease", "E-Disease", "I", "S-Gene", "O"]
    assert meta["mentions"]["train"] == 2  # S-Gene and B-Disease start mentions


GAD_TRAIN = "".join(f"sentence {i} @GENE$ and @DISEASE$.\t{i % 2}\n" for i in range(40))
GAD_TEST = "index\tsentence\tlabel\n" + "".join(f"{i}\ttest sentence {i}.\t{i % 2}\n" for i in range(10))


def gad_params(mode, **kw):
    split = {"mode": mode, "fold": 1, "test_fraction": 0.1, "validation_fraction": 0.1, "seed": 5, **kw}
    return {"datasets": {"gad": {"format": "gad", "path": "RE/GAD", "split": split}}}


@pytest.fixture
def gad_raw(tmp_path):
    write(tmp_path / "raw/RE/GAD/1/train.tsv", GAD_TRAIN)
    write(tmp_path / "raw/RE/GAD/1/test.tsv", GAD_TEST)
    return tmp_path / "raw"


def test_gad_pooled(tmp_path, gad_raw):
    prepare.run(gad_params("pooled"), "gad", gad_raw, tmp_path / "a")
    splits = {s: read_jsonl(tmp_path / f"a/{s}.jsonl") for s in ("train", "validation", "test")}
    # 50 pooled rows: round(0.1*50)=5 test, round(0.1*45)=4 validation (round half to even), 41 train
    assert [len(v) for v in splits.values()] == [41, 4, 5]
    texts = [r["text"] for v in splits.values() for r in v]
    assert sorted(texts) == sorted([f"sentence {i} @GENE$ and @DISEASE$." for i in range(40)]
                                   + [f"test sentence {i}." for i in range(10)])
    prepare.run(gad_params("pooled"), "gad", gad_raw, tmp_path / "b")
    assert (tmp_path / "a/test.jsonl").read_bytes() == (tmp_path / "b/test.jsonl").read_bytes()
    prepare.run(gad_params("pooled", seed=6), "gad", gad_raw, tmp_path / "c")
    assert (tmp_path / "a/test.jsonl").read_bytes() != (tmp_path / "c/test.jsonl").read_bytes()
    assert read_json(tmp_path / "a/meta.json")["labels"] == ["0", "1"]


def test_gad_no_validation_is_the_authors_protocol(tmp_path, gad_raw):
    """validation_fraction 0: the same 5 test rows as with 0.1, all other 45 rows train, none validation."""
    prepare.run(gad_params("pooled"), "gad", gad_raw, tmp_path / "a")
    prepare.run(gad_params("pooled", validation_fraction=0), "gad", gad_raw, tmp_path / "z")
    assert (tmp_path / "a/test.jsonl").read_bytes() == (tmp_path / "z/test.jsonl").read_bytes()
    assert len(read_jsonl(tmp_path / "z/train.jsonl")) == 45 and read_jsonl(tmp_path / "z/validation.jsonl") == []
    assert read_json(tmp_path / "z/meta.json")["splits"] == {"train": 45, "validation": 0, "test": 5}


def test_ner_names_its_validation_file(tmp_path):
    root = ner_folder(tmp_path / "raw" / "NER" / "Mine")
    write(root / "dev2.tsv", "x\tB\ny\tI\nz\tO\n")
    params = {"datasets": {"mine": {"source": "s", "format": "biobert_ner", "path": "NER/Mine",
                                    "files": {"validation": "dev2.tsv"}}}}
    prepare.run(params, "mine", tmp_path / "raw", tmp_path / "out")
    assert read_jsonl(tmp_path / "out/validation.jsonl") == [
        {"id": "validation-0", "tokens": ["x", "y", "z"], "tags": ["B", "I", "O"]}]
    params["datasets"]["mine"]["files"] = {"golden": "dev2.tsv"}
    with pytest.raises(ValueError, match=r"datasets\.mine\.files: golden not used by the biobert_ner format"):
        prepare.run(params, "mine", tmp_path / "raw", tmp_path / "out2")


def test_ner_validation_file_in_the_schema():
    """params.yaml's schema accepts files.validation (and still refuses unknown file keys)."""
    from pathlib import Path

    import yaml

    from compactbio.params import _schema_errors

    root = Path(__file__).resolve().parents[2]
    raw = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    raw["datasets"]["ncbi-disease"]["files"] = {"train": "train.tsv", "validation": "devel.tsv", "test": "test.tsv"}
    assert _schema_errors(raw, root / "params.yaml", {}) == []
    raw["datasets"]["ncbi-disease"]["files"] = {"dev": "devel.tsv"}
    assert any("dev" in e for e in _schema_errors(raw, root / "params.yaml", {}))


def test_gad_kfold_keeps_fold_test(tmp_path, gad_raw):
    prepare.run(gad_params("kfold"), "gad", gad_raw, tmp_path / "k")
    test = read_jsonl(tmp_path / "k/test.jsonl")
    assert [r["text"] for r in test] == [f"test sentence {i}." for i in range(10)]
    assert len(read_jsonl(tmp_path / "k/validation.jsonl")) == 4  # round(0.1 * 40)
    assert len(read_jsonl(tmp_path / "k/train.jsonl")) == 36


def test_chemprot_absent_labels(tmp_path):
    rows = lambda labs: "".join(json.dumps({"text": f"[[ c ]] x << g >> {i}", "label": l, "metadata": []}) + "\n"
                                for i, l in enumerate(labs))
    write(tmp_path / "raw/train.txt", rows(["INHIBITOR", "SUBSTRATE", "AGONIST"]))
    write(tmp_path / "raw/dev.txt", rows(["INHIBITOR"]))
    write(tmp_path / "raw/test.txt", rows(["SUBSTRATE", "UPREGULATOR"]))
    params = {"datasets": {"cp": {"format": "chemprot", "path": "."}}}
    prepare.run(params, "cp", tmp_path / "raw", tmp_path / "out")
    meta = read_json(tmp_path / "out/meta.json")
    assert meta["labels"] == ["AGONIST", "INHIBITOR", "SUBSTRATE", "UPREGULATOR"]
    assert meta["splits"] == {"train": 3, "validation": 1, "test": 2}
    assert read_jsonl(tmp_path / "out/validation.jsonl")[0]["label"] == "INHIBITOR"


def squad(entries, answers=True):
    paras = []
    for qid, q, ctx, ans in entries:
        a = [{"text": ans, "answer_start": ctx.index(ans)}] if answers else []
        paras.append({"qas": [{"id": qid, "question": q, "answers": a}], "context": ctx})
    return json.dumps({"data": [{"paragraphs": paras}], "version": "x"})


H = ["%024x" % i for i in range(1, 30)]


def bioasq_raw(root, golden_ids=None, answers_train=True):
    train = [(f"{H[i]}_{j:03d}", f"Q{i}?", f"ctx {j} says ANS{i} here", f"ANS{i}") for i in range(10) for j in (1, 2)]
    test = [(f"{H[20 + i]}_001", f"T{i}?", f"ctx TA{i}", f"TA{i}") for i in range(3)]
    write(root / "train.json", squad(train))
    write(root / "test.json", squad(test, answers=False))
    ids = golden_ids if golden_ids is not None else [H[20 + i] for i in range(3)]
    golden = [{"id": q, "type": "factoid", "body": f"T{k}?", "exact_answer": [["TA", "syn"]] if k == 0 else "TA1"}
              for k, q in enumerate(ids)] + [{"id": H[28], "type": "yesno", "body": "?", "exact_answer": "yes"}]
    write(root / "golden.json", json.dumps({"questions": golden}))
    return {"datasets": {"qa": {"format": "bioasq", "path": ".", "split": {"validation_fraction": 0.2, "seed": 1},
                                "files": {"train": "train.json", "test": "test.json", "golden": "golden.json"}}}}


def test_bioasq_split_by_question_and_golden(tmp_path):
    params = bioasq_raw(tmp_path / "raw")
    prepare.run(params, "qa", tmp_path / "raw", tmp_path / "out")
    train = read_jsonl(tmp_path / "out/train.jsonl")
    val = read_jsonl(tmp_path / "out/validation.jsonl")
    assert len(train) == 16 and len(val) == 4  # 2 of 10 questions, both snippets each
    assert not {r["question_id"] for r in train} & {r["question_id"] for r in val}
    gv = read_json(tmp_path / "out/golden_validation.json")
    assert set(gv) == {r["question_id"] for r in val}
    q = next(iter(gv))
    assert gv[q]["answers"] == [[f"ANS{H.index(q)}"]]
    gt = read_json(tmp_path / "out/golden_test.json")
    assert gt == {H[20]: {"question": "T0?", "answers": [["TA", "syn"]]},
                  H[21]: {"question": "T1?", "answers": [["TA1"]]},
                  H[22]: {"question": "T2?", "answers": [["TA1"]]}}
    meta = read_json(tmp_path / "out/meta.json")
    assert meta["splits"] == {"train": 16, "validation": 4, "test": 3}
    assert meta["questions"] == {"train": 8, "validation": 2, "test": 3}
    r = val[0]
    assert r["context"][r["answers"][0]["answer_start"]:].startswith(r["answers"][0]["text"])
    # every golden question, of every type, in the golden file's order (for the full submission)
    assert read_json(tmp_path / "out/golden_questions.json") == {"questions": [
        {"id": H[20], "type": "factoid"}, {"id": H[21], "type": "factoid"}, {"id": H[22], "type": "factoid"},
        {"id": H[28], "type": "yesno"}]}


def test_bioasq_without_validation_is_the_authors_protocol(tmp_path):
    params = bioasq_raw(tmp_path / "raw")
    params["datasets"]["qa"]["split"]["validation_fraction"] = 0
    prepare.run(params, "qa", tmp_path / "raw", tmp_path / "out")
    assert len(read_jsonl(tmp_path / "out/train.jsonl")) == 20 and read_jsonl(tmp_path / "out/validation.jsonl") == []
    assert read_json(tmp_path / "out/golden_validation.json") == {}


PUBMED_XML = b"""<?xml version="1.0"?>
<PubmedArticleSet>
<PubmedArticle><MedlineCitation><Article><ArticleTitle>First <i>title</i>.</ArticleTitle>
<Abstract><AbstractText Label="BACKGROUND">Part one.</AbstractText><AbstractText>Part
two.</AbstractText></Abstract></Article></MedlineCitation></PubmedArticle>
<PubmedArticle><MedlineCitation><Article><ArticleTitle>No abstract here.</ArticleTitle></Article></MedlineCitation></PubmedArticle>
<PubmedArticle><MedlineCitation><Article><ArticleTitle>Third.</ArticleTitle>
<Abstract><AbstractText>Body three.</AbstractText></Abstract></Article></MedlineCitation></PubmedArticle>
</PubmedArticleSet>"""


def test_corpus_readers_mixed_folder(tmp_path):
    raw = tmp_path / "raw"
    write(raw / "a.txt", "doc one\n\n  doc   two  \ndoc three")
    write(raw / "b.jsonl", json.dumps({"title": "T", "abstract": "abs"}) + "\n" + json.dumps({"text": "plain"}) + "\n")
    write(raw / "c" / "pubmed24n0001.xml.gz", gzip.compress(PUBMED_XML))
    write(raw / "SHA256SUMS", "ignored")
    prepare.run({"datasets": {"pm": {"format": "corpus", "path": "."}}}, "pm", raw, tmp_path / "out")
    docs = (tmp_path / "out/corpus.txt").read_text().splitlines()
    assert docs == ["doc one", "doc two", "doc three", "T abs", "plain",
                    "First title. Part one. Part two.", "Third. Body three."]
    meta = read_json(tmp_path / "out/meta.json")
    assert meta["documents"] == 7 and meta["task"] == "mlm"


def test_unseen_folder_via_params_alone(tmp_path):
    """A new NER folder, never named in code, works by adding a params entry."""
    ner_folder(tmp_path / "raw/datasets/NER/MyNewCorpus-2031")
    params = {"datasets": {"my-new": {"source": "biobert", "format": "biobert_ner",
                                      "path": "datasets/NER/MyNewCorpus-2031", "description": "new"}}}
    prepare.run(params, "my-new", tmp_path / "raw", tmp_path / "out")
    meta = read_json(tmp_path / "out/meta.json")
    assert meta["name"] == "my-new" and meta["description"] == "new" and meta["splits"]["train"] == 2
