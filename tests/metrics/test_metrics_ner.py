"""NER entity counting (seqeval's default mode): hand-worked cases, then cross-checks against a
port of conlleval's chunk rules and against seqeval's own corpus counts."""

import random
import warnings

import pytest

from compactbio.metrics.ner import (entities, first_subword_tags, ner_scores, prf, sentence_counts, sort_labels,
                                    subword_sequences, word_and_subword_scores)


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
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # nor seqeval's UndefinedMetricWarning
        assert ner_scores([["B", "O"]], [["O", "O"]]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
        assert ner_scores([["O"], []], [["O"], []]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
        assert ner_scores([], []) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


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


def test_bad_tags_are_errors_not_seqeval_warnings():
    """seqeval only warns about 'X-Dis' or 'b' and then counts them somehow; we refuse them."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for bad in (["B", "b"], ["B-", "O"], ["O", "Dis"]):
            with pytest.raises(ValueError, match="BIO"):
                ner_scores([["B", "O"]], [bad])
    with pytest.raises(ValueError, match="strings"):
        ner_scores([[["B"], ["O"]]], [["B", "O"]])      # sentences nested one level too deep
    with pytest.raises(ValueError, match="sentence 1: gold has 2 tags but prediction has 1"):
        ner_scores([["B"], ["B", "O"]], [["B"], ["B"]])
    with pytest.raises(ValueError, match="2 gold sentences but 1"):
        ner_scores([["B"], ["O"]], [["B"]])


def test_first_subword_gives_the_word_tag():
    # words 0..3; word 2 got no sub-word (a dropped character): O; word 1 takes its first piece
    assert first_subword_tags(4, [-1, 0, 1, 1, 3, -1], ["O", "B", "I", "O", "B", "O"]) == ["B", "I", "O", "B"]
    with pytest.raises(ValueError, match="word id 4"):
        first_subword_tags(4, [0, 4], ["O", "O"])


def test_word_and_subword_scores_hand_worked():
    # sentence 1 as in test_subword_variant_copies_b_onto_pieces; sentence 2: one word, two pieces, found
    gold = [["B", "I", "O"], ["B"]]
    word_ids = [[-1, 0, 0, 1, 2, -1], [-1, 0, 0, -1]]
    pred = [["O", "B", "I", "I", "O", "O"], ["O", "B", "I", "O"]]
    s = word_and_subword_scores(gold, pred, word_ids)
    # word level: [B I O] and [B], both right: 2 of 2
    assert (s["precision"], s["recall"], s["f1"]) == (1.0, 1.0, 1.0)
    # sub-word level: gold [B B I O] + [B B] = 4 entities, pred [B I I O] + [B I] = 2, none right
    assert (s["precision_subword"], s["recall_subword"], s["f1_subword"]) == (0.0, 0.0, 0.0)
    gold2, pred2 = [["B", "O"]], [["O", "B", "I", "O", "O"]]          # "B" word in two pieces, predicted B I
    s2 = word_and_subword_scores(gold2, pred2, [[-1, 0, 0, 1, -1]])
    assert s2["f1"] == 1.0
    assert s2["precision_subword"] == 0.0 and s2["recall_subword"] == 0.0   # gold B B: 2 entities, pred (B I): 1


# ---------------------------------------------------------------- cross-checks
def _conlleval_entities(tags):
    """conlleval's startOfChunk / endOfChunk (conlleval.pl, CoNLL-2000), ported line by line:
    the independent oracle that pins seqeval's default mode to conlleval's counting."""
    def parse(tag):
        return ("O", "") if tag == "O" else (tag.split("-", 1) + [""])[:2]

    def ends(prev, pt, cur, ct):
        return (prev in ("E", "S") or (prev in ("B", "I") and cur in ("B", "S", "O"))
                or (prev != "O" and pt != ct))

    def starts(prev, pt, cur, ct):
        return cur in ("B", "S") or (prev in ("E", "S", "O") and cur in ("E", "I")) or (cur != "O" and pt != ct)

    found, (prev, pt), begin = [], ("O", ""), 0
    for i, tag in enumerate(list(tags) + ["O"]):
        cur, ct = parse(tag)
        if ends(prev, pt, cur, ct) and prev != "O":
            found.append((pt, begin, i))
        if starts(prev, pt, cur, ct):
            begin = i
        prev, pt = cur, ct
    return found


def _conlleval_scores(gold, pred):
    tp = fp = fn = 0
    for g, p in zip(gold, pred):
        ge, pe = set(_conlleval_entities(g)), set(_conlleval_entities(p))
        tp, fp, fn = tp + len(ge & pe), fp + len(pe - ge), fn + len(ge - pe)
    return prf(tp, fp, fn)


TAGSETS = [["B", "I", "O"], ["B-A", "I-A", "B-C", "I-C", "O"], ["S-G", "B-G", "I-G", "E-G", "O", "B-H", "E-H"]]


def _corpus(tagset, seed, n=300):
    rng = random.Random(seed)
    gold = [[rng.choice(tagset) for _ in range(rng.randint(0, 12))] for _ in range(n)]
    pred = [[t if rng.random() < 0.7 else rng.choice(tagset) for t in g] for g in gold]
    return gold, pred


@pytest.mark.parametrize("tagset", TAGSETS)
def test_seqeval_default_mode_counts_as_conlleval(tagset):
    """Same entities, and the same scores to the last digit, as the conlleval port (BIO, typed BIO, BIOES)."""
    gold, pred = _corpus(tagset, 7)
    for g in gold:
        assert entities(g) == _conlleval_entities(g)
    assert ner_scores(gold, pred) == _conlleval_scores(gold, pred)
    for g, p in zip(gold, pred):
        ge, pe = set(_conlleval_entities(g)), set(_conlleval_entities(p))
        assert sentence_counts(g, p) == (len(ge & pe), len(pe - ge), len(ge - pe))


@pytest.mark.parametrize("tagset", TAGSETS)
def test_per_sentence_counts_sum_to_seqeval_corpus_counts(tagset):
    """The bootstrap's records: summed, they are seqeval's corpus counts, and prf() of them gives
    seqeval's corpus scores exactly (the bootstrap's full-sample score equals the reported one)."""
    from seqeval.metrics.sequence_labeling import get_entities, precision_recall_fscore_support

    gold, pred = _corpus(tagset, 11)
    tp, fp, fn = (sum(c) for c in zip(*(sentence_counts(g, p) for g, p in zip(gold, pred))))
    assert tp + fn == len(get_entities(gold))            # seqeval joins the sentences with an O between
    assert tp + fp == len(get_entities(pred))
    *_, support = precision_recall_fscore_support(gold, pred, average="micro")
    assert tp + fn == support
    assert prf(tp, fp, fn) == ner_scores(gold, pred)


def test_subword_scores_are_seqeval_on_the_subword_sequences():
    from seqeval.metrics import f1_score, precision_score, recall_score

    rng = random.Random(3)
    tagset = TAGSETS[1]
    gold, pred, wids = [], [], []
    for _ in range(200):
        n = rng.randint(1, 10)
        gold.append([rng.choice(tagset) for _ in range(n)])
        w = [-1] + [i for i in range(n) for _ in range(rng.randint(1, 3))] + [-1]
        wids.append(w)
        pred.append([rng.choice(tagset) for _ in w])
    s = word_and_subword_scores(gold, pred, wids)
    sub = [subword_sequences(g, w, p) for g, w, p in zip(gold, wids, pred)]
    sg, sp = [g for g, _ in sub], [p for _, p in sub]
    assert s["f1_subword"] == f1_score(sg, sp) and s["precision_subword"] == precision_score(sg, sp)
    assert s["recall_subword"] == recall_score(sg, sp)
    wp = [first_subword_tags(len(g), w, p) for g, w, p in zip(gold, wids, pred)]
    assert s["f1"] == f1_score(gold, wp) and s["f1"] == _conlleval_scores(gold, wp)["f1"]
    assert s["f1"] != s["f1_subword"]
