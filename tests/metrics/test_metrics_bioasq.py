"""BioASQ factoid post-processing and scores on hand-worked questions."""

import pytest

import json
import os
from pathlib import Path

from compactbio.metrics.bioasq import (aligned, bioasq_scores, clean_answer, factoid_scores, normalise_answer,
                                       per_snippet_answers, question_scores, rank_answers, submission)


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
    ranked = rank_answers(cands, top_k=2, max_words=4, cleanup="trim")
    assert ranked[0][0] == "TP53" and ranked[0][1] == pytest.approx(0.5)
    assert ranked[1] == ("MDM2", 0.40)
    assert len(ranked) == 2


def test_right_answer_only_at_rank_three():
    s = question_scores(["MDM2", "p21", "tp53", "ATM"], [["TP53", "p53 protein"]])
    assert s == {"strict": 0.0, "lenient": 1.0, "rr": pytest.approx(1 / 3)}


def test_every_rank_the_file_holds_counts():
    """QuestionAnswerEvaluator.lenientAccuracyForLists / meanReciprocalRankForLists loop over all
    submitted answers: a right answer at rank 6 is lenient-correct with reciprocal rank 1/6."""
    s = question_scores(["a", "b", "c", "d", "e", "TP53"], [["TP53"]])
    assert s == {"strict": 0.0, "lenient": 1.0, "rr": pytest.approx(1 / 6)}
    s = question_scores([[x] for x in "abcdefghi"] + [["tp53"]], [["TP53"]])
    assert s["rr"] == pytest.approx(1 / 10) and s["lenient"] == 1.0


def test_spaces_are_not_trimmed():
    """Task1bData.readExactAnswerArray only lower-cases: ' TP53' and 'TP53' are different answers."""
    assert question_scores(["TP53 "], [["TP53"]])["lenient"] == 0.0
    assert question_scores(["TP53"], [["TP53 "]])["lenient"] == 0.0
    # the real 7B golden file holds "A keystone periodontal pathogen. " (trailing space)
    gold = [["A keystone periodontal pathogen. "]]
    assert question_scores(["a keystone periodontal pathogen."], gold)["strict"] == 0.0
    assert question_scores(["A KEYSTONE periodontal pathogen. "], gold)["strict"] == 1.0


def test_case_is_ignored_unicode_kept():
    assert question_scores(["Α-SYNUCLEIN"], [["α-synuclein"]])["strict"] == 1.0   # Greek capital alpha lowers to α
    assert question_scores(["a-synuclein"], [["α-synuclein"]])["lenient"] == 0.0  # no transliteration
    assert question_scores(["nf-κB"], [["NF-ΚB"]])["strict"] == 1.0


def test_only_the_first_synonym_of_a_submitted_answer_counts():
    """-e 5: Task1bData.readExactAnswerListOfArraysv3 keeps the first element of each submitted list."""
    s = question_scores([["MDM2", "TP53"], ["p21"], ["tp53", "x"]], [["TP53"]])
    assert s == {"strict": 0.0, "lenient": 1.0, "rr": pytest.approx(1 / 3)}
    assert question_scores([[], ["TP53"]], [["TP53"]])["rr"] == pytest.approx(1 / 2)   # an empty list never matches


def test_duplicates_and_synonyms():
    # a repeated wrong answer still takes its rank; the first right one decides
    s = question_scores(["x", "X", "p53"], [["TP53", "p53"], ["MDM2"]])
    assert s == {"strict": 0.0, "lenient": 1.0, "rr": pytest.approx(1 / 3)}
    # any synonym of any golden answer list; a repeated right answer does not add anything
    assert question_scores(["mdm2", "MDM2"], [["TP53"], ["Mdm2", "HDM2"]]) == {"strict": 1.0, "lenient": 1.0, "rr": 1.0}
    # an empty golden synonym matches an empty submitted answer, as String.equals does
    assert question_scores([""], [["", "x"]])["strict"] == 1.0


def test_any_golden_answer_list_counts():
    s = question_scores(["Paris"], [["London"], ["paris", "Paris, France"]])
    assert s["strict"] == 1.0


def test_unanswered_question_stays_in_denominator():
    golden = {"q1": {"answers": [["TP53"]]}, "q2": {"answers": [["BRCA1"]]},
              "q3": {"answers": [["insulin"]]}}
    preds = {"q1": ["tp53"], "q2": ["x", "y", "BRCA1"]}  # q3: no snippet answered
    agg, records = bioasq_scores(preds, golden)  # every factoid question counts
    assert agg["strict"] == pytest.approx(1 / 3)
    assert agg["lenient"] == pytest.approx(2 / 3)
    assert agg["mrr"] == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert [r["id"] for r in records] == ["q1", "q2", "q3"]
    assert records[2] == {"id": "q3", "strict": 0.0, "lenient": 0.0, "rr": 0.0}


def test_aligned_lists_are_what_the_evaluate_module_scores():
    """The stage hands the module every golden question in id order, strings as one-synonym answers,
    unanswered ones empty; scoring those lists gives bioasq_scores' numbers exactly."""
    golden = {"q2": {"answers": [["BRCA1"]]}, "q1": {"answers": [["TP53", "p53"]]}, "q3": {"answers": [["insulin"]]}}
    preds = {"q2": ["x", ["brca1", "y"]], "q1": ["P53"]}
    ids, p, g = aligned(preds, golden)
    assert ids == ["q1", "q2", "q3"]
    assert p == [[["P53"]], [["x"], ["brca1", "y"]], []]
    assert g == [[["TP53", "p53"]], [["BRCA1"]], [["insulin"]]]
    agg, recs = factoid_scores(p, g)
    assert (agg, recs) == (bioasq_scores(preds, golden)[0], [{k: r[k] for k in ("strict", "lenient", "rr")}
                                                             for r in bioasq_scores(preds, golden)[1]])
    assert agg == {"strict": pytest.approx(1 / 3), "lenient": pytest.approx(2 / 3), "mrr": pytest.approx(0.5)}
    with pytest.raises(ValueError, match="2 predicted answer lists but 1"):
        factoid_scores([[], []], [[["a"]]])


