"""``max_train_rows`` / ``max_eval_rows``: the first N examples of a split, and exactly the rows made from them."""

from __future__ import annotations

import pytest

import ft_helpers as H
from compactbio.finetune.inputs import load_inputs, row_limits


@pytest.fixture(scope="module")
def datasets(tmp_path_factory, tok):
    root = tmp_path_factory.mktemp("limits")
    return {task: H.make_dataset(root, task, tok, sizes=(40, 24, 24)) for task in ("ner", "re", "qa")}


def test_row_limits_from_hyperparameters():
    assert row_limits({"max_train_rows": 8, "max_eval_rows": 4}) == {"train": 8, "validation": 4, "test": 4}
    assert row_limits({}) == {"train": None, "validation": None, "test": None}


@pytest.mark.parametrize("task", ["ner", "re", "qa"])
def test_limits_keep_a_prefix_and_its_rows(datasets, task):
    prepared, data = datasets[task]
    full = load_inputs(data, prepared)
    cut = load_inputs(data, prepared, {"train": 5, "validation": 3, "test": None})
    assert cut.examples["test"] == full.examples["test"] and cut.rows["test"] == full.rows["test"]
    for split, n in (("train", 5), ("validation", 3)):
        if task == "qa":   # N questions, with all their snippets
            kept = list(dict.fromkeys(ex["question_id"] for ex in cut.examples[split]))
            assert kept == list(dict.fromkeys(ex["question_id"] for ex in full.examples[split]))[:n]
            assert cut.examples[split] == [ex for ex in full.examples[split] if ex["question_id"] in kept]
        else:
            assert cut.examples[split] == full.examples[split][:n]
        k = len(cut.examples[split])
        link = {"ner": "sentence", "qa": "example"}.get(task)
        if link is None:
            expect = list(range(k))
        else:
            expect = [r for r, e in enumerate(full.rows[split][link]) if e < k]
        assert len(expect) < len(full.rows[split]["input_ids"])
        for col, values in cut.rows[split].items():
            assert values == [full.rows[split][col][r] for r in expect], col
    if task == "qa":
        asked = {ex["question_id"] for ex in cut.examples["validation"]}
        assert set(cut.golden["validation"]) == asked       # scored over the questions kept
        assert cut.golden["test"] == full.golden["test"]
