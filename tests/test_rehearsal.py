"""`compactbio rehearsal`: scale: paper offline, on local data and a hub-layout mirror, with the work capped."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from compactbio.params import load_params, resolve
from compactbio.workflow import graph
from compactbio.workflow.rehearsal import available_datasets, rehearsal_params


def fake_data(root: Path) -> Path:
    """The layout of the real copies, holding NCBI-disease, GAD, ChemProt and the PubMed sample only."""
    for d in ("biobert/datasets/NER/NCBI-disease", "biobert/datasets/RE/GAD", "chemprot", "pubmed"):
        (root / d).mkdir(parents=True)
    (root / "pubmed" / "sample.txt").write_text("An abstract.\n")
    return root


def test_rehearsal_params_keep_paper_scale_and_cut_the_grid_to_the_data(tmp_path, raw_params):
    data = fake_data(tmp_path / "data")
    assert sorted(available_datasets(raw_params, data)) == ["chemprot", "gad", "ncbi-disease", "pubmed"]
    raw_params["task_distill"]["dataset"] = "ncbi-disease"
    p = rehearsal_params(raw_params, data)
    assert p["scale"] == "paper" and p["rehearsal"]["enabled"]
    assert p["grid"]["ner"] == ["ncbi-disease"] and p["grid"]["re"] == ["gad", "chemprot"] and p["grid"]["qa"] == []
    assert p["sources"]["biobert"] == {"path": str((data / "biobert").resolve())}
    assert p["sources"]["pubmed"] == {"path": str((data / "pubmed").resolve())}
    assert "table6" not in p["tables"] and "table6" not in p["tables"]["reported"]["tables"]
    assert p["tables"]["table2"]["datasets"] == ["ncbi-disease"]
    # everything else is the paper's: models, recipes, tokenizers, hub ids
    res, paper = resolve(p), resolve({**raw_params, "scale": "paper"})
    assert res["pretrain"]["base"]["biobert"]["hub"] == paper["pretrain"]["base"]["biobert"]["hub"]
    assert res["pretrain"]["distill"]["tinybiobert"]["student"] == paper["pretrain"]["distill"]["tinybiobert"]["student"]
    assert res["tokenize"] == paper["tokenize"]
    path = tmp_path / "params.yaml"
    import yaml

    path.write_text(yaml.safe_dump(p, sort_keys=False))
    load_params(path)   # valid


def test_no_corpus_copy_is_a_clear_error(tmp_path, raw_params):
    data = tmp_path / "data"
    (data / "biobert").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="pre-training corpus 'pubmed'"):
        rehearsal_params(raw_params, data)


@pytest.mark.slow
@pytest.mark.realdata
def test_table6_rehearsal_at_paper_dimensions(real_data, tmp_path):
    """Every rule kind of Table 6 at paper size: hub snapshots, the three distillation recipes, QA fine-tunes."""
    work = tmp_path / "rehearsal"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    proc = subprocess.run(["compactbio", "rehearsal", "--data", str(real_data), "--work", str(work), "table6"],
                          capture_output=True, text=True, env=env, cwd=graph_root())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((work / "rehearsal.json").read_text())
    assert summary["returncode"] == 0 and summary["jobs"] > 10
    models = summary["models"]
    assert models["biobert"] == {"model_type": "bert", "hidden_size": 768, "num_hidden_layers": 12, "vocab_size": 28996}
    assert models["distilbiobert"]["num_hidden_layers"] == 6 and models["distilbiobert"]["hidden_size"] == 768
    assert models["compactbiobert"]["num_hidden_layers"] == 6
    assert models["tinybiobert"]["num_hidden_layers"] == 4 and models["tinybiobert"]["hidden_size"] == 312
    assert models["distilbert"]["model_type"] == "distilbert" and models["distilbert"]["dim"] == 768
    # the cased vocabulary stays cased
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(work / "models" / "biobert"))
    assert tok("Gene")["input_ids"] != tok("gene")["input_ids"]
    # the distillation runs trained their capped steps and wrote checkpoints
    for m in ("distilbiobert", "compactbiobert", "tinybiobert"):
        log = (work / "runs" / "pretrain" / m / "train_log.csv").read_text().splitlines()
        assert [row.split(",")[0] for row in log[1:]] == ["1", "2"], m
    for m in ("distilbert", "distilbiobert", "compactbiobert", "tinybiobert", "biobert"):
        metrics = json.loads((work / "runs" / "finetune" / m / "bioasq7b" / "seed42" / "metrics.json").read_text())
        assert set(metrics["test"]) >= {"strict", "lenient", "mrr"}
    table = (work / "results" / "tables" / "table6.md").read_text()
    assert "Rehearsal" in table and "BioASQ" in table


def graph_root() -> Path:
    return Path(graph.__file__).resolve().parents[3]
