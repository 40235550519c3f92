"""A few fine-tuning steps on slices of the real NCBI-disease, GAD, ChemProt and BioASQ 7b.

Checks that scores are computed on the real label sets and the real golden
file, not what they are (a tiny random model learns nothing in a few steps).
Data go through the real prepare and tokenize stages, then are sliced.
"""

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

import ft_helpers as H
from compactbio.finetune import stage
from compactbio.metrics.re import re_scores
from compactbio.params import resolve

pytestmark = pytest.mark.realdata
prepare = pytest.importorskip("compactbio.data.prepare")
tokenize = pytest.importorskip("compactbio.data.tokenize")

ROOT = Path(__file__).resolve().parents[2]
SOURCE = {"ncbi-disease": "biobert", "gad": "biobert", "bioasq7b": "biobert", "chemprot": "chemprot"}
ROWS = {"train": 48, "validation": 24, "test": 32}
QUESTIONS = {"train": 12, "validation": 6, "test": 10}


def _params() -> dict:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params = resolve(raw, "demo")
    params["finetune"] = H.params(epochs=1)["finetune"]
    params["tokenize"] = {"max_length": 64, "qa_max_length": 96, "qa_stride": 32, "batch_size": 200,
                          "corpus_max_length": 64}
    return params


def _slice(src: Path, dst: Path, task: str) -> None:
    """The first rows (QA: the first questions) of every split, golden files cut to match."""
    dst.mkdir(parents=True)
    meta = json.loads((src / "meta.json").read_text())
    for split in ("train", "validation", "test"):
        rows = [json.loads(x) for x in (src / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]
        if task == "qa":
            keep = list(dict.fromkeys(r["question_id"] for r in rows))[:QUESTIONS[split]]
            rows = [r for r in rows if r["question_id"] in keep]
            if split != "train":
                golden = json.loads((src / f"golden_{split}.json").read_text(encoding="utf-8"))
                (dst / f"golden_{split}.json").write_text(json.dumps({q: golden[q] for q in keep}))
        else:
            rows = rows[:ROWS[split]]
        H.write_jsonl(dst / f"{split}.jsonl", rows)
        meta["splits"][split] = len(rows)
    if (src / "golden_questions.json").is_file():   # QA: every golden question, for the full submission
        (dst / "golden_questions.json").write_bytes((src / "golden_questions.json").read_bytes())
    (dst / "meta.json").write_text(json.dumps(meta))


def _words(prepared: Path) -> list[str]:
    counts = Counter()
    for split in ("train", "validation", "test"):
        for line in (prepared / f"{split}.jsonl").read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            text = " ".join(r["tokens"]) if "tokens" in r else r.get("text") or f"{r['question']} {r['context']}"
            counts.update(text.replace("(", " ").replace(")", " ").split())
    return [w for w, _ in counts.most_common(400)]


@pytest.fixture(scope="module")
def params():
    return _params()


@pytest.mark.parametrize("dataset", ["ncbi-disease", "gad", "chemprot", "bioasq7b"])
def test_real_dataset_slice(tmp_path, real_data, params, dataset):
    full, prepared = tmp_path / "full", tmp_path / "prepared"
    prepare.run(params, dataset, real_data / SOURCE[dataset], full)
    meta = json.loads((full / "meta.json").read_text())
    _slice(full, prepared, meta["task"])
    tok = H.build_tokenizer(tmp_path / "tok", _words(prepared))
    model = H.build_model(tmp_path / "model", tok, "bert")
    data = tmp_path / "tokenized"
    tokenize.run(params, model, prepared, data)
    out = tmp_path / "out"
    m = stage.run(params, "tiny", dataset, 0, model, data, prepared, out)
    recs = [json.loads(x) for x in (out / "per_example.jsonl").read_text().splitlines()]
    if dataset == "ncbi-disease":
        assert meta["labels"] == ["B", "I", "O"]
        conll = [ln.split(" ") for ln in (out / "predictions.conll").read_text().splitlines() if ln]
        assert {c[1] for c in conll} <= {"B", "I", "O"} and {c[2] for c in conll} <= {"B", "I", "O"}
        assert sum(r["tp"] + r["fn"] for r in recs) > 0    # real mentions in the slice were counted
        assert "f1_subword" in m["test"]
    elif dataset == "gad":
        assert meta["labels"] == ["0", "1"]
        assert m["test"]["f1"] == m["test"]["f1_binary"]
    elif dataset == "chemprot":
        assert len(meta["labels"]) == 13 and "f1_binary" not in m["test"]
        assert {r["gold"] for r in recs} | {r["pred"] for r in recs} <= set(meta["labels"])
        again = re_scores([r["gold"] for r in recs], [r["pred"] for r in recs], meta["labels"])
        assert m["test"]["f1"] == pytest.approx(again["f1_macro"])
    else:
        golden = json.loads((prepared / "golden_test.json").read_text())
        assert len(golden) == QUESTIONS["test"] and all(g["answers"] and g["answers"][0] for g in golden.values())
        sub = json.loads((out / "predictions.json").read_text())
        # all 500 questions of 7B_golden.json in its order (162 factoid), as the official tool wants them
        full_golden = json.loads((real_data / "biobert/datasets/QA/BioASQ/7B_golden.json").read_text())
        assert [(q["id"], q["type"]) for q in sub["questions"]] == \
            [(q["id"], q["type"]) for q in full_golden["questions"]]
        answered = {q["id"] for q in sub["questions"] if q["type"] == "factoid" and q["exact_answer"]}
        assert answered <= set(golden) and sorted(golden) == [r["id"] for r in recs]
        assert {"strict", "lenient", "mrr", "mrr_authors", "mrr_merged"} <= set(m["test"])
        assert set(m["baseline"]) == {"strict", "lenient", "mrr"}
        return
    assert set(m["baseline"]) == set(m["test"])
