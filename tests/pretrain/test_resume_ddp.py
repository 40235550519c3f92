"""SIGKILL mid-run + restart equals an uninterrupted run; 2-process DDP (gloo) equals one process."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from compactbio.pretrain import continual, data, engine

from .conftest import make_teacher

RUNNER = Path(__file__).with_name("_runner.py")


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TQDM_DISABLE="1")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _cmd(prefix, params_file, kind, model, src, corpus, out, work):
    return [*prefix, str(RUNNER), str(params_file), kind, model, str(src), str(corpus), str(out), str(work)]


def _weights(folder):
    return load_file(str(Path(folder) / "model.safetensors"))


@pytest.mark.slow
def test_sigkill_and_restart_equals_uninterrupted(assets, params, tmp_path):
    teacher = make_teacher(tmp_path / "teacher_dropout", assets["tok"], dropout=0.1)  # RNG state matters
    cfg = params["pretrain"]["distill"]["compactbiobert"]
    cfg["train"]["steps"] = 40
    params["pretrain"]["engine"].update(checkpoint_every=10, log_every=5)
    pfile = tmp_path / "params.json"
    pfile.write_text(json.dumps(params))
    args = (pfile, "distill", "compactbiobert", teacher, assets["corpus"])
    py = [sys.executable]

    subprocess.run(_cmd(py, *args, tmp_path / "full", tmp_path / "wfull"), env=_env(), check=True,
                   capture_output=True)

    work, out = tmp_path / "wkill", tmp_path / "killed"
    proc = subprocess.Popen(_cmd(py, *args, out, work), env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    meta = work / "checkpoint" / "meta.json"
    deadline = time.time() + 120
    while time.time() < deadline:
        if meta.is_file() and json.loads(meta.read_text())["step"] >= 10:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    step = json.loads(meta.read_text())["step"]
    assert 10 <= step < 40 and not out.exists(), "the run must be killed mid-way, after a checkpoint"

    res = subprocess.run(_cmd(py, *args, out, work), env=_env(), capture_output=True, text=True, check=True)
    assert f"resumed from {work / 'checkpoint'} at step {step}" in res.stderr
    full, resumed = _weights(tmp_path / "full"), _weights(out)
    assert full.keys() == resumed.keys()
    for k in full:
        assert torch.equal(full[k], resumed[k]), k
    log = (work / "train_log.csv").read_text().splitlines()
    assert [int(r.split(",")[0]) for r in log[1:]] == [1, 5, 10, 15, 20, 25, 30, 35, 40]


class _Killed(Exception):
    """Stands for SIGKILL right after a checkpoint, in-process (fast, no timing)."""


def test_resume_with_derived_accumulation_equals_uninterrupted(assets, params, tmp_path, monkeypatch, caplog):
    teacher = make_teacher(tmp_path / "teacher_dropout", assets["tok"], dropout=0.1)  # RNG state matters
    params["pretrain"]["continual"]["biocontinual"]["train"].update(steps=8, batch_size=8)
    # at most 3 rows per micro-batch: 4 micro-batches of 2 rows make each batch of 8
    params["pretrain"]["engine"].update(checkpoint_every=4, log_every=2, max_device_batch=3)
    rows_seen = []
    real_collate = data.collate
    monkeypatch.setattr(data, "collate", lambda m, pad: rows_seen.append(len(m)) or real_collate(m, pad))
    args = (params, "biocontinual", teacher, assets["corpus"])
    continual.run(*args, tmp_path / "full", tmp_path / "wfull")
    assert set(rows_seen) == {2} and len(rows_seen) == 8 * 4

    real_save = engine.save_checkpoint

    def save_then_die(workdir, module, optimizer, scheduler, step, *rest):
        real_save(workdir, module, optimizer, scheduler, step, *rest)
        if step == 4:
            raise _Killed

    work, out = tmp_path / "wkill", tmp_path / "killed"
    monkeypatch.setattr(engine, "save_checkpoint", save_then_die)
    with pytest.raises(_Killed):
        continual.run(*args, out, work)
    monkeypatch.setattr(engine, "save_checkpoint", real_save)
    with caplog.at_level(logging.INFO):
        continual.run(*args, out, work)
    assert f"resumed from {work / 'checkpoint'} at step 4" in caplog.text
    full, resumed = _weights(tmp_path / "full"), _weights(out)
    assert full.keys() == resumed.keys() and all(torch.equal(full[k], resumed[k]) for k in full)
    # same losses logged, step for step (the log line's timings stay out of the CSV)
    assert (work / "train_log.csv").read_text() == (tmp_path / "wfull" / "train_log.csv").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("max_device_batch, micro, port", [(None, 1, 29581), (2, 2, 29583)])
def test_ddp_two_processes_equal_one(assets, params, tmp_path, max_device_batch, micro, port):
    cfg = params["pretrain"]["distill"]["tinybiobert"]  # projection + attention maps + soft CE
    cfg["train"].update(steps=4, batch_size=8)
    # dropout draws differ per process by design, so equality needs a dropout-free student
    cfg["student"]["config"].update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    pfile = tmp_path / "params.json"
    pfile.write_text(json.dumps(params))
    args = (pfile, "distill", "tinybiobert", assets["teacher"], assets["corpus"])
    subprocess.run(_cmd([sys.executable], *args, tmp_path / "one", tmp_path / "w1"), env=_env(), check=True,
                   capture_output=True)
    # the 2 ranks may hold at most max_device_batch rows at a time: 2 ranks x 2 micro-batches x 2 rows
    params["pretrain"]["engine"]["max_device_batch"] = max_device_batch
    pfile.write_text(json.dumps(params))
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port)]
    res = subprocess.run(_cmd(torchrun, *args, tmp_path / "two", tmp_path / "w2"), env=_env(),
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"global batch 8 = 2 process(es) x {micro} micro-batch(es) of {8 // (2 * micro)} rows" in res.stderr
    one, two = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    assert one.keys() == two.keys()
    changed = 0
    for k in one:
        if k.endswith("attention.self.key.bias"):
            continue  # exact gradient is zero; Adam amplifies rounding noise (see test_engine)
        torch.testing.assert_close(one[k], two[k], rtol=1e-4, atol=1e-5, msg=k)
        changed += 1
    assert changed > 10
    assert "processes**: 2" in (tmp_path / "two" / "README.md").read_text()
