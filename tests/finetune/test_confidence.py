"""The confidence written next to each prediction (the cascade study's routing signal).

Hand-worked cases for the definitions (compactbio.finetune.confidence's docstring), then
the stage on tiny models: every record carries its confidence, and the validation file
holds the selected model's records (their counts give metrics.json's validation scores).
"""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import ft_helpers as H
from compactbio.finetune import confidence, ner, qa, stage
from compactbio.metrics.ner import prf
from compactbio.metrics.re import re_scores

HP_QA = {"answer_cleanup": "biobert", "max_answer_tokens": 10, "top_k": 5, "per_snippet": 5}


def test_top_probability_is_softmax_of_the_arg_max():
    logits = np.array([[2.0, -1.0, 0.5], [0.0, 0.0, 0.0], [1000.0, 0.0, -1000.0]], dtype=np.float32)
    expected = torch.softmax(torch.tensor(logits, dtype=torch.float64), -1).max(-1).values.numpy()
    np.testing.assert_allclose(confidence.top_probability(logits), expected, rtol=1e-15)
    assert confidence.top_probability(logits)[1] == pytest.approx(1 / 3)
    assert confidence.top_probability(logits)[2] == 1.0   # no overflow for large logits


def test_sentence_confidence_by_hand():
    # words: O(0.9) B(0.6) I(0.8) O(0.55): entity tokens 0.6 and 0.8, lowest word 0.55
    assert confidence.sentence_confidence(["O", "B", "I", "O"], [0.9, 0.6, 0.8, 0.55]) == \
        {"confidence": 0.6, "confidence_word_min": 0.55}
    # no predicted entity: the word minimum stands in
    assert confidence.sentence_confidence(["O", "O"], [0.7, 0.95]) == {"confidence": 0.7, "confidence_word_min": 0.7}
    # a word without sub-words (None) counts for neither; nothing left: 1.0
    assert confidence.sentence_confidence(["B", "O"], [0.4, None]) == {"confidence": 0.4, "confidence_word_min": 0.4}
    assert confidence.sentence_confidence(["O"], [None]) == {"confidence": 1.0, "confidence_word_min": 1.0}


def test_first_subword_values_follow_the_word_prediction_rule():
    # [CLS] w0 w0 w1 [SEP]; w2 has no sub-word
    assert confidence.first_subword_values(3, [-1, 0, 0, 1, -1], [0.1, 0.5, 0.2, 0.7, 0.3]) == [0.5, 0.7, None]
    with pytest.raises(ValueError, match="word id 3"):
        confidence.first_subword_values(2, [3], [0.5])


def _logit_row(probs_by_label: list[list[float]]) -> np.ndarray:
    """Logits whose softmax is exactly these probabilities (up to float rounding)."""
    return np.log(np.array(probs_by_label, dtype=np.float64)).astype(np.float32)


def test_ner_decode_records_carry_both_confidences_from_first_subwords():
    """Two sentences; the second is split over two rows (a long sentence), rejoined by word ids."""
    labels = ["B", "I", "O"]
    examples = [{"id": "a", "tokens": ["x", "y", "z"], "tags": ["B", "I", "O"]},
                {"id": "b", "tokens": ["p", "q"], "tags": ["O", "O"]}]
    rows = {"sentence": [0, 1, 1], "word_ids": [[-1, 0, 1, 1, 2, -1], [-1, 0, -1], [-1, 1, -1]]}
    outputs = [
        # [CLS], x: B .7, y: I .6 (first sub-word; its 2nd sub-word's .35 is not read), z: O .55, [SEP]
        _logit_row([[.1, .1, .8], [.7, .2, .1], [.2, .6, .2], [.35, .3, .35], [.2, .25, .55], [.1, .1, .8]]),
        _logit_row([[.1, .1, .8], [.2, .2, .6], [.1, .1, .8]]),    # p: O .6
        _logit_row([[.1, .1, .8], [.1, .05, .85], [.1, .1, .8]]),  # q: O .85
    ]
    inp = SimpleNamespace(labels=labels, examples={"test": examples}, rows={"test": rows})
    ev = ner.evaluate(inp, "test", outputs, {})
    a, b = ev.records
    assert ev.word_pred == [["B", "I", "O"], ["O", "O"]]
    assert (a["tp"], a["fp"], a["fn"]) == (1, 0, 0) and (b["tp"], b["fp"], b["fn"]) == (0, 0, 0)
    assert a["confidence"] == pytest.approx(0.6) and a["confidence_word_min"] == pytest.approx(0.55)
    assert b["confidence"] == pytest.approx(0.6) and b["confidence_word_min"] == pytest.approx(0.6)
    # the confidences do not touch the counts or scores
    plain = ner.decode(inp, "test", [[labels[i] for i in o.argmax(-1)] for o in outputs])
    assert plain.scores == ev.scores
    assert [{k: r[k] for k in ("id", "tp", "fp", "fn")} for r in ev.records] == plain.records


def test_qa_top_confidence_merged_is_a_share_of_the_snippets_mass():
    cands = {"q1": [[("BRCA1", 0.6), ("TP53", 0.4)], [("brca1", 0.5), ("KRAS", 0.5)], []],
             "q2": [[("", 1.0)]],       # its only span is cleaned away: no answer
             "q3": []}
    conf = qa.top_confidence(cands, HP_QA, "merged")
    assert conf["q1"] == pytest.approx((0.6 + 0.5) / 2)   # two snippets gave candidates
    assert conf["q2"] == 0.0 and conf["q3"] == 0.0
    answers = qa.answers_by(cands, {**HP_QA}, "merged")
    assert answers["q1"][0] == "BRCA1" and answers["q2"] == []


