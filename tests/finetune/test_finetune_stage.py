"""End-to-end fine-tuning jobs on tiny models and synthetic data (a few seconds each)."""

import csv
import io
import json

import pytest

import ft_helpers as H
from compactbio.finetune import stage
from compactbio.metrics.ner import entities, prf


def _read(out, name):
    return (out / name).read_text(encoding="utf-8")


def _check_scores_file(out, m):
    """scores.json (the DVC metric): flat, the test split's numeric scores, equal to metrics.json's."""
    scores = json.loads(_read(out, "scores.json"))
    test = json.loads(_read(out, "metrics.json"))["test"]
    assert scores == {k: v for k, v in test.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert scores and all(isinstance(v, float) for v in scores.values())
    assert set(scores) >= ({"f1"} if m["task"] != "qa" else {"strict", "lenient", "mrr"})


def test_ner_learns_beats_baseline_and_writes_outputs(tmp_path, bert_dir, ner_data):
    prepared, data = ner_data
    out = tmp_path / "run"
    m = stage.run(H.params(epochs=4, lr=2e-2), "tiny", "toy-ner", 42, bert_dir, data, prepared, out)
    assert json.loads(_read(out, "metrics.json")) == m
    assert set(m["test"]) == {"f1", "precision", "recall", "f1_subword", "precision_subword", "recall_subword"}
    assert m["baseline"]["f1"] == 0.0 and set(m["baseline"]) == set(m["test"])
    assert m["test"]["f1"] > 0.5, m  # an easy, learnable toy set
    assert 1 <= m["best_epoch"] <= 4
    # per-example counts add up to the reported word-level scores
    recs = [json.loads(x) for x in _read(out, "per_example.jsonl").splitlines()]
    test_rows = [json.loads(x) for x in (prepared / "test.jsonl").read_text().splitlines()]
    assert [r["id"] for r in recs] == [ex["id"] for ex in test_rows]
    tot = [sum(r[k] for r in recs) for k in ("tp", "fp", "fn")]
    assert prf(*tot) == {k: m["test"][k] for k in ("f1", "precision", "recall")}   # to the last digit
    assert tot[0] + tot[2] == sum(len(entities(ex["tags"])) for ex in test_rows)
    _check_scores_file(out, m)
    # CoNLL predictions: one line per word, gold column equals the prepared tags
    blocks = _read(out, "predictions.conll").strip("\n").split("\n\n")
    assert len(blocks) == len(test_rows)
    for block, ex in zip(blocks, test_rows):
        cols = [line.split(" ") for line in block.splitlines()]
        assert [c[0] for c in cols] == ex["tokens"] and [c[1] for c in cols] == ex["tags"]
    log = list(csv.DictReader(_read(out, "train_log.csv").splitlines()))
    assert [int(r["epoch"]) for r in log] == [1, 2, 3, 4]
    assert float(log[m["best_epoch"] - 1]["validation_score"]) == pytest.approx(m["validation"]["f1"])
    assert float(log[-1]["loss"]) < float(log[0]["loss"])


def test_same_seed_same_metrics(tmp_path, bert_dir, ner_data):
    prepared, data = ner_data
    p = H.params(epochs=1)
    stage.run(p, "tiny", "toy-ner", 7, bert_dir, data, prepared, tmp_path / "a")
    stage.run(p, "tiny", "toy-ner", 7, bert_dir, data, prepared, tmp_path / "b")
    assert _read(tmp_path / "a", "metrics.json") == _read(tmp_path / "b", "metrics.json")
    assert _read(tmp_path / "a", "train_log.csv") == _read(tmp_path / "b", "train_log.csv")


def test_long_sentences_split_into_chunks_are_rejoined(tmp_path, tok, bert_dir):
    prepared, data = H.make_dataset(tmp_path, "ner", tok, seed=3, sizes=(24, 8, 8), max_length=6)
    from compactbio.finetune.inputs import read_arrow
    sent = read_arrow(data / "test.arrow")["sentence"]
    assert len(sent) > len(set(sent)), "fixture should split some sentences"
    m = stage.run(H.params(epochs=1), "tiny", "toy-ner", 1, bert_dir, data, prepared, tmp_path / "out")
    recs = [json.loads(x) for x in _read(tmp_path / "out", "per_example.jsonl").splitlines()]
    test_rows = [json.loads(x) for x in (prepared / "test.jsonl").read_text().splitlines()]
    assert sum(r["tp"] + r["fn"] for r in recs) == sum(len(entities(ex["tags"])) for ex in test_rows)
    words = [line for line in _read(tmp_path / "out", "predictions.conll").splitlines() if line]
    assert len(words) == sum(len(ex["tokens"]) for ex in test_rows)
    assert 0.0 <= m["test"]["f1"] <= 1.0


@pytest.mark.parametrize("arch", ["distilbert", "mobilebert"])
def test_other_architectures_ner(tmp_path, tok, ner_data, arch):
    model_dir = H.build_model(tmp_path / arch, tok, arch)
    prepared, data = ner_data
    m = stage.run(H.params(epochs=1), arch, "toy-ner", 0, model_dir, data, prepared, tmp_path / "out")
    assert (tmp_path / "out" / "predictions.conll").is_file()
    assert 0.0 <= m["test"]["f1"] <= 1.0


def test_re_binary(tmp_path, tok, bert_dir):
    prepared, data = H.make_dataset(tmp_path, "re", tok, seed=1)
    out = tmp_path / "out"
    m = stage.run(H.params(epochs=3), "tiny", "toy-gad", 0, bert_dir, data, prepared, out)
    assert set(m["test"]) == {"f1", "f1_binary", "f1_macro", "f1_micro"}
    assert m["test"]["f1"] == m["test"]["f1_binary"]
    # majority class is "0": positive-class F1 of the baseline is 0
    assert m["baseline"]["f1"] == 0.0
    assert m["test"]["f1"] > 0.8, m
    lines = _read(out, "predictions.tsv").splitlines()
    assert lines[0] == "id\tgold\tpredicted" and len(lines) == 41
    recs = [json.loads(x) for x in _read(out, "per_example.jsonl").splitlines()]
    assert [f"{r['id']}\t{r['gold']}\t{r['pred']}" for r in recs] == lines[1:]
    _check_scores_file(out, m)


@pytest.mark.parametrize("arch", ["bert", "distilbert"])
def test_qa_bioasq(tmp_path, tok, bert_dir, arch):
    model_dir = bert_dir if arch == "bert" else H.build_model(tmp_path / arch, tok, arch)
    prepared, data = H.make_dataset(tmp_path, "qa", tok, seed=2, sizes=(120, 24, 24))
    out = tmp_path / "out"
    m = stage.run(H.params(epochs=2), "tiny", "toy-bioasq", 0, model_dir, data, prepared, out)
    assert set(m["baseline"]) == {"strict", "lenient", "mrr"}
    assert set(m["test"]) == {f"{k}{p}" for k in ("strict", "lenient", "mrr") for p in ("", "_merged", "_authors")}
    assert all(m["test"][k] == m["test"][f"{k}_merged"] for k in ("strict", "lenient", "mrr"))   # the default
    assert m["protocol"] == {"select": "best", "validation": True, "scoring": "merged", "answer_cleanup": "biobert"}
    assert 0 <= m["test"]["strict"] <= m["test"]["lenient"] <= 1
    golden = json.loads((prepared / "golden_test.json").read_text())
    sub = json.loads(_read(out, "predictions.json"))
    assert [q["id"] for q in sub["questions"]] == sorted(golden)
    assert all(len(q["exact_answer"]) <= 5 for q in sub["questions"])
    recs = [json.loads(x) for x in _read(out, "per_example.jsonl").splitlines()]
    assert sum(r["rr"] for r in recs) / len(golden) == m["test"]["mrr"]
    _check_scores_file(out, m)


def test_qa_authors_protocol_and_full_submission(tmp_path, tok, bert_dir):
    """scoring: authors submits one synonym list per snippet; with the prepared golden_questions.json
    the submission holds every golden question, non-factoid ones with empty answers of their type."""
    prepared, data = H.make_dataset(tmp_path, "qa", tok, seed=2, sizes=(120, 24, 24))
    golden = json.loads((prepared / "golden_test.json").read_text())
    listing = [{"id": "y" * 24, "type": "yesno"}] + [{"id": q, "type": "factoid"} for q in golden] + \
        [{"id": "l" * 24, "type": "list"}, {"id": "s" * 24, "type": "summary"}]
    (prepared / "golden_questions.json").write_text(json.dumps({"questions": listing}))
    params = H.params(epochs=1)
    params["finetune"]["qa"].update(scoring="authors", select="last")
    m = stage.run(params, "tiny", "toy-bioasq", 0, bert_dir, data, prepared, tmp_path / "out")
    assert m["protocol"]["scoring"] == "authors" and m["best_epoch"] == 1
    assert all(m["test"][k] == m["test"][f"{k}_authors"] for k in ("strict", "lenient", "mrr"))
    sub = json.loads(_read(tmp_path / "out", "predictions.json"))
    assert [(q["id"], q["type"]) for q in sub["questions"]] == [(q["id"], q["type"]) for q in listing]
    by = {q["id"]: q for q in sub["questions"]}
    assert by["y" * 24]["exact_answer"] == "" and by["l" * 24]["exact_answer"] == []
    assert "exact_answer" not in by["s" * 24]
    test_rows = [json.loads(x) for x in (prepared / "test.jsonl").read_text().splitlines()]
    for qid in golden:
        answers = by[qid]["exact_answer"]
        n_snippets = sum(r["question_id"] == qid for r in test_rows)
        assert len(answers) <= n_snippets and all(1 <= len(a) <= 5 for a in answers)
    # the submission, scored by the evaluator's rules, gives the run's scores
    from compactbio.metrics.bioasq import bioasq_scores
    agg, _ = bioasq_scores({q: by[q]["exact_answer"] for q in golden}, golden)
    assert agg == {k: pytest.approx(m["test"][k]) for k in ("strict", "lenient", "mrr")}


def test_no_validation_split_needs_select_last(tmp_path, tok, bert_dir):
    """validation_fraction: 0 (the authors' protocol) leaves validation empty: `last` trains, `best` is an error."""
    prepared, data = H.make_dataset(tmp_path, "re", tok, seed=3, sizes=(80, 0, 40))
    params = H.params(epochs=1)
    with pytest.raises(ValueError, match=r"select is 'best' but .* has no validation split"):
        stage.run(params, "tiny", "toy-gad", 0, bert_dir, data, prepared, tmp_path / "o1")
    assert not (tmp_path / "o1").exists()
    params["finetune"]["re"]["select"] = "last"
    m = stage.run(params, "tiny", "toy-gad", 0, bert_dir, data, prepared, tmp_path / "o2")
    assert m["protocol"] == {"select": "last", "validation": False} and m["validation"] == {}
    log = _read(tmp_path / "o2", "train_log.csv").splitlines()
    assert len(log) == 2 and log[1].endswith(",")    # no validation score to log


def test_select_last_keeps_the_final_epoch(tmp_path, tok, bert_dir):
    prepared, data = H.make_dataset(tmp_path, "re", tok, seed=4, sizes=(80, 20, 20))
    params = H.params(epochs=3)
    params["finetune"]["re"]["select"] = "last"
    m = stage.run(params, "tiny", "toy-gad", 0, bert_dir, data, prepared, tmp_path / "o")
    log = list(csv.DictReader(io.StringIO(_read(tmp_path / "o", "train_log.csv"))))
    assert m["best_epoch"] == 3 and float(log[-1]["validation_score"]) == pytest.approx(m["validation"]["f1"])
