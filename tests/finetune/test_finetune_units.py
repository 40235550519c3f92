"""Decoding and hyperparameters, checked without training."""

import numpy as np
import pytest

from compactbio.finetune import ner, qa
from compactbio.finetune.hparams import hyperparameters
from compactbio.finetune.inputs import Inputs


def test_learning_rate_by_model_overrides():
    params = {"finetune": {"common": {"warmup_fraction": 0.1, "weight_decay": 0.0, "eval_batch_size": 8,
                                      "max_grad_norm": 1.0, "num_threads": 1},
                           "qa": {"epochs": 1, "batch_size": 2, "learning_rate": 3e-5, "n_best": 5,
                                  "max_answer_tokens": 5, "top_k": 5,
                                  "learning_rate_by_model": {"tinybert": 5e-5}}}}
    assert hyperparameters(params, "qa", "tinybert")["learning_rate"] == 5e-5
    assert hyperparameters(params, "qa", "biobert")["learning_rate"] == 3e-5
    del params["finetune"]["qa"]["n_best"]
    with pytest.raises(ValueError, match="n_best"):
        hyperparameters(params, "qa", "biobert")


def test_ner_decode_rejoins_chunks_and_uses_first_subword():
    # one sentence of 4 words split into two rows; word 1 has two sub-words; word 3 has none
    ex = {"id": "s0", "tokens": ["a", "bb", "c", "d"], "tags": ["B", "I", "O", "B"]}
    rows = {"sentence": [0, 0], "word_ids": [[-1, 0, 1, 1, -1], [-1, 2, -1]], "input_ids": [[0] * 5, [0] * 3]}
    inp = Inputs(task="ner", labels=["B", "I", "O"], data=None, prepared=None,
                 rows={"test": rows}, examples={"test": [ex]})
    # sub-word predictions: word 1's first piece says I, second piece says O
    ev = ner.decode(inp, "test", [["O", "B", "I", "O", "O"], ["O", "O", "O"]])
    assert ev.word_pred == [["B", "I", "O", "O"]]   # word 3 had no sub-word: O
    assert ev.records == [{"id": "s0", "tp": 1, "fp": 0, "fn": 1}]
    assert ev.scores["precision"] == 1.0 and ev.scores["recall"] == 0.5
    # sub-word level: gold B I I O (1 entity), pred B I O O (entity 0-2 != 0-3)
    assert ev.scores["precision_subword"] == 0.0 and ev.scores["recall_subword"] == 0.0


def test_qa_window_spans_respect_context_and_length():
    logits = np.array([[9, 0], [1, 0], [5, 1], [0, 6], [0, 2], [8, 9]], dtype=float)  # (start, end)
    off_s = [-1, 0, 4, 9, 14, -1]   # "abc defg hijk lmno"
    off_e = [-1, 3, 8, 13, 18, -1]
    spans = qa.window_spans(logits, off_s, off_e, n_best=2, max_tokens=2)
    # context tokens 1..4 (0 and 5 lie outside despite high logits); best starts 2 (5) and 1 (1),
    # best ends 3 (6) and 4 (2); of the four pairs only 2..3 is at most 2 tokens long
    assert spans == [(5 + 6, 4, 13)]
    answers = qa.snippet_answers(spans, "abc defg hijk lmno", n_best=5)
    assert answers == [("defg hijk", 1.0)]


def test_qa_snippet_probabilities_softmax():
    ans = qa.snippet_answers([(2.0, 0, 3), (0.0, 4, 8), (1.0, 0, 3)], "abc defg", n_best=5)
    e = np.exp([2.0, 0.0])
    assert [a for a, _ in ans] == ["abc", "defg"]
    assert ans[0][1] == pytest.approx(e[0] / e.sum())


def test_protocol_choices_are_checked():
    from compactbio.finetune.hparams import hyperparameters

    base = {"finetune": {"common": {"warmup_fraction": 0.1, "weight_decay": 0.0, "eval_batch_size": 4,
                                    "max_grad_norm": 1.0, "num_threads": 1},
                         "qa": {"epochs": 1, "batch_size": 2, "learning_rate": 1e-3, "n_best": 5,
                                "max_answer_tokens": 5, "top_k": 5}}}
    hp = hyperparameters(base, "qa", "m")
    assert (hp["select"], hp["scoring"], hp["answer_cleanup"], hp["per_snippet"]) == ("best", "merged", "biobert", 5)
    for key, bad in (("select", "first"), ("scoring", "snippets"), ("answer_cleanup", "strip")):
        params = {"finetune": {**base["finetune"], "qa": {**base["finetune"]["qa"], key: bad}}}
        with pytest.raises(ValueError, match=rf"finetune\.qa\.{key} must be one of"):
            hyperparameters(params, "qa", "m")


def test_cosine_schedule_is_the_hf_trainers():
    """The authors fine-tune with TrainingArguments(lr_scheduler_type="cosine"): ours must give its learning rates."""
    import torch
    from transformers import get_cosine_schedule_with_warmup

    from compactbio.finetune.loop import lr_schedule

    for warmup_fraction, total in ((0.0, 37), (0.1, 50)):
        hp = {"schedule": "cosine", "warmup_fraction": warmup_fraction}
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        ref = get_cosine_schedule_with_warmup(opt, int(warmup_fraction * total), total)
        ours = lr_schedule(hp, total)
        for step in range(total):
            assert abs(ours(step) - ref.lr_lambdas[0](step)) < 1e-12, (warmup_fraction, step)


def test_unknown_schedule_is_an_error():
    import pytest

    from compactbio.finetune.loop import lr_schedule

    assert lr_schedule({"warmup_fraction": 0.0}, 10)(0) == 1.0      # linear when unset
    with pytest.raises(ValueError, match="schedule must be one of linear, cosine"):
        lr_schedule({"schedule": "step", "warmup_fraction": 0.0}, 10)