def test_qa_top_confidence_authors_is_the_first_answers_own_probability():
    # BioBERT's clean-up drops empty answers and those over 100 characters
    cands = {"q1": [[("", 0.7), ("x" * 101, 0.3)], [("TP53", 0.3), ("KRAS", 0.55), ("EGFR", 0.15)]]}
    conf = qa.top_confidence(cands, HP_QA, "authors")
    answers = qa.answers_by(cands, HP_QA, "authors")
    assert answers["q1"][0][0] == "KRAS"     # the first snippet gives no answer
    assert conf["q1"] == 0.55


# ---------------------------------------------------------------- the stage

def _records(path):
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def _ids(prepared, split):
    return [json.loads(x)["id"] for x in (prepared / f"{split}.jsonl").read_text().splitlines()]


def _in_unit(x):
    return isinstance(x, float) and math.isfinite(x) and 0.0 <= x <= 1.0


def test_ner_stage_writes_confidences_and_the_selected_models_validation_records(tmp_path, bert_dir, ner_data):
    prepared, data = ner_data
    out = tmp_path / "run"
    m = stage.run(H.params(epochs=2, lr=2e-2), "tiny", "toy-ner", 3, bert_dir, data, prepared, out)
    for split, name, scores in (("test", "per_example.jsonl", m["test"]),
                                ("validation", "per_example_validation.jsonl", m["validation"])):
        recs = _records(out / name)
        assert [r["id"] for r in recs] == _ids(prepared, split)
        assert all(_in_unit(r["confidence"]) and _in_unit(r["confidence_word_min"]) for r in recs)
        # an entity-token minimum is over a subset of the words; no entity: the word minimum itself
        assert all(r["confidence"] >= r["confidence_word_min"] for r in recs)
        assert all(r["confidence"] == r["confidence_word_min"] for r in recs if r["tp"] + r["fp"] == 0)
        assert len({r["confidence"] for r in recs}) > 1
        tot = [sum(r[k] for r in recs) for k in ("tp", "fp", "fn")]
        assert prf(*tot) == {k: scores[k] for k in ("f1", "precision", "recall")}


def test_validation_records_of_an_earlier_selected_epoch_are_recomputed(tmp_path, bert_dir, ner_data, monkeypatch):
    """When the selected epoch is not the last one validated, the records are those of the loaded
    (selected) state, not of the latest validation pass."""
    from compactbio.finetune import loop

    real_train = loop.train

    def train_then_wander(model, rows, hp, seed, pad, accepted, validate, select, device="cpu", selection="best"):
        result = real_train(model, rows, {**hp, "epochs": 1}, seed, pad, accepted, validate, select, device,
                            selection)          # epoch 1: validated and selected
        saved = {k: v.clone() for k, v in model.state_dict().items()}
        with torch.no_grad():                   # a worse "epoch 2", validated but not selected
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        wandered = validate()
        model.load_state_dict(saved)
        assert wandered != result.best_validation
        return result

    monkeypatch.setattr(loop, "train", train_then_wander)
    prepared, data = ner_data
    m = stage.run(H.params(epochs=2, lr=2e-2), "tiny", "toy-ner", 3, bert_dir, data, prepared, tmp_path / "run")
    assert m["best_epoch"] == 1
    recs = _records(tmp_path / "run" / "per_example_validation.jsonl")
    tot = [sum(r[k] for r in recs) for k in ("tp", "fp", "fn")]
    assert prf(*tot) == {k: m["validation"][k] for k in ("f1", "precision", "recall")}


def test_re_stage_confidence_is_the_top_class_probability(tmp_path, tok, bert_dir):
    prepared, data = H.make_dataset(tmp_path, "re", tok, seed=1)
    out = tmp_path / "out"
    m = stage.run(H.params(epochs=2), "tiny", "toy-gad", 0, bert_dir, data, prepared, out)
    for name, scores in (("per_example.jsonl", m["test"]), ("per_example_validation.jsonl", m["validation"])):
        recs = _records(out / name)
        # binary: the predicted class has at least half the mass
        assert all(_in_unit(r["confidence"]) and r["confidence"] >= 0.5 for r in recs)
        again = re_scores([r["gold"] for r in recs], [r["pred"] for r in recs], labels=["0", "1"])
        assert again["f1"] == scores["f1"]


def test_qa_stage_confidences_and_an_empty_validation_split(tmp_path, tok, bert_dir):
    prepared, data = H.make_dataset(tmp_path, "qa", tok, seed=2, sizes=(120, 0, 24))
    params = H.params(epochs=1)
    params["finetune"]["qa"]["select"] = "last"
    out = tmp_path / "out"
    m = stage.run(params, "tiny", "toy-bioasq", 0, bert_dir, data, prepared, out)
    recs = _records(out / "per_example.jsonl")
    assert recs and all(_in_unit(r["confidence"]) for r in recs)
    assert sum(r["rr"] for r in recs) / len(recs) == m["test"]["mrr"]
    assert all(r["confidence"] > 0 for r in recs if r["rr"] > 0)   # an answer that scores has a probability
    assert (out / "per_example_validation.jsonl").read_text() == ""
