"""The hub-layout mirror: the cache's own layout, each repository's real file set, resolvable offline."""

from __future__ import annotations

import hashlib
import json
import os
import re

import pytest

from compactbio import cli
from compactbio.models import hub_mirror

from .conftest import REPOS


def snapshot(cache, repo):
    folder = hub_mirror.repo_folder(cache, repo)
    commit = (folder / "refs" / "main").read_text()
    return folder, commit, folder / "snapshots" / commit


def test_cache_layout_is_huggingface_hubs(mirror_cache):
    for repo in REPOS:
        folder, commit, snap = snapshot(mirror_cache, repo)
        assert re.fullmatch(r"[0-9a-f]{40}", commit)
        for f in snap.iterdir():
            assert f.is_symlink() and not os.path.isabs(os.readlink(f))
            blob = f.resolve()
            assert blob.parent == (folder / "blobs").resolve()
            data = blob.read_bytes()
            if f.name.endswith((".bin", ".safetensors")):           # LFS files: sha256
                assert blob.name == hashlib.sha256(data).hexdigest()
            else:                                                    # git blob sha1
                assert blob.name == hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_each_repository_has_its_real_file_set(mirror_cache):
    files = {r: sorted(p.name for p in snapshot(mirror_cache, r)[2].iterdir()) for r in REPOS}
    assert files["dmis-lab/biobert-base-cased-v1.1"] == ["config.json", "pytorch_model.bin", "vocab.txt"]
    assert files["huawei-noah/TinyBERT_General_4L_312D"] == ["config.json", "pytorch_model.bin", "vocab.txt"]
    assert files["google/mobilebert-uncased"] == ["config.json", "pytorch_model.bin", "tokenizer.json", "vocab.txt"]
    assert files["distilbert-base-cased"] == ["config.json", "model.safetensors", "pytorch_model.bin",
                                              "tokenizer.json", "tokenizer_config.json", "vocab.txt"]
    bio = json.loads((snapshot(mirror_cache, REPOS[0])[2] / "config.json").read_text())
    assert "model_type" not in bio and bio["vocab_size"] == 28996
    tiny = json.loads((snapshot(mirror_cache, REPOS[1])[2] / "config.json").read_text())
    assert "model_type" not in tiny and {"cell", "emb_size", "pre_trained", "structure", "training"} <= set(tiny)
    assert snapshot(mirror_cache, REPOS[1])[1] == "34707a33cd59a94ecde241ac209bf35103691b43"


def test_state_dict_keys_are_the_repositorys(mirror_cache):
    import torch

    bio = torch.load(snapshot(mirror_cache, REPOS[0])[2] / "pytorch_model.bin", weights_only=True)
    assert all(k.startswith(("bert.", "cls.predictions.", "cls.seq_relationship.")) for k in bio)
    assert "bert.pooler.dense.weight" in bio and "cls.predictions.transform.dense.weight" in bio
    tiny = torch.load(snapshot(mirror_cache, REPOS[1])[2] / "pytorch_model.bin", weights_only=True)
    assert "fit_denses.0.weight" in tiny and tiny["fit_denses.0.weight"].shape[0] == 768


def test_vocabulary_has_real_size_and_special_ids(mirror_cache):
    for repo, size in [(REPOS[0], 28996), (REPOS[1], 30522)]:
        vocab = (snapshot(mirror_cache, repo)[2] / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
        assert len(vocab) == size == len(set(vocab))
        assert [vocab[i] for i in (0, 100, 101, 102, 103)] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    cased = (snapshot(mirror_cache, REPOS[0])[2] / "vocab.txt").read_text(encoding="utf-8").split("\n")
    assert "Gene" in cased and "BRCA1" in cased or "BR" in cased      # learned from --vocab-text, case kept


@pytest.mark.parametrize("by", ["commit", "main"])
def test_hub_functions_resolve_offline(mirror_cache, offline, by):
    from huggingface_hub import hf_hub_download
    from transformers import BertForMaskedLM

    offline(mirror_cache)
    folder, commit, snap = snapshot(mirror_cache, REPOS[0])
    rev = commit if by == "commit" else "main"
    path = hf_hub_download(REPOS[0], "config.json", revision=rev)
    assert os.path.samefile(path, snap / "config.json")
    from compactbio.models.build import read_config
    model = BertForMaskedLM.from_pretrained(REPOS[0], revision=rev, config=read_config(snap, "bert"))
    assert model.config.vocab_size == 28996
    with pytest.raises(Exception):
        hf_hub_download(REPOS[0], "tf_model.h5", revision=rev)          # not mirrored, as not read


def test_refuses_a_cache_it_did_not_write(tmp_path):
    (hub_mirror.repo_folder(tmp_path, REPOS[0]) / "blobs").mkdir(parents=True)
    with pytest.raises(ValueError, match="not written by hub-mirror"):
        hub_mirror.mirror(tmp_path, [REPOS[0]], size="tiny")


def test_cli_and_generic_repository(tmp_path, vocab_text, offline):
    rc = cli.main(["hub-mirror", "someone/unknown-bert", "--cache", str(tmp_path), "--size", "tiny",
                   "--vocab-text", str(vocab_text)])
    assert rc == 0
    offline(tmp_path)
    from compactbio.models.build import load_hub_masked_lm

    model, facts = load_hub_masked_lm("someone/unknown-bert", revision="main")
    assert facts["resolved commit"] == hub_mirror.fake_commit("someone/unknown-bert")
    assert cli.main(["hub-mirror", "x/y", "--cache", str(tmp_path), "--size", "tiny", "--vocab-text",
                     str(tmp_path / "missing.txt")]) == 1


def test_write_mirror_resumes(tmp_path, vocab_text):
    first = hub_mirror.write_mirror(tmp_path, [REPOS[0]], size="tiny", vocab_text=[vocab_text])
    blob = next((hub_mirror.repo_folder(tmp_path, REPOS[0]) / "blobs").iterdir())
    mtime = blob.stat().st_mtime_ns
    again = hub_mirror.write_mirror(tmp_path, [REPOS[0]], size="tiny", vocab_text=[vocab_text])
    assert again == first and blob.stat().st_mtime_ns == mtime
