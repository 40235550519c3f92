"""Issue 14, item 5: every failure a user can cause ends in one line, through the real CLI.

Each case runs ``compactbio`` (in-process through ``cli.main``, or as a real
subprocess) and checks: a non-zero exit, no traceback, the offending file or
folder named in the message, and no partial output left at ``--out``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile

import pytest
import yaml

from compactbio import cli

ROOT_PARAMS = yaml.safe_load(open(os.path.join(os.path.dirname(__file__), "..", "params.yaml"), encoding="utf-8"))


def params_file(tmp_path, mutate=None):
    raw = json.loads(json.dumps(ROOT_PARAMS))
    if mutate:
        mutate(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def run_cli(capsys, argv):
    code = cli.main(argv)  # an exception escaping here is itself a failure of the test
    cap = capsys.readouterr()
    return code, cap.out + cap.err


def assert_one_line_failure(code, text, *names, out=None):
    assert code != 0
    assert "Traceback" not in text
    errors = [line for line in text.splitlines() if " ERROR " in line]
    assert len(errors) == 1, text
    for name in names:
        assert str(name) in errors[0], errors[0]
    if out is not None:
        assert not out.exists()
        left = list(out.parent.iterdir()) if out.parent.is_dir() else []
        assert not [p for p in left if p.name.startswith(f".{out.name}.tmp-")]
    return errors[0]


def source_params(tmp_path, spec):
    return params_file(tmp_path, lambda raw: raw["sources"].__setitem__("biobert", spec))


# ------------------------------------------------------------------ bad or truncated input
def test_truncated_tgz(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        data = os.urandom(100_000)
        info = tarfile.TarInfo("datasets/x.bin")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    archive = tmp_path / "datasets.tar.gz"
    archive.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    params = source_params(tmp_path, {"path": {"path": str(archive), "extract": True}})
    out = tmp_path / "raw" / "biobert"
    proc = subprocess.run([sys.executable, "-m", "compactbio.cli", "--params", str(params), "fetch",
                           "--source", "biobert", "--out", str(out)], capture_output=True, text=True)
    line = assert_one_line_failure(proc.returncode, proc.stdout + proc.stderr, archive, "damaged archive", out=out)
    assert "EOFError" not in line or "ended before" in line


def test_bioasq_entries_that_are_not_objects(tmp_path, capsys):
    raw = tmp_path / "raw"
    qa = raw / "datasets" / "QA" / "BioASQ"
    qa.mkdir(parents=True)
    for name in ("BioASQ-train-factoid-7b.json", "BioASQ-test-factoid-7b.json"):
        (qa / name).write_text(json.dumps({"data": ["not an object"]}))
    (qa / "7B_golden.json").write_text(json.dumps({"questions": ["nor this"]}))
    out = tmp_path / "prepared" / "bioasq7b"
    code, text = run_cli(capsys, ["--params", str(params_file(tmp_path)), "prepare", "--dataset", "bioasq7b",
                                  "--raw", str(raw), "--out", str(out)])
    line = assert_one_line_failure(code, text, qa / "BioASQ-train-factoid-7b.json",
                                   "data[0]: expected a JSON object, got str", out=out)
    assert "AttributeError" not in line


def test_nul_byte_in_ner_input(tmp_path, capsys):
    raw = tmp_path / "raw"
    ner = raw / "datasets" / "NER" / "NCBI-disease"
    ner.mkdir(parents=True)
    for name in ("devel.tsv", "test.tsv"):
        (ner / name).write_text("a\tO\nb\tB\n")
    (ner / "train.tsv").write_bytes(b"a\tO\n\nb\x00c\tB\n")
    out = tmp_path / "prepared" / "ncbi-disease"
    code, text = run_cli(capsys, ["--params", str(params_file(tmp_path)), "prepare", "--dataset", "ncbi-disease",
                                  "--raw", str(raw), "--out", str(out)])
    assert_one_line_failure(code, text, f"{ner / 'train.tsv'}:3:", "NUL byte", out=out)


# ------------------------------------------------------------------ a full disk
def _dev_full():
    if not os.path.exists("/dev/full") or not stat.S_ISCHR(os.stat("/dev/full").st_mode):
        pytest.skip("/dev/full is not the full-disk device here")


def _full_disk(kind):
    def copy(src, dest, link=False):
        if kind == "oserror":  # the kernel's own ENOSPC; opened as a file object so the device is never replaced
            with open(src, "rb") as a, open("/dev/full", "wb") as b:
                shutil.copyfileobj(a, b)
        elif kind == "torch":  # what torch.save(obj, path) raised on a full disk here
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")
        else:
            from safetensors import SafetensorError

            raise SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, '
                                  'message: "No space left on device" })')
    return copy


@pytest.mark.parametrize("kind", ["oserror", "torch", "safetensors"])
def test_full_disk(tmp_path, capsys, monkeypatch, kind):
    if kind == "oserror":
        _dev_full()
    src = tmp_path / "mine.txt"
    src.write_bytes(b"x" * 200_000)
    monkeypatch.setattr("compactbio.data.fetch.copy_or_link", _full_disk(kind))
    out = tmp_path / "raw" / "biobert"
    code, text = run_cli(capsys, ["--params", str(source_params(tmp_path, {"path": str(src)})), "fetch",
                                  "--source", "biobert", "--out", str(out)])
    assert_one_line_failure(code, text, out, "no space left on device", "free disk space", out=out)


# ------------------------------------------------------------------ corrupt model-side files
def test_corrupt_model_safetensors(tmp_path, capsys):
    model = tmp_path / "models" / "biobert"
    model.mkdir(parents=True)
    (model / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (model / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": {\"dtype\"")
    out = tmp_path / "runs" / "ft"
    code, text = run_cli(capsys, ["--params", str(params_file(tmp_path)), "finetune", "--model", "biobert",
                                  "--dataset", "ncbi-disease", "--seed", "42", "--model-dir", str(model),
                                  "--data", str(tmp_path / "tok"), "--prepared", str(tmp_path / "prep"),
                                  "--out", str(out)])
    assert_one_line_failure(code, text, model / "model.safetensors", "safetensors", f"delete {model}", out=out)


def test_corrupt_checkpoint_state(tmp_path, capsys):
    work = tmp_path / "runs" / "pretrain" / "distilbiobert"
    (work / "checkpoint").mkdir(parents=True)
    (work / "checkpoint" / "state.pt").write_bytes(b"PK\x03\x04 truncated by a crash")
    out = tmp_path / "models" / "distilbiobert"
    code, text = run_cli(capsys, ["--params", str(params_file(tmp_path)), "distill", "--model", "distilbiobert",
                                  "--teacher", str(tmp_path / "teacher"), "--corpus", str(tmp_path / "corpus"),
                                  "--out", str(out), "--workdir", str(work)])
    assert_one_line_failure(code, text, work / "checkpoint" / "state.pt", f"delete {work / 'checkpoint'}", out=out)


def test_truncated_tokenizer_json(tmp_path, capsys):
    tok = tmp_path / "tok"
    tok.mkdir()
    (tok / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "WordPiece", "vocab": {"a"')
    out = tmp_path / "tokenized"
    code, text = run_cli(capsys, ["--params", str(params_file(tmp_path)), "tokenize", "--tokenizer", str(tok),
                                  "--dataset", str(tmp_path / "prep"), "--out", str(out)])
    assert_one_line_failure(code, text, f"{tok / 'tokenizer.json'}:1", "corrupt or truncated JSON", out=out)


def _tiny_tokenizer(folder):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2),
                                                                                                 ("[SEP]", 3)])
    folder.mkdir(parents=True)
    tok.save(str(folder / "tokenizer.json"))


def test_tokens_and_tags_of_different_length(tmp_path, capsys):
    tok = tmp_path / "tok"
    _tiny_tokenizer(tok)
    prep = tmp_path / "prep"
    prep.mkdir()
    (prep / "meta.json").write_text(json.dumps({"name": "x", "task": "ner", "labels": ["B", "I", "O"]}))
    good = json.dumps({"id": "s0", "tokens": ["a"], "tags": ["O"]}) + "\n"
    (prep / "train.jsonl").write_text(good + json.dumps({"id": "s1", "tokens": ["a", "b", "a"], "tags": ["O"]}) + "\n")
    (prep / "validation.jsonl").write_text(good + json.dumps({"id": "s9", "tokens": ["b"], "tags": ["O", "B"]}) + "\n")
    (prep / "test.jsonl").write_text(good)
    out = tmp_path / "tokenized"
    argv = ["--params", str(params_file(tmp_path)), "tokenize", "--tokenizer", str(tok), "--dataset", str(prep),
            "--out", str(out)]
    code, text = run_cli(capsys, argv)
    line = assert_one_line_failure(code, text, f"{prep / 'train.jsonl'}: record 2 (sentence 's1')",
                                   "3 tokens but 1 tags", out=out)
    assert "IndexError" not in line
    (prep / "train.jsonl").write_text(good)  # more tags than tokens was tokenized silently, extra tags dropped
    code, text = run_cli(capsys, argv)
    assert_one_line_failure(code, text, f"{prep / 'validation.jsonl'}: record 2 (sentence 's9')",
                            "1 tokens but 2 tags", out=out)


# ------------------------------------------------------------------ the checkpoint loader itself
def _checkpoint(work, hash_="h"):
    import torch
    from safetensors.torch import save_model

    module = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(module.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    module(torch.ones(1, 3)).sum().backward()
    opt.step()
    ckpt = work / "checkpoint"
    ckpt.mkdir(parents=True)
    save_model(module, str(ckpt / "model.safetensors"))
    torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "rng": [{
        "torch": torch.get_rng_state(), "python": __import__("random").getstate()}], "step": 7,
        "data_position": 56}, ckpt / "state.pt")
    (ckpt / "meta.json").write_text(json.dumps({"params_hash": hash_, "step": 7, "world_size": 1, "batch_size": 8}))
    fresh = torch.nn.Linear(3, 2)
    fresh_opt = torch.optim.AdamW(fresh.parameters(), lr=1e-3)
    return ckpt, fresh, fresh_opt, torch.optim.lr_scheduler.LambdaLR(fresh_opt, lambda s: 1.0)


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garbage_zip(path):  # a zip with a data.pkl (passes the CLI's header check) whose pickle is garbage
    import zipfile

    path.unlink()
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", b"\x80\x02garbage")


def _wrong_state(path):
    import torch

    torch.save({"step": 3}, path)


@pytest.mark.parametrize("name, damage, problem", [
    ("meta.json", lambda p: p.write_text('{"params_hash": "h", "st'), "corrupt or truncated checkpoint metadata"),
    ("meta.json", lambda p: p.write_text("[1, 2]"), "checkpoint metadata is not a JSON object"),
    ("model.safetensors", _truncate, "corrupt, truncated or not this model's weights"),
    ("model.safetensors", lambda p: p.unlink(), "missing from the checkpoint"),
    ("state.pt", _truncate, "corrupt or truncated training state"),
    ("state.pt", _garbage_zip, "corrupt or truncated training state"),
    ("state.pt", _wrong_state, "not a training state this run can resume from"),
])
def test_load_checkpoint_names_the_corrupt_file(tmp_path, name, damage, problem):
    from compactbio.pretrain.engine import load_checkpoint

    work = tmp_path / "runs" / "pretrain" / "distilbiobert"
    ckpt, module, opt, sched = _checkpoint(work)
    damage(ckpt / name)
    with pytest.raises(ValueError) as err:
        load_checkpoint(work, module, opt, sched, "h")
    msg = str(err.value)
    assert msg.startswith(f"{ckpt / name}: {problem}"), msg
    assert f"delete {ckpt} to start afresh" in msg, msg
    assert "\n" not in msg


def test_load_checkpoint_still_resumes_a_good_one(tmp_path):
    from compactbio.pretrain.engine import load_checkpoint

    work = tmp_path / "w"
    _, module, opt, sched = _checkpoint(work)
    assert load_checkpoint(work, module, opt, sched, "h") == 7
    assert load_checkpoint(work, module, opt, sched, "other") == 0 and not (work / "checkpoint").exists()


# ------------------------------------------------------------------ paths and the hub
@pytest.mark.parametrize("below", ["sub", "a/b"])
def test_out_under_a_file(tmp_path, capsys, below):
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / below
    code, text = run_cli(capsys, ["--params", str(params_file(tmp_path)), "fetch", "--source", "chemprot",
                                  "--out", str(out)])
    assert_one_line_failure(code, text, tmp_path / "afile", "is a file, not a folder")


def test_unreachable_hub_id(tmp_path):
    def paper(raw):
        raw["scale"] = "paper"
        raw["pretrain"]["base"]["biobert"]["hub"] = {"demo": None, "paper": "nobody-here/no-such-model"}

    out = tmp_path / "tokenizers" / "biobert"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub-cache"),
           "HF_HOME": str(tmp_path / "hf-home")}
    proc = subprocess.run([sys.executable, "-m", "compactbio.cli", "--params", str(params_file(tmp_path, paper)),
                           "tokenizer", "--model", "biobert", "--corpus", str(tmp_path / "corpus"), "--out", str(out)],
                          capture_output=True, text=True, env=env)
    assert_one_line_failure(proc.returncode, proc.stdout + proc.stderr, "nobody-here/no-such-model", out=out)


# ------------------------------------------------------------------ the last resort and --debug
def test_unexpected_error_is_one_line_and_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    def boom(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    src = tmp_path / "mine.txt"
    src.write_text("x")
    monkeypatch.setattr("compactbio.data.fetch.copy_or_link", boom)
    params = source_params(tmp_path, {"path": str(src)})
    argv = ["--params", str(params), "fetch", "--source", "biobert", "--out", str(tmp_path / "raw" / "biobert")]
    code, text = run_cli(capsys, argv)
    line = assert_one_line_failure(code, text, "ZeroDivisionError: division by zero", "--debug")
    assert code == 1 and "fetch failed" in line
    with pytest.raises(ZeroDivisionError):
        cli.main(["--debug"] + argv)
