"""Outputs honour the umask as a plain ``open`` / ``os.mkdir`` would (files 0o666 & ~umask, folders 0o777 & ~umask).

``tempfile`` makes 0600 files and 0700 folders; renamed into place they kept
those modes, so a lab group sharing a cluster folder could not read each
other's models or results.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import pytest

from compactbio import io

UMASKS = [0o002, 0o022, 0o077]


@contextlib.contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def modes(root: Path) -> dict[str, int]:
    """Permission bits of ``root`` and of everything under it (links skipped), by relative path."""
    out = {".": stat.S_IMODE(os.lstat(root).st_mode)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = os.lstat(p)
            if not stat.S_ISLNK(st.st_mode):
                out[str(p.relative_to(root))] = stat.S_IMODE(st.st_mode)
    return out


def expected(root: Path, mask: int) -> dict[str, int]:
    return {k: (0o777 if (root / k).is_dir() else 0o666) & ~mask for k in modes(root)}


@pytest.mark.parametrize("mask", UMASKS)
def test_atomic_helpers_honour_the_umask(tmp_path, mask):
    with umask(mask):
        with io.atomic_dir(tmp_path / "out") as tmp:
            (tmp / "nested" / "deeper").mkdir(parents=True)
            (tmp / "nested" / "deeper" / "weights.bin").write_bytes(b"\0" * 8)
            io.write_json(tmp / "metrics.json", {"f1": 0.5})          # atomic_path inside atomic_dir
            io.write_jsonl(tmp / "nested" / "rows.jsonl", [{"a": 1}])
        io.atomic_write_text(tmp_path / "table.tex", "x\n")
        with io.atomic_path(tmp_path / "raw.bin") as tmp:
            tmp.write_bytes(b"1")
    out = tmp_path / "out"
    got = modes(out)
    assert set(got) == {".", "nested", "nested/deeper", "nested/deeper/weights.bin", "metrics.json",
                        "nested/rows.jsonl"}
    assert got == expected(out, mask)
    for f in ("table.tex", "raw.bin"):
        assert stat.S_IMODE(os.stat(tmp_path / f).st_mode) == 0o666 & ~mask, f
    # Nothing temporary is left beside the outputs.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "raw.bin", "table.tex"]


@pytest.mark.parametrize("mask", [0o002, 0o022])
def test_private_files_of_libraries_get_the_usual_modes(tmp_path, mask):
    """safetensors 0.8 writes 0600 whatever the umask; inside atomic_dir / atomic_path it ends as open() would."""
    import torch
    from safetensors.torch import save_file

    with umask(mask):
        with io.atomic_dir(tmp_path / "out") as tmp:
            save_file({"w": torch.zeros(2)}, str(tmp / "model.safetensors"))
            os.close(os.open(tmp / "private", os.O_CREAT | os.O_WRONLY, 0o600))
            os.close(os.open(tmp / "tool.sh", os.O_CREAT | os.O_WRONLY, 0o700))
            os.mkdir(tmp / "secret", 0o700)
            os.symlink("private", tmp / "link")
        with io.atomic_path(tmp_path / "w.safetensors") as tmp:
            save_file({"w": torch.zeros(2)}, str(tmp))
    got = modes(tmp_path / "out")
    assert got == {".": 0o777 & ~mask, "model.safetensors": 0o666 & ~mask, "private": 0o666 & ~mask,
                   "tool.sh": 0o777 & ~mask, "secret": 0o777 & ~mask}
    assert stat.S_IMODE(os.stat(tmp_path / "w.safetensors").st_mode) == 0o666 & ~mask


def test_a_folder_replaced_keeps_the_umask_modes(tmp_path):
    """A second write replaces the first, with fresh modes (not the old folder's)."""
    with umask(0o077):
        with io.atomic_dir(tmp_path / "out") as tmp:
            (tmp / "a.txt").write_text("1")
    with umask(0o002):
        with io.atomic_dir(tmp_path / "out") as tmp:
            (tmp / "a.txt").write_text("2")
    assert modes(tmp_path / "out") == {".": 0o775, "a.txt": 0o664}


def test_stale_temp_cleanup_still_matches_the_new_names(tmp_path):
    """The temporary names keep the pattern the stale-folder cleaner removes (8 chars of [a-z0-9_])."""
    import re

    seen = []
    with io.atomic_dir(tmp_path / "out") as tmp:
        seen.append(tmp.name)
    assert re.fullmatch(r"\.out\.tmp-[a-z0-9_]{8}", seen[0])


@pytest.mark.parametrize("mask", [0o002, 0o022])
def test_real_stages_honour_the_umask(tmp_path, mask, raw_params):
    """fetch (nested raw folders) and prepare of the demo data, and a model folder, as the pipeline writes them."""
    from compactbio.data import fetch, prepare
    from compactbio.params import resolve

    params = resolve(raw_params)
    with umask(mask):
        fetch.run(params, "chemprot", tmp_path / "data/raw/chemprot")
        prepare.run(params, "chemprot", tmp_path / "data/raw/chemprot", tmp_path / "data/prepared/chemprot")
        model = _export_tiny_model(tmp_path / "models/tiny")
    for out in (tmp_path / "data/raw/chemprot", tmp_path / "data/prepared/chemprot", model):
        got = modes(out)
        assert len(got) > 2, got
        assert got == expected(out, mask), out
    # What the group can do: read every file and enter every folder (0o002, 0o022 both give g+r).
    assert all(m & stat.S_IRGRP for m in modes(model).values())


def _export_tiny_model(out: Path) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertForMaskedLM, PreTrainedTokenizerFast

    from compactbio.models import card
    from compactbio.pretrain.export import export

    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "gene", "##s"])}
    raw = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                  sep_token="[SEP]", mask_token="[MASK]")
    net = BertForMaskedLM(BertConfig(vocab_size=len(vocab), hidden_size=8, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=16, max_position_embeddings=16))
    export(net, tok, out, card.pretrained_card(model="tiny", title="tiny", made_by="test", summary="A test.",
                                               arch="bert", scale="demo"))
    return out
