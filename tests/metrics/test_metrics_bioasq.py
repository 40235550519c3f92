"""BioASQ factoid post-processing and scores on hand-worked questions."""

import pytest

from compactbio.metrics.bioasq import (bioasq_scores, normalise_answer, question_scores,
                                       rank_answers, submission)


@pytest.mark.parametrize("raw,clean", [
    ("  BRCA1. ", "BRCA1"),
    ("(IL-6", "IL-6"),
    ("IL-6)", "IL-6"),
    ("(IL-6)", "IL-6"),
    ("interleukin 6 (IL-6)", "interleukin 6 (IL-6)"),
    ("\"Na+\",", "Na+"),
    ("5%", "5%"),
    (" ( ). ", ""),
])
def test_normalise(raw, clean):
    assert normalise_answer(raw) == clean


def test_rank_merges_case_insensitive_duplicates_by_summing():
    cands = [("TP53", 0.30), ("p53.", 0.25), ("tp53", 0.20), ("MDM2", 0.40), ("", 0.9),
             ("a very long answer of many words", 0.8)]
    ranked = rank_answers(cands, top_k=2, max_words=4)
    assert ranked[0][0] == "TP53" and ranked[0][1] == pytest.approx(0.5)
    assert ranked[1] == ("MDM2", 0.40)
    assert len(ranked) == 2


def test_right_answer_only_at_rank_three():
    s = question_scores(["MDM2", "p21", "tp53", "ATM"], [["TP53", "p53 protein"]])
    assert s == {"strict": 0.0, "lenient": 1.0, "rr": pytest.approx(1 / 3)}


def test_beyond_top_k_does_not_count():
    s = question_scores(["a", "b", "c", "d", "e", "TP53"], [["TP53"]], top_k=5)
    assert s == {"strict": 0.0, "lenient": 0.0, "rr": 0.0}


def test_any_golden_answer_list_counts():
    s = question_scores(["Paris"], [["London"], ["paris", "Paris, France"]])
    assert s["strict"] == 1.0


def test_unanswered_question_stays_in_denominator():
    golden = {"q1": {"answers": [["TP53"]]}, "q2": {"answers": [["BRCA1"]]},
              "q3": {"answers": [["insulin"]]}}
    preds = {"q1": ["tp53"], "q2": ["x", "y", "BRCA1"]}  # q3: no snippet answered
    agg, records = bioasq_scores(preds, golden)
    assert agg["strict"] == pytest.approx(1 / 3)
    assert agg["lenient"] == pytest.approx(2 / 3)
    assert agg["mrr"] == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert [r["id"] for r in records] == ["q1", "q2", "q3"]
    assert records[2] == {"id": "q3", "strict": 0.0, "lenient": 0.0, "rr": 0.0}


def test_prediction_for_unknown_question_is_an_error():
    with pytest.raises(ValueError, match="golden"):
        bioasq_scores({"zz": ["a"]}, {"q1": {"answers": [["a"]]}})


def test_submission_format():
    sub = submission({"q1": ["a", "b"]}, ["q2", "q1"])
    assert sub == {"questions": [{"id": "q1", "exact_answer": [["a"], ["b"]], "ideal_answer": ""},
                                 {"id": "q2", "exact_answer": [], "ideal_answer": ""}]}
