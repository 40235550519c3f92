"""Routing curves, the random baseline, the area and its bootstrap, thresholds: hand-made cases and references."""

from __future__ import annotations

import numpy as np
import pytest
from seqeval.metrics import f1_score as seqeval_f1

from compactbio.cascade import routing
from compactbio.data.errors import DataError
from compactbio.metrics.ner import sentence_counts
from compactbio.metrics.re import re_scores


def qa_records(correct: list[bool], conf: list[float] | None = None, prefix: str = "q") -> list[dict]:
    out = []
    for i, ok in enumerate(correct):
        rec = {"id": f"{prefix}{i}", "strict": float(ok), "lenient": float(ok), "rr": 1.0 if ok else 0.0}
        if conf is not None:
            rec["confidence"] = conf[i]
        out.append(rec)
    return out


# ---------------------------------------------------------------- hand-made routing shares

def test_wrong_on_three_least_confident_of_ten_recovers_at_30_percent():
    conf = [0.9, 0.1, 0.8, 0.3, 0.95, 0.2, 0.7, 0.85, 0.6, 0.75]
    wrong = {1, 3, 5}                                   # exactly the three least confident
    compact = qa_records([i not in wrong for i in range(10)], conf)
    fallback = qa_records([True] * 10)
    split = routing.align(compact, fallback, "qa")
    c = routing.curve(split)
    assert c.scores["mrr"][0] == pytest.approx(0.7) and c.scores["mrr"][-1] == 1.0
    # each routed example is one of the wrong ones until three are routed, then the score is BioBERT's
    for i, k in enumerate(c.k):
        assert c.scores["strict"][i] == pytest.approx(0.7 + 0.1 * min(k, 3))
    point = routing.targets_on_curve(c, "mrr")["99"]
    assert (point["k"], point["share"], point["score"]) == (3, 0.3, 1.0)
    assert point["share_pct"] == 25           # round(0.25 * 10) = 3 (half up): the first 1 % step routing 3
    assert point["threshold"] == 0.3          # the third least confident example's confidence
    assert routing.targets_on_curve(c, "mrr", [0.995])["99.5"]["k"] == 3


def test_share_steps_with_100_examples_are_exact_percentages():
    rng = np.random.default_rng(0)
    conf = list(rng.permutation(100) / 100)
    order = np.argsort(conf)
    wrong = set(order[:30].tolist())
    compact = qa_records([i not in wrong for i in range(100)], conf)
    c = routing.curve(routing.align(compact, qa_records([True] * 100), "qa"))
    assert list(c.k) == list(range(101))
    points = routing.targets_on_curve(c, "strict")
    assert (points["99"]["share_pct"], points["99"]["score"]) == (29, 0.99)     # 99 % exactly keeps 99 %
    assert (points["99.5"]["share_pct"], points["99.5"]["k"], points["99.5"]["score"]) == (30, 30, 1.0)
    assert np.all(np.diff(c.scores["strict"][:31]) > 0) and np.all(c.scores["strict"][30:] == 1.0)


def test_half_up_rounding_and_ties_broken_by_id_in_natural_order():
    assert list(routing.share_ks(10)[[0, 4, 5, 14, 15, 100]]) == [0, 0, 1, 1, 2, 10]
    # all confidences tie: the order is the ids' natural order, q2 before q10
    compact = qa_records([True] * 12, [0.5] * 12)
    split = routing.align(compact, qa_records([True] * 12), "qa")
    assert [split.ids[i] for i in split.order[:4]] == ["q0", "q1", "q2", "q3"]
    assert split.ids[split.order[-1]] == "q11"
    c = routing.curve(split)
    # the rule "confidence <= threshold" routes the whole tie: reported, not hidden
    i = int(np.argmax(c.k == 3))
    assert c.threshold[i] == 0.5 and c.threshold_share[i] == 1.0
    assert c.threshold[0] is None and c.threshold_share[0] == 0.0


# ---------------------------------------------------------------- NER: F1 recomputed from entities