def test_prediction_for_unknown_question_is_an_error():
    with pytest.raises(ValueError, match="golden"):
        bioasq_scores({"zz": ["a"]}, {"q1": {"answers": [["a"]]}})


def test_submission_format():
    sub = submission({"q1": ["a", "b"]}, ["q2", "q1"])
    assert sub == {"questions": [{"id": "q1", "type": "factoid", "exact_answer": [["a"], ["b"]], "ideal_answer": ""},
                                 {"id": "q2", "type": "factoid", "exact_answer": [], "ideal_answer": ""}]}


def test_submission_holds_every_golden_question_in_the_shape_the_tool_parses():
    """Task1bData.readData: yesno a string (an array leaves the answer null and accuracyYesNo fails),
    list and factoid arrays of arrays, summary no exact answer; golden order kept."""
    qs = [("y1", "yesno"), ("f1", "factoid"), ("l1", "list"), ("s1", "summary"), ("f2", "factoid")]
    sub = submission({"f1": [["A", "a2"], ["B"]], "f2": ["C"]}, qs)
    assert [(q["id"], q["type"]) for q in sub["questions"]] == qs
    by = {q["id"]: q for q in sub["questions"]}
    assert by["y1"]["exact_answer"] == "" and by["l1"]["exact_answer"] == [] and "exact_answer" not in by["s1"]
    assert by["f1"]["exact_answer"] == [["A", "a2"], ["B"]] and by["f2"]["exact_answer"] == [["C"]]


@pytest.mark.parametrize("text,kept", [
    ("", None), ("x" * 100, "x" * 100), ("x" * 101, None),
    ("TP53.", "TP53."), ("(IL-6", "(IL-6"), (" BRCA1 ", " BRCA1 "),
])
def test_biobert_cleanup_drops_only_empty_and_long(text, kept):
    """transform_nbset2bioasqform.py: `if text == "": pass / elif len(text) > 100: pass`, nothing else."""
    assert clean_answer(text, "biobert") == kept


def test_merged_ranking_biobert_cleanup_keeps_the_full_stop():
    ranked = rank_answers([("TP53.", 0.4), ("tp53.", 0.3), ("TP53", 0.2), ("", 0.9)], top_k=5)
    assert ranked[0] == ("TP53.", pytest.approx(0.7)) and ranked[1] == ("TP53", 0.2) and len(ranked) == 2


def test_per_snippet_answers_keep_snippet_order():
    """The authors' qa.py: answersDict[id].append(answers) per test snippet, top_k=5 spans each."""
    snippets = [[("b", 0.1), ("A", 0.6), ("a", 0.2), ("c", 0.05), ("d", 0.03), ("e", 0.02)],
                [],                                   # a snippet without a span gives no answer
                [("", 0.9), ("Z", 0.1)]]
    out = per_snippet_answers(snippets, per_snippet=5)
    assert out == [["A", "b", "c", "d"], ["Z"]]      # 'a' repeats 'A'; 'e' is sixth; '' is dropped
    s = question_scores(out, [["z"]])
    assert s == {"strict": 0.0, "lenient": 1.0, "rr": 0.5}


@pytest.mark.skipif(not os.environ.get("COMPACTBIO_REAL_DATA"), reason="COMPACTBIO_REAL_DATA not set")
def test_real_7b_golden_scored_like_the_official_tool():
    """On the real 7B golden file: the golden answers themselves score 1; the answer with a trailing
    space matches only itself; a right answer at rank 6 counts for lenient and MRR."""
    from compactbio.data.readers.bioasq import golden_from_file, question_list

    path = Path(os.environ["COMPACTBIO_REAL_DATA"]) / "biobert/datasets/QA/BioASQ/7B_golden.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    factoid = [q for q in doc["questions"] if q["type"] == "factoid"]
    gold = golden_from_file(path, [{"question_id": q["id"]} for q in factoid])
    assert len(gold) == 162
    perfect = {q: [a[0] for a in g["answers"]] for q, g in gold.items()}
    assert bioasq_scores(perfect, gold)[0] == {"strict": 1.0, "lenient": 1.0, "mrr": 1.0}
    sixth = {q: ["w1", "w2", "w3", "w4", "w5", g["answers"][0][0]] for q, g in gold.items()}
    agg = bioasq_scores(sixth, gold)[0]
    assert agg["strict"] == 0.0 and agg["lenient"] == 1.0 and agg["mrr"] == pytest.approx(1 / 6)
    spaced = "5c5f2c0c1a4c55d80b000021"
    assert gold[spaced]["answers"] == [["A keystone periodontal pathogen. "]]
    assert question_scores(["A keystone periodontal pathogen."], gold[spaced]["answers"])["lenient"] == 0.0
    listing = question_list(path)["questions"]
    assert len(listing) == 500 and sum(q["type"] == "factoid" for q in listing) == 162
    sub = submission(perfect, [(q["id"], q["type"]) for q in listing])
    assert {q["id"] for q in sub["questions"]} == {q["id"] for q in doc["questions"]}
