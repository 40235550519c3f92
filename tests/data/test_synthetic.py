"""The synthetic demo set: deterministic, small, readable by the real readers, learnable but not trivial."""

import collections
import hashlib
import math

import pytest

from compactbio.data import fetch, prepare
from compactbio.io import read_json, read_jsonl


def digest(folder):
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode() + p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def demo(tmp_path_factory, raw_params):
    from compactbio.params import resolve

    params = resolve(raw_params, "demo")
    root = tmp_path_factory.mktemp("demo")
    for src in ("biobert", "chemprot", "pubmed"):
        fetch.run(params, src, root / "raw" / src)
    for name, ds in params["datasets"].items():
        prepare.run(params, name, root / "raw" / ds["source"], root / "prepared" / name)
    return params, root


def test_deterministic_and_small(demo, tmp_path):
    params, root = demo
    fetch.run(params, "biobert", tmp_path / "again")
    assert digest(tmp_path / "again") == digest(root / "raw" / "biobert")
    other = {**params, "sources": {"biobert": {"synthetic": {**params["sources"]["biobert"]["synthetic"], "seed": 99}}}}
    fetch.run(other, "biobert", tmp_path / "other")
    assert digest(tmp_path / "other") != digest(root / "raw" / "biobert")
    size = sum(p.stat().st_size for p in (root / "raw").rglob("*") if p.is_file())
    assert size < 5e6


def test_layout_matches_real_archive(demo):
    _, root = demo
    raw = root / "raw" / "biobert" / "datasets"
    for name in ("NCBI-disease", "BC5CDR-disease", "BC5CDR-chem", "BC4CHEMD", "BC2GM", "JNLPBA", "linnaeus", "s800"):
        for f in ("train.tsv", "devel.tsv", "test.tsv", "train_dev.tsv", "labels.txt"):
            assert (raw / "NER" / name / f).is_file()
    assert sorted(int(p.name) for p in (raw / "RE" / "GAD").iterdir()) == list(range(1, 11))
    assert (raw / "RE/GAD/3/test.tsv").read_text().startswith("index\tsentence\tlabel\n")
    assert {p.name for p in (raw / "QA" / "BioASQ").iterdir()} == {
        "BioASQ-train-factoid-7b.json", "BioASQ-test-factoid-7b.json", "7B_golden.json"}


def test_sizes_follow_params(demo):
    params, root = demo
    syn = params["sources"]["biobert"]["synthetic"]
    meta = read_json(root / "prepared/ncbi-disease/meta.json")
    assert meta["splits"] == {"train": syn["ner_sentences"]["train"], "validation": syn["ner_sentences"]["devel"],
                              "test": syn["ner_sentences"]["test"]}
    assert sum(read_json(root / "prepared/gad/meta.json")["splits"].values()) == syn["gad_rows"]
    cp = params["sources"]["chemprot"]["synthetic"]["rows"]
    assert read_json(root / "prepared/chemprot/meta.json")["splits"] == {
        "train": cp["train"], "validation": cp["dev"], "test": cp["test"]}
    qa = read_json(root / "prepared/bioasq7b/meta.json")
    assert qa["questions"]["test"] == len(read_json(root / "prepared/bioasq7b/golden_test.json"))
    assert qa["questions"]["train"] + qa["questions"]["validation"] == syn["bioasq_questions"]["train"]
    assert read_json(root / "prepared/pubmed/meta.json")["documents"] == params["sources"]["pubmed"]["synthetic"]["documents"]
    assert len(read_json(root / "prepared/chemprot/meta.json")["labels"]) == 13


def test_entity_vocabularies_differ(demo):
    _, root = demo

    def entities(name):
        out = set()
        for r in read_jsonl(root / f"prepared/{name}/train.jsonl"):
            out.update(w for w, t in zip(r["tokens"], r["tags"]) if t == "B")
        return out

    dis, chem, gene, spec = (entities(n) for n in ("ncbi-disease", "bc5cdr-chem", "bc2gm", "linnaeus"))
    assert not (dis & chem) and not (chem & gene) and not (gene & spec)


def test_corpus_shares_task_vocabulary(demo):
    _, root = demo
    corpus = set((root / "prepared/pubmed/corpus.txt").read_text().split())
    words = {w for r in read_jsonl(root / "prepared/bc2gm/train.jsonl") for w in r["tokens"]}
    assert len(words & corpus) / len(words) > 0.6


def naive_bayes(train, test):
    """Multinomial naive Bayes on word unigrams: an independent, model-free learnability probe."""
    counts, prior, vocab = collections.defaultdict(collections.Counter), collections.Counter(), set()
    for r in train:
        prior[r["label"]] += 1
        counts[r["label"]].update(r["text"].lower().split())
        vocab.update(r["text"].lower().split())
    totals = {c: sum(v.values()) for c, v in counts.items()}

    def predict(text):
        return max(prior, key=lambda c: math.log(prior[c]) + sum(
            math.log((counts[c][w] + 1) / (totals[c] + len(vocab))) for w in text.lower().split()))

    return sum(predict(r["text"]) == r["label"] for r in test) / len(test)


@pytest.mark.parametrize("name", ["gad", "chemprot"])
def test_relations_learnable_not_trivial(demo, name):
    _, root = demo
    train, test = (read_jsonl(root / f"prepared/{name}/{s}.jsonl") for s in ("train", "test"))
    majority = collections.Counter(r["label"] for r in test).most_common(1)[0][1] / len(test)
    acc = naive_bayes(train, test)
    assert majority + 0.15 < acc < 0.99, (majority, acc)


@pytest.mark.parametrize("name", ["ncbi-disease", "bc5cdr-chem", "bc2gm", "species-800"])
def test_ner_learnable_not_trivial(demo, name):
    """Memorise each training word's most frequent tag: finds many mentions, but not all."""
    _, root = demo
    train, test = (read_jsonl(root / f"prepared/{name}/{s}.jsonl") for s in ("train", "test"))
    tag_of = collections.defaultdict(collections.Counter)
    for r in train:
        for w, t in zip(r["tokens"], r["tags"]):
            tag_of[w][t] += 1
    gold = pred = hit = 0
    for r in test:
        for w, t in zip(r["tokens"], r["tags"]):
            p = tag_of[w].most_common(1)[0][0] if w in tag_of else "O"
            gold += t == "B"
            pred += p == "B"
            hit += t == "B" and p == "B"
    recall, precision = hit / gold, hit / max(pred, 1)
    assert 0.3 < recall < 0.97 and precision > 0.5, (recall, precision)


def test_bioasq_answers_are_cued_spans(demo):
    _, root = demo
    rows = read_jsonl(root / "prepared/bioasq7b/train.jsonl")
    golden = read_json(root / "prepared/bioasq7b/golden_test.json")
    assert all(r["context"][a["answer_start"]:a["answer_start"] + len(a["text"])] == a["text"]
               for r in rows for a in r["answers"])
    assert all(len(g["answers"]) == 1 and g["answers"][0] for g in golden.values())
    test = read_jsonl(root / "prepared/bioasq7b/test.jsonl")
    assert all(r["answers"] == [] for r in test)
    assert all(any(s.lower() in r["context"].lower() for s in golden[r["question_id"]]["answers"][0]) for r in test)
