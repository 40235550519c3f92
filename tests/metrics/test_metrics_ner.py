"""NER entity counting: hand-worked cases, then a cross-check against seqeval."""

import random

import pytest

from compactbio.metrics.ner import (entities, ner_scores, sentence_counts, sort_labels,
                                    subword_sequences)


def test_untyped_bio_entities():
    tags = ["O", "B", "I", "O", "I", "I", "B", "B", "I"]
    # the I after an O (index 4) starts an entity, conlleval style
    assert entities(tags) == [("", 1, 3), ("", 4, 6), ("", 6, 7), ("", 7, 9)]


def test_typed_bio_type_change_starts_new_entity():
    tags = ["B-Dis", "I-Dis", "I-Chem", "O", "B-Chem"]
    assert entities(tags) == [("Dis", 0, 2), ("Chem", 2, 3), ("Chem", 4, 5)]


def test_bioes():
    tags = ["S-G", "B-G", "I-G", "E-G", "O", "E-G", "B-G", "E-G"]
    assert entities(tags) == [("G", 0, 1), ("G", 1, 4), ("G", 5, 6), ("G", 6, 8)]


def test_bad_tag_rejected():
    with pytest.raises(ValueError, match="BIO"):
        entities(["O", "X-Dis"])


def test_counts_and_scores_hand_worked():
    gold = [["B", "I", "O", "B"], ["O", "O"], ["B", "O"]]
    pred = [["B", "I", "O", "O"], ["B", "O"], ["B", "I"]]
    # s1: gold {(0,2),(3,4)} pred {(0,2)} -> tp1 fn1; s2: fp1; s3: gold (0,1) pred (0,2) -> fp1 fn1
    assert [sentence_counts(g, p) for g, p in zip(gold, pred)] == [(1, 0, 1), (0, 1, 0), (0, 1, 1)]
    s = ner_scores(gold, pred)
    assert s["precision"] == pytest.approx(1 / 3)
    assert s["recall"] == pytest.approx(1 / 3)
    assert s["f1"] == pytest.approx(1 / 3)


def test_no_predictions_gives_zero_not_error():
    assert ner_scores([["B", "O"]], [["O", "O"]]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_subword_variant_copies_b_onto_pieces():
    # words: "Crohn" "disease" "is"; "Crohn" -> 2 pieces; specials at both ends
    word_tags = ["B", "I", "O"]
    word_ids = [-1, 0, 0, 1, 2, -1]
    pred = ["O", "B", "I", "I", "O", "O"]
    gold_sw, pred_sw = subword_sequences(word_tags, word_ids, pred)
    assert gold_sw == ["B", "B", "I", "O"]
    assert pred_sw == ["B", "I", "I", "O"]
    # gold at sub-word level holds 2 entities (B, B I); prediction holds 1 (B I I)
    assert sentence_counts(gold_sw, pred_sw) == (0, 1, 2)


def test_label_order():
    assert sort_labels({"O", "I-Dis", "B-Dis", "B-Chem"}) == ["B-Chem", "B-Dis", "I-Dis", "O"]
    assert sort_labels(["I", "O", "B"]) == ["B", "I", "O"]


@pytest.mark.parametrize("tagset", [["B", "I", "O"], ["B-A", "I-A", "B-C", "I-C", "O"]])
def test_agrees_with_seqeval_on_random_sequences(tagset):
    from seqeval import metrics as seqeval   # a test dependency (pyproject [test])
    rng = random.Random(7)
    gold = [[rng.choice(tagset) for _ in range(rng.randint(1, 12))] for _ in range(300)]
    pred = [[t if rng.random() < 0.7 else rng.choice(tagset) for t in g] for g in gold]
    ours = ner_scores(gold, pred)
    assert ours["f1"] == pytest.approx(seqeval.f1_score(gold, pred))
    assert ours["precision"] == pytest.approx(seqeval.precision_score(gold, pred))
    assert ours["recall"] == pytest.approx(seqeval.recall_score(gold, pred))
    from seqeval.metrics.sequence_labeling import get_entities
    for g in gold[:50]:
        theirs = sorted((t if t != "_" else "", s, e + 1) for t, s, e in get_entities(g))
        assert sorted(entities(g)) == theirs
