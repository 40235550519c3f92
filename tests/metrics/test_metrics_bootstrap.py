"""Paired bootstrap on constructed systems whose difference is known."""

import pytest

from compactbio.metrics.bootstrap import paired_bootstrap


def _re_records(n_right, n):
    return [{"id": f"e{i:03d}", "gold": "1" if i % 2 else "0",
             "pred": ("1" if i % 2 else "0") if i < n_right else ("0" if i % 2 else "1")} for i in range(n)]


def test_clearly_better_system_is_significant():
    a, b = _re_records(190, 200), _re_records(100, 200)
    r = paired_bootstrap(a, b, "re", labels=["0", "1"], n_samples=500, seed=1)
    assert r["metric"] == "f1_binary"
    assert r["delta"] > 0.3 and r["significant"] and r["p_value"] < 0.01
    assert r["ci_low"] > 0


def test_identical_systems_not_significant_and_seeded():
    a = _re_records(150, 200)
    r1 = paired_bootstrap(a, list(a), "re", labels=["0", "1"], n_samples=200, seed=3)
    assert r1["delta"] == 0 and not r1["significant"] and r1["p_value"] == 1.0


def test_small_difference_not_significant_and_reproducible():
    # QA: A answers one more question of 40 than B
    a = [{"id": f"q{i}", "strict": float(i < 11), "lenient": float(i < 20), "rr": float(i < 11)} for i in range(40)]
    b = [{"id": f"q{i}", "strict": float(i < 10), "lenient": float(i < 20), "rr": float(i < 10)} for i in range(40)]
    r = paired_bootstrap(a, b, "qa", n_samples=400, seed=5)
    assert r["metric"] == "mrr" and r["delta"] == pytest.approx(1 / 40)
    assert not r["significant"] and r["p_value"] > 0.2
    assert r == paired_bootstrap(a, b, "qa", n_samples=400, seed=5)


def test_ner_counts_and_full_sample_score():
    a = [{"id": i, "tp": 2, "fp": 0, "fn": 0} for i in range(30)]
    b = [{"id": i, "tp": 1, "fp": 1, "fn": 1} for i in range(30)]
    r = paired_bootstrap(a, b, "ner", n_samples=100, seed=0)
    assert r["a"] == 1.0 and r["b"] == pytest.approx(0.5) and r["significant"]


def test_macro_resample_matches_direct_computation():
    from compactbio.metrics.re import re_scores
    gold = ["A", "B", "C", "A", "B", "C", "A"]
    pa = ["A", "B", "B", "A", "C", "C", "B"]
    a = [{"id": i, "gold": g, "pred": p} for i, (g, p) in enumerate(zip(gold, pa))]
    b = [{"id": i, "gold": g, "pred": g} for i, g in enumerate(gold)]
    r = paired_bootstrap(a, b, "re", labels=["A", "B", "C", "D"], n_samples=10, seed=0)
    assert r["metric"] == "f1_macro"
    assert r["a"] == pytest.approx(re_scores(gold, pa, ["A", "B", "C", "D"])["f1_macro"])


def test_mismatched_examples_rejected():
    with pytest.raises(ValueError, match="different examples"):
        paired_bootstrap([{"id": 1, "tp": 1, "fp": 0, "fn": 0}], [{"id": 2, "tp": 1, "fp": 0, "fn": 0}], "ner")
