"""Every dataset in COMPACTBIO_REAL_DATA read with the paper params; counts from its README.

Note on PubMed: README says 724 abstracts, which is ``wc -l`` of a file whose
last abstract has no final newline; the file holds 725 non-empty lines, each a
full abstract (>= 999 characters), and the reader keeps the last one.
"""

import shutil

import pytest

from compactbio.data import prepare
from compactbio.io import read_json, read_jsonl

pytestmark = pytest.mark.realdata

NER = {  # README table: sentences / B-mentions per split
    "ncbi-disease": ((5424, 5134), (923, 787), (940, 960)),
    "bc5cdr-disease": ((4560, 4182), (4581, 4246), (4797, 4424)),
    "bc5cdr-chem": ((4560, 5203), (4581, 5347), (4797, 5385)),
    "bc2gm": ((12574, 15197), (2519, 3061), (5038, 6325)),
    "jnlpba": ((14690, 32178), (3856, 8575), (3856, 6241)),
}


def present(real, params, name):
    ds = params["datasets"][name]
    folder = real / ds["source"] / ds["path"]
    if not folder.exists():
        pytest.skip(f"{folder} not in the real-data folder")
    return real / ds["source"]


@pytest.mark.parametrize("name", sorted(NER))
def test_ner_counts(real_data, paper_params, tmp_path, name):
    prepare.run(paper_params, name, present(real_data, paper_params, name), tmp_path / name)
    meta = read_json(tmp_path / name / "meta.json")
    expect = NER[name]
    assert [meta["splits"][s] for s in ("train", "validation", "test")] == [e[0] for e in expect]
    assert [meta["mentions"][s] for s in ("train", "validation", "test")] == [e[1] for e in expect]
    assert meta["labels"] == ["B", "I", "O"]


def test_gad_pooled_5330(real_data, paper_params, tmp_path):
    prepare.run(paper_params, "gad", present(real_data, paper_params, "gad"), tmp_path / "gad")
    meta = read_json(tmp_path / "gad/meta.json")
    assert sum(meta["splits"].values()) == 4796 + 534 == 5330
    assert meta["splits"]["test"] == 533  # round(0.1 * 5330)
    kfold = {**paper_params, "datasets": {"gad": {**paper_params["datasets"]["gad"],
                                                   "split": {"mode": "kfold", "fold": 1, "validation_fraction": 0.1, "seed": 13}}}}
    prepare.run(kfold, "gad", real_data / "biobert", tmp_path / "k")
    meta = read_json(tmp_path / "k/meta.json")
    assert meta["splits"]["test"] == 534 and meta["splits"]["train"] + meta["splits"]["validation"] == 4796


def test_chemprot_counts(real_data, paper_params, tmp_path):
    prepare.run(paper_params, "chemprot", present(real_data, paper_params, "chemprot"), tmp_path / "cp")
    meta = read_json(tmp_path / "cp/meta.json")
    assert meta["splits"] == {"train": 4169, "validation": 2427, "test": 3469}
    assert len(meta["labels"]) == 13


def test_bioasq_counts(real_data, paper_params, tmp_path):
    prepare.run(paper_params, "bioasq7b", present(real_data, paper_params, "bioasq7b"), tmp_path / "qa")
    meta = read_json(tmp_path / "qa/meta.json")
    assert meta["splits"]["train"] + meta["splits"]["validation"] == 4231
    assert meta["splits"]["test"] == 512
    golden = read_json(tmp_path / "qa/golden_test.json")
    assert len(golden) == 162 == meta["questions"]["test"]
    rows = read_jsonl(tmp_path / "qa/validation.jsonl")
    assert set(read_json(tmp_path / "qa/golden_validation.json")) == {r["question_id"] for r in rows}


def test_pubmed_sample(real_data, paper_params, tmp_path):
    params = {**paper_params, "datasets": {"pubmed": {"source": "pubmed", "format": "corpus", "path": "."}}}
    prepare.run(params, "pubmed", real_data / "pubmed", tmp_path / "pm")
    assert read_json(tmp_path / "pm/meta.json")["documents"] == 725


def test_unseen_copy_via_params(real_data, paper_params, tmp_path):
    """A copy of a real NER folder under a name no code knows, read through params alone."""
    src = real_data / "biobert/datasets/NER/NCBI-disease"
    if not src.exists():
        pytest.skip("NCBI-disease not present")
    dst = tmp_path / "raw/datasets/NER/Unseen-Corpus"
    shutil.copytree(src, dst)
    params = {"datasets": {"unseen": {"source": "x", "format": "biobert_ner", "path": "datasets/NER/Unseen-Corpus"}}}
    prepare.run(params, "unseen", tmp_path / "raw", tmp_path / "out")
    assert read_json(tmp_path / "out/meta.json")["mentions"] == {"train": 5134, "validation": 787, "test": 960}


def test_every_dataset_folder_in_real_data_reads(real_data, tmp_path):
    """Discovers NER and GAD folders present on disk (not a fixed list) and reads each."""
    ner_root = real_data / "biobert/datasets/NER"
    names = sorted(p.name for p in ner_root.iterdir() if (p / "train.tsv").exists()) if ner_root.exists() else []
    params = {"datasets": {n: {"format": "biobert_ner", "path": f"datasets/NER/{n}"} for n in names}}
    folds = sorted((real_data / "biobert/datasets/RE/GAD").glob("[0-9]*"))
    for f in folds:
        params["datasets"][f"gad{f.name}"] = {"format": "gad", "path": "datasets/RE/GAD",
                                             "split": {"mode": "kfold", "fold": int(f.name)}}
    for name in params["datasets"]:
        prepare.run(params, name, real_data / "biobert", tmp_path / name)
        assert all(n > 0 for n in read_json(tmp_path / name / "meta.json")["splits"].values())
