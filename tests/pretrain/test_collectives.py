"""The engine under NCCL, on a CPU-only machine: what reaches a collective, and when the host waits.

gloo (the only backend here) takes CPU tensors, so the real 2-process tests
cannot see a CPU tensor handed to NCCL, which crashes a GPU job at its first
logged step.  These tests fake a 2-rank NCCL process group (patched
``torch.distributed`` calls, a pass-through DDP) and make the collective
device distinguishable from the CPU with torch's ``meta`` device, whose
tensors have no data.  The fake ``all_reduce`` records the device of what it
is given and stops the run: the first logged step is the first collective.
"""

from __future__ import annotations

import contextlib
import logging
import re

import pytest
import torch
import torch.distributed as dist

from compactbio.pretrain import engine
from compactbio.pretrain.engine import TrainConfig

META = torch.device("meta")
TERMS = ["a"]


class _Reached(Exception):
    """Raised by the fake all_reduce: the run got to its first collective."""


class _TinyTask(torch.nn.Module):
    """A task in the engine's contract, small enough for any device (meta included)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(16, 8)
        self.out = torch.nn.Linear(8, 1)

    def forward(self, batch, norms):
        h = self.out(self.emb(batch["input_ids"])).squeeze(-1) * batch["attention_mask"]
        loss = (h ** 2).sum() / norms["a"]
        return loss, {"a": loss.detach()}

    @staticmethod
    def norms(n_masked, lengths):
        return {"a": float(sum(lengths))}


def _batches(step):
    """Two micro-batches of CPU tensors (as StepBatches gives them) and the global lengths."""
    g = torch.Generator().manual_seed(step)
    micro = [{"input_ids": torch.randint(16, (2, 8), generator=g),
              "attention_mask": torch.ones(2, 8, dtype=torch.long)} for _ in range(2)]
    return micro, 0, [8] * 8


class _PassThroughDDP(torch.nn.Module):
    """Stands in for DistributedDataParallel, which needs a real process group."""

    def __init__(self, module, **kwargs):
        super().__init__()
        self.module = module

    def forward(self, *args):
        return self.module(*args)

    def no_sync(self):
        return contextlib.nullcontext()


@pytest.fixture
def fake_nccl(monkeypatch):
    """Rank 0 of 2 under NCCL; returns the list of devices the tensor collectives were given."""
    seen = []

    def all_reduce(tensor, *args, **kwargs):
        seen.append(tensor.device)
        raise _Reached

    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_backend", lambda *a: "nccl")
    monkeypatch.setattr(dist, "get_world_size", lambda *a: 2)
    monkeypatch.setattr(dist, "get_rank", lambda *a: 0)
    monkeypatch.setattr(dist, "barrier", lambda *a, **k: None)
    monkeypatch.setattr(dist, "all_reduce", all_reduce)
    monkeypatch.setattr(torch.nn.parallel, "DistributedDataParallel", _PassThroughDDP)
    return seen


def _train(tmp_path):
    cfg = TrainConfig(steps=3, batch_size=8, learning_rate=1e-3, log_every=1, checkpoint_every=100)
    engine.train(_TinyTask(), _batches, cfg, _TinyTask.norms, tmp_path, "h", TERMS)


def test_nccl_collectives_get_tensors_on_the_collective_device(fake_nccl, monkeypatch, tmp_path):
    # Train on the CPU, but let NCCL's device be one a CPU tensor cannot pass for.
    monkeypatch.setattr(engine, "collective_device", lambda: META, raising=False)
    with pytest.raises(_Reached):
        _train(tmp_path)
    assert fake_nccl == [META], f"a tensor on {fake_nccl} reached an NCCL collective on {META}"


def test_no_host_sync_per_micro_batch_and_totals_reach_nccl_on_the_gpu(fake_nccl, monkeypatch, tmp_path):
    # Train on a device with no data at all: any float()/item() before the logged step's
    # collective fails, and NCCL's device is the training device (the process's GPU).
    monkeypatch.setattr(engine, "device", lambda: META)
    with pytest.raises(_Reached):
        _train(tmp_path)
    assert fake_nccl == [META]


def test_collective_device_follows_the_backend(monkeypatch):
    assert engine.collective_device() == torch.device("cpu")  # one process
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(engine, "device", lambda: META)  # stands for cuda:LOCAL_RANK
    monkeypatch.setattr(dist, "get_backend", lambda *a: "gloo")
    assert engine.collective_device() == torch.device("cpu")
    monkeypatch.setattr(dist, "get_backend", lambda *a: "nccl")
    assert engine.collective_device() == META


def test_all_reduce_sum_under_gloo_leaves_its_input_alone(tmp_path):
    store = dist.FileStore(str(tmp_path / "store"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        t = torch.tensor([1.5, 2.0], dtype=torch.float64)
        out = engine.all_reduce_sum(t)
        assert out.device == torch.device("cpu") and out.tolist() == [1.5, 2.0] and out is not t
    finally:
        dist.destroy_process_group()


# ---------------------------------------------------------------- precision

def _fake_gpu(monkeypatch, native: bool) -> None:
    """A GPU with native bf16 (Ampere+) or one that only emulates it (V100, T4)."""
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: native or including_emulation)


@pytest.mark.parametrize("supported, asked, expected", [
    (True, "auto", "bf16"), (False, "auto", "fp32"), (True, "bf16", "bf16"),
    (True, "fp32", "fp32"), (False, "fp32", "fp32")])
def test_precision_on_cuda_checks_bf16_support(monkeypatch, caplog, supported, asked, expected):
    _fake_gpu(monkeypatch, supported)
    with caplog.at_level(logging.WARNING):
        assert engine.resolve_precision(asked, torch.device("cuda", 0)) == expected
    assert ("does not support bf16" in caplog.text) == (asked == "auto" and not supported)


def test_bf16_required_on_a_gpu_without_it_is_an_error(monkeypatch):
    _fake_gpu(monkeypatch, False)
    with pytest.raises(ValueError, match="does not support bf16"):
        engine.resolve_precision("bf16", torch.device("cuda", 0))
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(steps=1, batch_size=1, learning_rate=1.0, precision="fp16")


@pytest.mark.parametrize("precision, autocast_on", [("auto", False), ("fp32", False), ("bf16", True)])
def test_engine_autocasts_as_configured(tmp_path, precision, autocast_on):
    """On CPU, ``auto`` stays fp32 (deterministic demo runs); ``bf16`` asks for CPU autocast."""
    seen = []

    class Probe(_TinyTask):
        def forward(self, batch, norms):
            seen.append(torch.is_autocast_enabled("cpu"))
            return super().forward(batch, norms)

    cfg = TrainConfig(steps=1, batch_size=8, learning_rate=1e-3, checkpoint_every=100, precision=precision)
    engine.train(Probe(), _batches, cfg, _TinyTask.norms, tmp_path, "h", TERMS)
    assert seen == [autocast_on] * 2


# ---------------------------------------------------------------- log line

def test_log_line_has_throughput_and_time_left(tmp_path, caplog):
    cfg = TrainConfig(steps=4, batch_size=8, learning_rate=1e-3, log_every=2, checkpoint_every=100)
    with caplog.at_level(logging.INFO, logger="compactbio.pretrain.engine"):
        engine.train(_TinyTask(), _batches, cfg, _TinyTask.norms, tmp_path, "h", TERMS)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("step ")]
    assert [ln.split()[1] for ln in lines] == ["1/4", "2/4", "4/4"]
    for ln in lines:
        m = re.fullmatch(r"step \d+/4 loss [\d.]+ a=[\d.]+ (\d+) tok/s, eta (\S+)", ln)
        assert m and int(m[1]) > 0, ln
    assert lines[-1].endswith("eta 0s")


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (59.4, "59s"), (61, "1m01s"), (3720, "1h02m"),
                                           (90061, "25h01m")])
def test_format_duration(seconds, text):
    from compactbio.progress import format_duration

    assert format_duration(seconds) == text