def _random_tags(rng, length: int) -> list[str]:
    tags, inside = [], False
    for _ in range(length):
        u = rng.random()
        if u < 0.2:
            tags.append("B-Disease")
            inside = True
        elif u < 0.35 and inside:
            tags.append("I-Disease")
        elif u < 0.4:
            tags.append("I-Disease")     # an I after O starts an entity (conlleval counting)
            inside = True
        else:
            tags.append("O")
            inside = False
    return tags


def _noisy(rng, tags: list[str], p: float) -> list[str]:
    choices = ["O", "B-Disease", "I-Disease"]
    return [choices[rng.integers(3)] if rng.random() < p else t for t in tags]


def test_ner_combined_f1_equals_seqeval_on_the_combined_tag_sequences():
    rng = np.random.default_rng(7)
    n = 37
    gold = [_random_tags(rng, int(rng.integers(1, 14))) for _ in range(n)]
    comp = [_noisy(rng, g, 0.35) for g in gold]
    fall = [_noisy(rng, g, 0.1) for g in gold]
    conf = rng.random(n)
    ids = [f"test-{i}" for i in range(n)]
    comp_rec = [{"id": ids[i], **dict(zip(("tp", "fp", "fn"), sentence_counts(gold[i], comp[i]))),
                 "confidence": float(conf[i])} for i in range(n)]
    fall_rec = [{"id": ids[i], **dict(zip(("tp", "fp", "fn"), sentence_counts(gold[i], fall[i])))} for i in range(n)]
    split = routing.align(comp_rec, fall_rec, "ner")
    c = routing.curve(split)
    # the same routing, done on the tags: natural id order, least confident first
    order = sorted(range(n), key=lambda i: (conf[i], i))
    for j, k in enumerate(c.k):
        routed = set(order[:k])
        combined = [fall[i] if i in routed else comp[i] for i in range(n)]
        assert c.scores["f1"][j] == pytest.approx(seqeval_f1(gold, combined), abs=1e-12)
    assert c.scores["f1"][0] == pytest.approx(seqeval_f1(gold, comp), abs=1e-12)
    # and it is not the share-weighted average of the two F1s
    mid = int(np.argmax(c.k == n // 2))
    avg = (1 - c.share[mid]) * c.scores["f1"][0] + c.share[mid] * c.scores["f1"][-1]
    assert abs(c.scores["f1"][mid] - avg) > 1e-6


def test_ner_hand_made_two_missed_sentences():
    # ten sentences, one gold entity each; the compact model misses it in its two least confident
    # sentences and adds a spurious entity in one of them; BioBERT finds all
    comp = [{"id": f"s{i}", "tp": 1, "fp": 0, "fn": 0, "confidence": 0.5 + i / 100} for i in range(10)]
    comp[4].update(tp=0, fn=1, fp=1, confidence=0.2)
    comp[7].update(tp=0, fn=1, confidence=0.1)
    fall = [{"id": f"s{i}", "tp": 1, "fp": 0, "fn": 0} for i in range(10)]
    c = routing.curve(routing.align(comp, fall, "ner"))
    # alone: tp 8, fp 1, fn 2 -> P 8/9, R 8/10
    assert c.scores["f1"][0] == pytest.approx(2 * (8 / 9) * 0.8 / (8 / 9 + 0.8))
    first = int(np.argmax(c.k == 1))          # s7 routed: tp 9, fp 1, fn 1
    assert c.scores["f1"][first] == pytest.approx(0.9)
    point = routing.targets_on_curve(c, "f1", [0.99])["99"]
    assert (point["k"], point["score"], point["threshold"]) == (2, 1.0, 0.2)


# ---------------------------------------------------------------- RE: the dataset's F1

def _re_case(rng, labels, n, p_comp, p_fall):
    gold = list(rng.choice(labels, size=n))
    comp = [g if rng.random() > p_comp else str(rng.choice(labels)) for g in gold]
    fall = [g if rng.random() > p_fall else str(rng.choice(labels)) for g in gold]
    conf = rng.random(n)
    comp_rec = [{"id": f"r{i}", "gold": gold[i], "pred": comp[i], "confidence": float(conf[i])} for i in range(n)]
    fall_rec = [{"id": f"r{i}", "gold": gold[i], "pred": fall[i]} for i in range(n)]
    return gold, comp, fall, conf, comp_rec, fall_rec


@pytest.mark.parametrize("labels", [["0", "1"], ["ACTIVATOR", "AGONIST", "INHIBITOR", "SUBSTRATE", "false"]])
def test_re_combined_scores_equal_the_project_scorer_at_every_share(labels):
    rng = np.random.default_rng(3)
    gold, comp, fall, conf, comp_rec, fall_rec = _re_case(rng, labels, 45, 0.5, 0.15)
    split = routing.align(comp_rec, fall_rec, "re", labels=labels)
    c = routing.curve(split)
    order = sorted(range(45), key=lambda i: (conf[i], i))
    for j, k in enumerate(c.k):
        routed = set(order[:k])
        want = re_scores(gold, [fall[i] if i in routed else comp[i] for i in range(45)], labels)
        for metric, value in want.items():
            assert c.scores[metric][j] == pytest.approx(value, abs=1e-12), (metric, k)
    # GAD's table score is binary F1, ChemProt's macro-F1 (metrics.json "f1")
    assert split.scorer.binary == (labels == ["0", "1"])


def test_re_macro_counts_labels_only_where_present_in_combined_predictions():
    # label C is predicted (wrongly) only by the compact model on its least confident example:
    # routing that example removes C from the macro average
    gold = ["A", "A", "B", "B"]
    comp = [{"id": "x0", "gold": "A", "pred": "C", "confidence": 0.1},
            {"id": "x1", "gold": "A", "pred": "A", "confidence": 0.9},
            {"id": "x2", "gold": "B", "pred": "B", "confidence": 0.8},
            {"id": "x3", "gold": "B", "pred": "B", "confidence": 0.7}]
    fall = [{"id": f"x{i}", "gold": g, "pred": g} for i, g in enumerate(gold)]
    c = routing.curve(routing.align(comp, fall, "re", labels=["A", "B", "C"]))
    assert c.scores["f1"][0] == pytest.approx(re_scores(gold, ["C", "A", "B", "B"], ["A", "B", "C"])["f1"])
    assert c.scores["f1"][0] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert c.scores["f1"][int(np.argmax(c.k == 1))] == 1.0


# ---------------------------------------------------------------- random routing

def test_random_curve_matches_monte_carlo():
    rng = np.random.default_rng(11)
    n = 200
    comp = [{"id": f"s{i}", "tp": int(t), "fp": int(f), "fn": int(m), "confidence": float(rng.random())}
            for i, (t, f, m) in enumerate(rng.integers(0, 3, size=(n, 3)))]
    fall = [{"id": f"s{i}", "tp": int(t), "fp": int(f), "fn": int(m)}
            for i, (t, f, m) in enumerate(np.c_[rng.integers(1, 4, n), rng.integers(0, 2, n), rng.integers(0, 2, n)])]
    split = routing.align(comp, fall, "ner")
    c = routing.curve(split)
    draws = 4000
    for pct in (10, 35, 50, 80):
        k = int(c.k[pct])
        routed = np.argsort(rng.random((draws, n)), axis=1) < k    # k random examples per draw
        tot = split.compact.sum(0) + routed.astype(np.int64) @ (split.fallback - split.compact)
        f1s = split.scorer.scores(tot, n)["f1"]
        se = np.std(f1s) / np.sqrt(draws)
        # F1 of the expected counts vs the expected F1: equal up to O(1/n), here well within 0.002
        assert abs(np.mean(f1s) - c.random["f1"][pct]) < 4 * se + 0.001, pct
        if pct == 50:   # F1 is not linear in the share: interpolating the two F1s would be visibly off
            lin = c.scores["f1"][0] + c.share[pct] * (c.scores["f1"][-1] - c.scores["f1"][0])
            assert abs(lin - np.mean(f1s)) > 0.01
    # the random line joins the two systems alone
    assert c.random["f1"][0] == c.scores["f1"][0] and c.random["f1"][-1] == c.scores["f1"][-1]


def test_random_curve_is_linear_for_mean_scores():
    rng = np.random.default_rng(5)
    compact = qa_records(list(rng.random(40) < 0.5), list(rng.random(40)))
    fallback = qa_records(list(rng.random(40) < 0.8))
    c = routing.curve(routing.align(compact, fallback, "qa"))
    lin = c.scores["mrr"][0] + c.share * (c.scores["mrr"][-1] - c.scores["mrr"][0])
    assert np.allclose(c.random["mrr"], lin, atol=1e-12)


# ---------------------------------------------------------------- area between the curves

def _informative(n: int, seed: int, shuffle: bool):
    rng = np.random.default_rng(seed)
    ok = rng.random(n) < 0.7
    conf = np.where(ok, 0.5 + 0.5 * rng.random(n), 0.6 * rng.random(n))   # wrong answers mostly less confident
    if shuffle:
        conf = rng.permutation(conf)
    compact = qa_records(list(ok), [float(x) for x in conf])
    fallback = qa_records(list(rng.random(n) < 0.9))
    return routing.align(compact, fallback, "qa")


def test_area_positive_for_informative_confidence_and_about_zero_for_shuffled():
    good = routing.bootstrap_area(_informative(300, 1, False), "mrr", n_samples=400, seed=0)
    bad = routing.bootstrap_area(_informative(300, 1, True), "mrr", n_samples=400, seed=0)
    assert good["value"] > 0.05 and good["ci_low"] > 0 and good["fraction_not_positive"] == 0.0
    assert bad["ci_low"] < 0 < bad["ci_high"]
    assert abs(bad["value"]) < good["value"] / 4


def test_area_by_hand():
    # four examples, compact wrong only on the least confident, fallback right everywhere:
    # confidence curve 0.75, 1, 1, 1, 1 at k = 0..4; random 0.75 + k/16
    compact = qa_records([False, True, True, True], [0.1, 0.5, 0.6, 0.7])
    c = routing.curve(routing.align(compact, qa_records([True] * 4), "qa"))
    # gap between the curves at k = 0..4, joined by trapezoids (repeated shares add nothing)
    s = np.array([0, 0.25, 0.5, 0.75, 1.0])
    gap = np.array([0, 0.25 - 0.0625, 0.25 - 0.125, 0.25 - 0.1875, 0])
    assert routing.area(c, "strict") == pytest.approx(np.trapezoid(gap, s))
    assert routing.area(c, "strict") == pytest.approx(0.09375)


def test_bootstrap_resamples_are_the_documented_draws_and_independent_of_memory(monkeypatch):
    split = _informative(60, 4, False)
    res = routing.bootstrap_area(split, "mrr", n_samples=45, seed=9)
    again = routing.bootstrap_area(split, "mrr", n_samples=45, seed=9)
    assert np.array_equal(res["samples"], again["samples"])
    monkeypatch.setattr(routing, "MAX_ELEMENTS", 1)              # one resample per block
    assert np.array_equal(routing.bootstrap_area(split, "mrr", n_samples=45, seed=9)["samples"], res["samples"])
    # resample 21 (block 1, row 1), rebuilt by hand as a split of its own and scored by the plain curve
    idx = np.random.default_rng([9, 1]).integers(0, split.n, size=(20, split.n))[1]
    ids = [f"{split.ids[i]}-{j}" for j, i in enumerate(idx)]
    hand = routing.Split("qa", ids, split.confidence[idx], split.compact[idx], split.fallback[idx], split.scorer)
    assert res["samples"][21] == pytest.approx(routing.area(routing.curve(hand), "mrr"), abs=1e-12)


# ---------------------------------------------------------------- thresholds: validation -> test

def test_threshold_chosen_on_validation_is_applied_to_test():
    # validation: wrong exactly below confidence 0.4 (3 of 10)
    vconf = [0.1, 0.2, 0.35, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95]
    val = routing.align(qa_records([c > 0.4 for c in vconf], vconf, "v"), qa_records([True] * 10, None, "v"), "qa")
    # test: five examples at or below 0.35, of which only two are wrong, and one wrong above it
    tconf = [0.05, 0.15, 0.3, 0.33, 0.35, 0.5, 0.55, 0.65, 0.75, 0.85, 0.9, 0.97]
    twrong = {0, 2, 6}
    test = routing.align(qa_records([i not in twrong for i in range(12)], tconf, "t"),
                         qa_records([True] * 12, None, "t"), "qa")
    chosen = routing.validation_thresholds(val, test, "strict", [0.99])["99"]
    assert chosen["validation"]["threshold"] == 0.35 and chosen["validation"]["k"] == 3
    assert chosen["validation"]["score"] == 1.0
    t = chosen["test"]
    assert (t["threshold"], t["k"], t["share"]) == (0.35, 5, 5 / 12)
    assert t["score"] == pytest.approx(11 / 12) and t["retained"] == pytest.approx(11 / 12)
    # not chosen on test: the test curve's own smallest share is larger (it must reach the 0.55 example)
    own = routing.targets_on_curve(routing.curve(test), "strict", [0.99])["99"]
    assert own["k"] == 7 and own["threshold"] == 0.55


def test_a_compact_model_already_good_enough_routes_nothing():
    compact = qa_records([True] * 5, [0.1, 0.2, 0.3, 0.4, 0.5])
    split = routing.align(compact, qa_records([True, True, True, True, False]), "qa")
    chosen = routing.validation_thresholds(split, split, "mrr")
    assert chosen["99"]["validation"]["threshold"] is None and chosen["99"]["test"]["k"] == 0
    assert chosen["99"]["test"]["retained"] == pytest.approx(5 / 4)


# ---------------------------------------------------------------- bad input

def test_bad_records_name_the_input():
    comp = qa_records([True, False], [0.2, 0.3])
    del comp[1]["confidence"]
    with pytest.raises(DataError, match=r"^runs/a\.jsonl: record 2: missing field\(s\) confidence"):
        routing.align(comp, qa_records([True, False]), "qa", compact_name="runs/a.jsonl")
    with pytest.raises(DataError, match=r"^A: its example ids differ from those of B: 1 only here \(e.g. \['q1'\]\)"):
        routing.align(qa_records([True, False], [0.2, 0.3]), qa_records([True, False, True])[::2], "qa",
                      compact_name="A", fallback_name="B")
    dup = qa_records([True, True], [0.2, 0.3])
    dup[1]["id"] = "q0"
    with pytest.raises(DataError, match="record 2: duplicate id 'q0'"):
        routing.align(dup, qa_records([True, True]), "qa")
    with pytest.raises(DataError, match="confidence must be a finite number"):
        routing.align(qa_records([True], [float("nan")]), qa_records([True]), "qa")
    with pytest.raises(DataError, match=r"labels \['X'\] are not among the dataset's labels"):
        routing.align([{"id": 1, "gold": "0", "pred": "X", "confidence": 0.5}], [{"id": 1, "gold": "0", "pred": "1"}],
                      "re", labels=["0", "1"])
    with pytest.raises(ValueError, match="metric 'f1' is not defined for task 'qa'"):
        routing.Scorer("qa").score(np.zeros(3), 1, "f1")


def test_ner_can_route_by_the_word_level_confidence():
    comp = [{"id": f"s{i}", "tp": 1, "fp": 0, "fn": int(i == 3), "confidence": 0.9 - i / 100,
             "confidence_word_min": 0.9 if i != 3 else 0.05} for i in range(6)]
    fall = [{"id": f"s{i}", "tp": 1, "fp": 0, "fn": 0} for i in range(6)]
    by_word = routing.align(comp, fall, "ner", confidence_field=routing.CONFIDENCE_WORD_MIN)
    assert by_word.ids[by_word.order[0]] == "s3"              # the missed entity: least sure word
    by_entity = routing.align(comp, fall, "ner")
    assert by_entity.ids[by_entity.order[0]] == "s5"
    assert routing.targets_on_curve(routing.curve(by_word), "f1")["99"]["k"] == 1
    assert routing.targets_on_curve(routing.curve(by_entity), "f1")["99"]["k"] == 3
    with pytest.raises(ValueError, match="confidence field 'confidence_word_min' is not defined for re"):
        routing.align([], [], "re", confidence_field=routing.CONFIDENCE_WORD_MIN)
