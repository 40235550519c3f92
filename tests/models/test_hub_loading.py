"""Hub models load as paper scale needs them: real stages on a mirror and on hand-made hub caches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from compactbio.data import tokenizer as tok_stage
from compactbio.models import build, hub_mirror
from compactbio.pretrain import base

from .conftest import REPOS

ARCH = {"dmis-lab/biobert-base-cased-v1.1": ("bert", False), "huawei-noah/TinyBERT_General_4L_312D": ("bert", True),
        "google/mobilebert-uncased": ("mobilebert", True), "distilbert-base-cased": ("distilbert", False)}
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "Gene", "gene", "G", "g", "##ene", "the"]
TINY = {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32,
        "max_position_embeddings": 64}


def params(hub, arch="bert", lowercase=False, revision=None):
    return {"pretrain": {"engine": {"seed": 0}, "base": {"m": {
        "hub": hub, "revision": revision, "arch": arch, "config": None,
        "tokenizer": {"lowercase": lowercase, "vocab_size": 100}, "mlm": {"steps": 0}}}},
        "tokenize": {"corpus_max_length": 64}}


def stages(p, tmp_path):
    """The tokenizer stage, then the base-model stage, as the pipeline runs them."""
    tok_stage.run(p, "m", tmp_path / "no-corpus", tmp_path / "tok")
    base.run(p, "m", tmp_path / "tok", tmp_path / "no-corpus", tmp_path / "model", tmp_path / "work")
    return tmp_path / "tok", tmp_path / "model"


def encode(folder, text):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))(text, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("repo", REPOS)
def test_stages_run_on_the_mirror(mirror_cache, offline, tmp_path, repo):
    from transformers import AutoModelForMaskedLM

    offline(mirror_cache)
    arch, lower = ARCH[repo]
    tok, model = stages(params(repo, arch, lower, "main"), tmp_path)
    assert (encode(tok, "Gene") == encode(tok, "gene")) is lower
    card = (model / "README.md").read_text()
    commit = (hub_mirror.repo_folder(mirror_cache, repo) / "refs" / "main").read_text()
    assert commit in card and repo in card
    assert sorted(p.name for p in model.iterdir()) == ["README.md", "config.json", "model.safetensors",
                                                       "tokenizer.json", "tokenizer_config.json", "vocab.txt"]
    # vocab.txt rebuilt from tokenizer.json is the hub repository's own, line for line.
    snap = hub_mirror.repo_folder(mirror_cache, repo) / "snapshots" / commit
    assert (model / "vocab.txt").read_text().splitlines() == (snap / "vocab.txt").read_text().splitlines()
    from huggingface_hub import ModelCard

    meta = ModelCard.load(model / "README.md").data.to_dict()
    assert meta["base_model"] == repo and meta["compactbio"]["hub_id"] == repo
    assert meta["pipeline_tag"] == "fill-mask" and meta["library_name"] == "transformers"
    net = AutoModelForMaskedLM.from_pretrained(str(model))                 # exported: has model_type now
    assert net.config.model_type == arch
    # The distill and continual stages load their inputs with these two calls.
    assert build.load_masked_lm(model, attn_implementation="eager").config.vocab_size == net.config.vocab_size


def test_pinned_commit_and_unknown_revision(mirror_cache, offline, tmp_path):
    offline(mirror_cache)
    repo = "huawei-noah/TinyBERT_General_4L_312D"
    _, model = stages(params(repo, "bert", True, "34707a33cd59a94ecde241ac209bf35103691b43"), tmp_path / "a")
    assert "34707a33cd59a94ecde241ac209bf35103691b43" in (model / "README.md").read_text()
    with pytest.raises(FileNotFoundError, match="revision"):
        build.resolve_snapshot(repo, "0" * 40)


def test_rank0_exports_only(mirror_cache, offline, tmp_path, monkeypatch):
    offline(mirror_cache)
    p = params(REPOS[0], "bert", False, "main")
    tok_stage.run(p, "m", tmp_path, tmp_path / "tok")
    monkeypatch.setattr(base, "is_main", lambda: False)
    base.run(p, "m", tmp_path / "tok", tmp_path, tmp_path / "model", tmp_path / "work")
    assert not (tmp_path / "model").exists()


# ------------------------------------------------------------------ hand-made caches (file sets not in the registry)

def hand_cache(cache, repo, files):
    """A hub-cache repository with exactly ``files`` (name -> bytes), written as huggingface_hub lays it out."""
    tmp = Path(cache) / ".prep"
    tmp.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, data in files.items():
        (tmp / name).write_bytes(data)
        paths[name] = tmp / name
    return hub_mirror.write_snapshot(cache, repo, paths, hub_mirror.fake_commit(repo))


def bert_files(tmp_path, fmt, config_extra=None, model_type=True):
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(vocab_size=len(VOCAB), **TINY))
    cfg = {**TINY, "vocab_size": len(VOCAB), **(config_extra or {})}
    if model_type:
        cfg["model_type"] = "bert"
    files = {"config.json": json.dumps(cfg).encode()}
    d = tmp_path / "w"
    if fmt in ("safetensors", "both"):
        model.save_pretrained(d, safe_serialization=True)
        files["model.safetensors"] = (d / "model.safetensors").read_bytes()
    if fmt in ("bin", "both"):
        d.mkdir(exist_ok=True)
        torch.save(model.state_dict(), d / "pytorch_model.bin")
        files["pytorch_model.bin"] = (d / "pytorch_model.bin").read_bytes()
    return files, model


def vocab_bytes():
    return ("\n".join(VOCAB) + "\n").encode()


def test_bin_only_config_without_model_type_and_stray_key(tmp_path, offline):
    files, ref = bert_files(tmp_path, "bin", {"cell": {}, "my_stray_key": [1, 2]}, model_type=False)
    offline(tmp_path / "hub")
    hand_cache(tmp_path / "hub", "lab/bin-only", {**files, "vocab.txt": vocab_bytes()})
    _, model = stages(params("lab/bin-only", "bert", False, "main"), tmp_path / "run")
    got = build.load_masked_lm(model)
    assert torch.equal(got.bert.embeddings.word_embeddings.weight, ref.bert.embeddings.word_embeddings.weight)
    with pytest.raises(ValueError, match="config.json: config has no model_type"):
        build.load_masked_lm("lab/bin-only")                            # no arch to fall back on


def test_cased_vocab_txt_only_stays_cased(tmp_path, offline):
    files, _ = bert_files(tmp_path, "safetensors", model_type=False)
    offline(tmp_path / "hub")
    hand_cache(tmp_path / "hub", "lab/cased", {**files, "vocab.txt": vocab_bytes()})
    tok, _ = stages(params("lab/cased", "bert", False), tmp_path / "run")
    assert encode(tok, "Gene") == [VOCAB.index("Gene")] and encode(tok, "gene") == [VOCAB.index("gene")]


def test_tokenizer_json_only_gets_params_lowercase(tmp_path, offline):
    from transformers import BertTokenizer

    files, _ = bert_files(tmp_path, "safetensors")
    cased = BertTokenizer(vocab={t: i for i, t in enumerate(VOCAB)}, do_lower_case=False)
    cased.save_pretrained(tmp_path / "t")
    offline(tmp_path / "hub")
    hand_cache(tmp_path / "hub", "lab/tj", {**files, "tokenizer.json": (tmp_path / "t/tokenizer.json").read_bytes()})
    tok, _ = stages(params("lab/tj", "bert", True), tmp_path / "run")
    assert encode(tok, "Gene") == encode(tok, "gene") == [VOCAB.index("gene")]


def test_corrupt_safetensors_is_an_error_not_a_fallback(tmp_path, offline):
    files, _ = bert_files(tmp_path, "both")
    files["model.safetensors"] = b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage"
    offline(tmp_path / "hub")
    hand_cache(tmp_path / "hub", "lab/corrupt", files)
    with pytest.raises(ValueError, match="model.safetensors: cannot load weights"):
        build.load_masked_lm("lab/corrupt")


def test_bin_is_loaded_weights_only(tmp_path):
    files, _ = bert_files(tmp_path, "bin")
    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_bytes(files["config.json"])
    torch.save({"bert.embeddings.word_embeddings.weight": torch.zeros(len(VOCAB), 16), "x": Path("evil")},
               d / "pytorch_model.bin")
    with pytest.raises(ValueError, match="pytorch_model.bin: cannot load weights"):
        build.load_masked_lm(d)


def test_local_folder_without_weights_or_vocab(tmp_path):
    files, _ = bert_files(tmp_path, "bin")
    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_bytes(files["config.json"])
    with pytest.raises(FileNotFoundError, match="no model.safetensors or pytorch_model.bin"):
        build.load_masked_lm(d)
    with pytest.raises(FileNotFoundError, match="no tokenizer.json or vocab.txt"):
        tok_stage.run(params(str(d)), "m", tmp_path, tmp_path / "tok")


def test_vocab_size_mismatch_is_reported(tmp_path, offline):
    files, _ = bert_files(tmp_path, "safetensors")
    offline(tmp_path / "hub")
    hand_cache(tmp_path / "hub", "lab/mismatch", {**files, "vocab.txt": ("\n".join(VOCAB + ["extra"]) + "\n").encode()})
    with pytest.raises(ValueError, match="12 tokens but lab/mismatch has vocab_size 11"):
        stages(params("lab/mismatch"), tmp_path / "run")


def test_arch_must_match_model_type(tmp_path):
    files, _ = bert_files(tmp_path, "safetensors")
    d = tmp_path / "m"
    d.mkdir()
    for name, data in files.items():
        (d / name).write_bytes(data)
    with pytest.raises(ValueError, match="model_type is 'bert' but params arch is 'distilbert'"):
        build.load_masked_lm(d, arch="distilbert")
