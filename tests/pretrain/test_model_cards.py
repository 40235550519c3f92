"""The pre-training stages write clean model folders whose cards carry Hub metadata and lineage."""

from __future__ import annotations

import logging
import shutil

import torch
from safetensors.torch import load_file

from compactbio.distill import stage as distill
from compactbio.models import card
from compactbio.pretrain import base
from compactbio.pretrain import continual

FILES = ["README.md", "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt"]


def meta(folder):
    from huggingface_hub import ModelCard

    return ModelCard.load(folder / "README.md").data.to_dict()


def snapshot_of(src, dest, hub_id, license="apache-2.0"):
    """A copy of ``src`` whose card says it is the hub model ``hub_id`` (as the base-model stage writes it)."""
    shutil.copytree(src, dest)
    card.write(card.pretrained_card(model=dest.name, title="t", made_by="hub snapshot", summary="s", arch="bert",
                                    scale="paper", license=license, base_model=hub_id, hub_id=hub_id), dest)
    return dest


def test_demo_base_model_folder_and_card(assets, params, tmp_path):
    params["pretrain"]["base"]["teacher"]["license"] = "apache-2.0"
    params["pretrain"]["base"]["teacher"]["mlm"]["steps"] = 4
    out = tmp_path / "teacher"
    base.run(params, "teacher", assets["tok"], assets["corpus"], out, tmp_path / "work")
    assert sorted(p.name for p in out.iterdir()) == FILES
    from transformers import AutoTokenizer

    vocab = AutoTokenizer.from_pretrained(str(out)).get_vocab()
    assert (out / "vocab.txt").read_text().splitlines() == sorted(vocab, key=vocab.get)
    m = meta(out)
    assert m["pipeline_tag"] == "fill-mask" and m["license"] == "apache-2.0" and "demo" in m["tags"]
    assert "base_model" not in m and "datasets" not in m          # built from scratch on synthetic data
    assert m["compactbio"]["model"] == "teacher" and "hub_id" not in m["compactbio"]
    assert str(assets["root"]) not in (out / "README.md").read_text() and str(tmp_path) not in (out / "README.md").read_text()


def test_continual_names_the_hub_model_of_its_init_and_license_changes_do_not_retrain(assets, params, tmp_path,
                                                                                    caplog):
    init = snapshot_of(assets["teacher"], tmp_path / "distilbert", "distilbert/distilbert-base-cased")
    params["scale"] = "paper"
    cfg = params["pretrain"]["continual"]["biocontinual"]
    cfg["init"], cfg["license"] = "distilbert", "mit"
    work = tmp_path / "w"
    continual.run(params, "biocontinual", init, assets["corpus"], tmp_path / "a", work)
    m = meta(tmp_path / "a")
    assert m["base_model"] == "distilbert/distilbert-base-cased" and m["license"] == "mit"
    assert m["datasets"] == [assets["corpus"].name] and "demo" not in m["tags"]
    text = (tmp_path / "a" / "README.md").read_text()
    assert "**init**: distilbert (distilbert/distilbert-base-cased)" in text and str(tmp_path) not in text
    # A license is card-only: the finished checkpoint is reused (no retraining), only the card changes.
    cfg["license"] = "apache-2.0"
    with caplog.at_level(logging.WARNING):
        continual.run(params, "biocontinual", init, assets["corpus"], tmp_path / "b", work)
    assert "starting afresh" not in caplog.text
    a, b = load_file(str(tmp_path / "a" / "model.safetensors")), load_file(str(tmp_path / "b" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert meta(tmp_path / "b")["license"] == "apache-2.0"


def test_distilled_student_names_its_teachers_hub_model(assets, params, tmp_path):
    teacher = snapshot_of(assets["teacher"], tmp_path / "biobert_v12", "dmis-lab/biobert-base-cased-v1.2")
    cfg = params["pretrain"]["distill"]["distilbiobert"]
    cfg["teacher"], cfg["license"] = "biobert_v12", "mit"
    out = tmp_path / "distilbiobert"
    distill.run(params, "distilbiobert", teacher, assets["corpus"], out, tmp_path / "w")
    assert sorted(p.name for p in out.iterdir()) == FILES
    m = meta(out)
    assert m["base_model"] == "dmis-lab/biobert-base-cased-v1.2" and m["license"] == "mit"
    assert "distillation" in m["tags"] and m["compactbio"]["made_by"] == "knowledge distillation"
    # and a student of that student has no hub model to name: its teacher was made here
    params["pretrain"]["distill"]["second"] = dict(cfg, teacher="distilbiobert")
    distill.run(params, "second", out, assets["corpus"], tmp_path / "second", tmp_path / "w2")
    assert "base_model" not in meta(tmp_path / "second")
