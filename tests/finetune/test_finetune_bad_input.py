"""Bad inputs: a clear ValueError naming the file, and nothing written at ``out``."""

import json
import shutil

import pytest

import ft_helpers as H
from compactbio.finetune import stage


def _assert_nothing_written(tmp_path, out):
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.tmp")]


def test_model_folder_without_tokenizer(tmp_path, bert_dir, ner_data):
    model = tmp_path / "model"
    shutil.copytree(bert_dir, model)
    (model / "tokenizer.json").unlink()
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"model.*tokenizer\.json missing"):
        stage.run(H.params(1), "m", "d", 0, model, ner_data[1], ner_data[0], out)
    _assert_nothing_written(tmp_path, out)


def test_model_with_head_for_other_labels(tmp_path, tok, ner_data):
    model = H.build_model(tmp_path / "model", tok, "bert", head="ner", labels=["B-Chem", "I-Chem", "O"])
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"config\.json.*head for labels \['B-Chem', 'I-Chem', 'O'\]"):
        stage.run(H.params(1), "m", "d", 0, model, ner_data[1], ner_data[0], out)
    _assert_nothing_written(tmp_path, out)


def test_model_with_head_for_same_labels_is_fine(tmp_path, tok, ner_data):
    model = H.build_model(tmp_path / "model", tok, "bert", head="ner", labels=["B", "I", "O"])
    stage.run(H.params(1), "m", "d", 0, model, ner_data[1], ner_data[0], tmp_path / "out")
    assert (tmp_path / "out" / "metrics.json").is_file()


def test_tokenized_labels_differ_from_prepared(tmp_path, bert_dir, ner_data):
    data = tmp_path / "data"
    shutil.copytree(ner_data[1], data)
    meta = json.loads((data / "meta.json").read_text())
    meta["labels"] = ["B-Disease", "I-Disease", "O"]
    (data / "meta.json").write_text(json.dumps(meta))
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"meta\.json: labels .* do not match"):
        stage.run(H.params(1), "m", "d", 0, bert_dir, data, ner_data[0], out)
    _assert_nothing_written(tmp_path, out)


def test_stale_tokenized_rows(tmp_path, bert_dir, ner_data):
    prepared = tmp_path / "prepared"
    shutil.copytree(ner_data[0], prepared)
    rows = [json.loads(x) for x in (prepared / "test.jsonl").read_text().splitlines()]
    rows[0]["tags"] = ["O"] * len(rows[0]["tags"])
    rows[0]["tags"][0] = "B" if rows[0]["tags"][0] != "B" else "I"
    H.write_jsonl(prepared / "test.jsonl", rows)
    with pytest.raises(ValueError, match=r"test\.arrow row \d+: label .* does not match"):
        stage.run(H.params(1), "m", "d", 0, bert_dir, ner_data[1], prepared, tmp_path / "out")


def test_golden_file_without_test_questions(tmp_path, tok, bert_dir):
    prepared, data = H.make_dataset(tmp_path, "qa", tok, sizes=(8, 8, 8))
    golden = json.loads((prepared / "golden_test.json").read_text())
    golden.pop(sorted(golden)[0])
    (prepared / "golden_test.json").write_text(json.dumps(golden))
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"golden_test\.json: golden answers missing for 1 of 2 test questions"):
        stage.run(H.params(1), "m", "d", 0, bert_dir, data, prepared, out)
    _assert_nothing_written(tmp_path, out)


def test_data_tokenized_with_another_tokenizer(tmp_path, ner_data):
    small = H.build_tokenizer(tmp_path / "small-tok", ["a"])
    model = H.build_model(tmp_path / "model", small, "bert")
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"meta\.json: tokenized with tokenizer sha256 .*re-run tokenize"):
        stage.run(H.params(1), "m", "d", 0, model, ner_data[1], ner_data[0], out)
    _assert_nothing_written(tmp_path, out)
    # without a recorded hash, token ids beyond the model's vocabulary still stop the job
    data = tmp_path / "data"
    shutil.copytree(ner_data[1], data)
    meta = json.loads((data / "meta.json").read_text())
    meta["tokenizer_sha256"] = ""
    (data / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        stage.run(H.params(1), "m", "d", 0, model, data, ner_data[0], out)
    _assert_nothing_written(tmp_path, out)
