"""The fine-tuning stage on rows made by the real tokenize stage (the contract between the two)."""

import json

import pytest

import ft_helpers as H
from compactbio.data import tokenize
from compactbio.finetune import stage
from compactbio.metrics.ner import entities

TOKENIZE = {"max_length": 12, "corpus_max_length": 16, "qa_max_length": 40, "qa_stride": 8, "batch_size": 50}


@pytest.mark.parametrize("task", ["ner", "re", "qa"])
def test_stage_reads_tokenize_output(tmp_path, tok, bert_dir, task):
    prepared, _ = H.make_dataset(tmp_path / "own", task, tok, seed=4, sizes=(40, 16, 16))
    data = tmp_path / "tokenized"
    tokenize.run({"tokenize": TOKENIZE}, bert_dir, prepared, data)
    m = stage.run(H.params(epochs=1), "tiny", "d", 0, bert_dir, data, prepared, tmp_path / "out")
    recs = [json.loads(x) for x in (tmp_path / "out" / "per_example.jsonl").read_text().splitlines()]
    test_rows = [json.loads(x) for x in (prepared / "test.jsonl").read_text().splitlines()]
    if task == "ner":   # max_length 12 splits sentences; every gold entity is still counted once
        assert sum(r["tp"] + r["fn"] for r in recs) == sum(len(entities(ex["tags"])) for ex in test_rows)
    elif task == "re":
        assert [r["gold"] for r in recs] == [ex["label"] for ex in test_rows]
    else:
        assert len(recs) == len({ex["question_id"] for ex in test_rows})
    assert all(0.0 <= v <= 1.0 for v in m["test"].values())
