"""RE scores on hand-worked cases (values checked by hand, and equal to sklearn's)."""

import pytest

from compactbio.metrics.re import re_scores


def test_binary_gad():
    gold = ["1", "1", "0", "0", "1"]
    pred = ["1", "0", "1", "0", "1"]
    s = re_scores(gold, pred, ["0", "1"])
    # positive class: tp 2, fp 1, fn 1 -> P = R = F1 = 2/3
    assert s["f1_binary"] == pytest.approx(2 / 3)
    assert s["f1"] == s["f1_binary"]
    # class 0: tp 1, fp 1, fn 1 -> 1/2; macro = (2/3 + 1/2) / 2
    assert s["f1_macro"] == pytest.approx((2 / 3 + 0.5) / 2)
    assert s["f1_micro"] == pytest.approx(3 / 5)


def test_macro_over_labels_present_in_gold_or_pred():
    labels = ["A", "B", "C", "D"]   # D occurs nowhere: not averaged
    gold = ["A", "A", "B", "B"]
    pred = ["A", "C", "B", "B"]     # C is predicted but never gold: F1 0, averaged
    s = re_scores(gold, pred, labels)
    f_a = 2 * 1 / (2 * 1 + 0 + 1)   # tp1 fp0 fn1 -> 2/3
    f_b = 1.0
    assert s["f1_macro"] == pytest.approx((f_a + f_b + 0.0) / 3)
    assert s["f1"] == s["f1_macro"]
    assert "f1_binary" not in s
    assert s["f1_micro"] == pytest.approx(3 / 4)


def test_length_mismatch():
    with pytest.raises(ValueError):
        re_scores(["0"], ["0", "1"], ["0", "1"])
