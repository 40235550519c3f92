"""Fixtures for the table tests (helpers live in report_fakes.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from compactbio.params import resolve

from report.report_fakes import SCORES, TASK_OF, write_prepared, write_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def small_params() -> dict:
    """A resolved params dict with two NER datasets, GAD and BioASQ, four models."""
    return {
        "scale": "demo",
        "grid": {"seeds": [1]},
        "models": {"biobert": {"display": "BioBERT-v1.1"}, "distilbert": {"display": "Distil_BERT & co"},
                   "compactbiobert": {"display": "CompactBioBERT"}, "tinybiobert": {"display": "TinyBioBERT"}},
        "datasets": {"ncbi": {"entity": "Disease", "description": "Disease mentions (50% of abstracts)."},
                     "bc2gm": {"entity": "Gene/protein", "description": "Genes."},
                     "gad": {"description": "Gene-disease."},
                     "bioasq": {"description": "Factoid QA."}},
        "tables": {
            "style": {"decimals": 2, "best": "bold", "second": "underline", "bootstrap_samples": 200,
                      "dataset_names": {"ncbi": "NCBI disease"}},
            "table1": {"title": "Datasets", "kind": "datasets", "datasets": ["ncbi", "gad", "bioasq"]},
            "table2": {"title": "NER scores", "kind": "scores", "task": "ner",
                       "models": ["distilbert", "compactbiobert", "tinybiobert", "biobert"],
                       "datasets": ["ncbi", "bc2gm"],
                       "footnotes": [{"model": "tinybiobert", "text": "Tiny is 15M."}, "Plain note."]},
            "table3": {"title": "NER without BioBERT", "kind": "scores", "task": "ner",
                       "models": ["distilbert", "tinybiobert"], "datasets": ["ncbi"]},
            "table4": {"title": "RE scores", "kind": "scores", "task": "re",
                       "models": ["distilbert", "compactbiobert", "biobert"], "datasets": ["gad"]},
            "table6": {"title": "QA scores", "kind": "scores", "task": "qa",
                       "models": ["distilbert", "compactbiobert", "biobert"], "datasets": ["bioasq"]},
            "reported": {"title": "Ours vs paper", "kind": "reported", "tables": ["table2", "table4", "table6"]},
            "retention": {"title": "Retention", "kind": "retention", "reference": "biobert",
                          "models": ["compactbiobert", "tinybiobert"], "tables": ["table2", "table4", "table6"]},
        },
    }


@pytest.fixture
def small_runs(tmp_path: Path) -> Path:
    runs = tmp_path / "runs"
    for model, per in SCORES.items():
        for dataset, score in per.items():
            write_run(runs, model, dataset, 1, TASK_OF[dataset], score)
    prepared = tmp_path / "prepared"
    write_prepared(prepared, "ncbi", "ner", {"train": 5424, "validation": 923, "test": 940})
    write_prepared(prepared, "gad", "re", {"train": 4264, "validation": 533, "test": 533})
    write_prepared(prepared, "bioasq", "qa", {"train": 5000, "validation": 500, "test": 600})
    return runs


@pytest.fixture
def real_params() -> dict:
    """The project's params.yaml, resolved for the demo scale (schema not needed here)."""
    with open(ROOT / "params.yaml", encoding="utf-8") as f:
        return resolve(yaml.safe_load(f))
