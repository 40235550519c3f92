"""Progress lines of long jobs: tokens per second (real, non-padding tokens) and time left."""

from __future__ import annotations

import logging
import re

import pytest

from compactbio import progress
from compactbio.pretrain import continual, data
from compactbio.progress import Throughput, format_duration


@pytest.fixture
def fake_clock(monkeypatch):
    """A clock that advances one second each time it is read."""
    ticks = iter(range(10_000))
    monkeypatch.setattr(progress.Throughput, "clock", staticmethod(lambda: float(next(ticks))))


@pytest.mark.parametrize("seconds,text", [(0, "0s"), (12.4, "12s"), (59.6, "1m00s"), (245, "4m05s"),
                                          (3600, "1h00m"), (3725, "1h02m"), (86400 * 2 + 60, "48h01m"), (-3, "0s")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_rate_since_the_last_report_and_time_left_by_hand(fake_clock):
    speed = Throughput(start=100, steps=1100)           # resumed at step 100 of 1100; clock reads 0
    speed.add(3000)
    speed.add(1000)
    assert speed.report(done=110) == "4000 tok/s, eta 1m39s"    # 1 s for 10 steps: 990 to go x 0.1 s
    speed.add(500)
    # 2 s since the start for 20 steps (0.1 s a step), 980 to go; 500 tokens in the last second
    assert speed.report(done=120) == "500 tok/s, eta 1m38s"
    assert speed.report(done=120) == "0 tok/s, eta 2m27s"        # the count restarts at each report; 3 s / 20


def test_engine_lines_count_real_tokens_and_time_left(assets, params, tmp_path, caplog, fake_clock, monkeypatch):
    """continual.run, 6 steps of 8 rows, logged at steps 1, 2, 4 and 6 (log_every 2)."""
    real, positions = [], []
    real_collate = data.collate

    def counting(micro, pad):
        batch = real_collate(micro, pad)
        real.append(int(batch["attention_mask"].sum()))     # the non-padding positions of this micro-batch
        positions.append(batch["input_ids"].numel())         # all positions processed, padding included
        return batch
    monkeypatch.setattr(data, "collate", counting)
    with caplog.at_level(logging.INFO, logger="compactbio.pretrain.engine"):
        continual.run(params, "biocontinual", assets["teacher"], assets["corpus"], tmp_path / "m", tmp_path / "w")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("step ")]
    pattern = re.compile(r"step (\d+)/6 loss \d+\.\d{4}( \w+=\d+\.\d{4})* (\d+) tok/s, eta (\S+)")
    parsed = [pattern.fullmatch(line) for line in lines]
    assert all(parsed), lines
    assert [int(m[1]) for m in parsed] == [1, 2, 4, 6]
    assert len(real) == 6                    # one micro-batch a step: batch 8, no accumulation
    assert sum(real) < sum(positions)        # rows differ in length: the two counts differ, and real is used
    # one clock second between reports, so the rate is the real tokens since the previous line
    assert [int(m[3]) for m in parsed] == [real[0], real[1], real[2] + real[3], real[4] + real[5]]
    # time left: (seconds so far / steps done) x steps to go -> 1/1 x 5, 2/2 x 4, 3/4 x 2, 4/6 x 0
    assert [m[4] for m in parsed] == ["5s", "4s", "2s", "0s"]


def test_task_distillation_lines_say_the_same(fake_clock, caplog):
    """The task-distillation loop logs the same figures, counting each batch's unpadded rows."""
    import torch

    from compactbio.taskdistill import train as td
    from compactbio.taskdistill.models import build

    torch.manual_seed(0)
    rows = [{"input_ids": [2] + [5 + (i + j) % 20 for j in range(n)] + [3], "labels": [-100] + [0] * n + [-100]}
            for i, n in enumerate([4, 9, 6, 12, 5, 7, 10, 3])]
    cfg = {"embedding_size": 8, "hidden_size": 8, "num_layers": 1, "classifier_size": 0, "dropout": 0.0}
    student = build("bilstm", cfg, vocab_size=30, pad_id=0, labels=["B", "I", "O"])
    hp = {"batch_size": 4, "epochs": 1, "learning_rate": 1e-2, "warmup_fraction": 0.0, "weight_decay": 0.0,
          "max_grad_norm": 1.0, "log_every": 1}
    with caplog.at_level(logging.INFO, logger="compactbio.taskdistill.train"):
        td.train(student, None, rows, hp, td.LossConfig(alpha=0.0, temperature=1.0), seed=0, pad=0,
                 validate=lambda: {"f1": 0.0})
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("step ")]
    parsed = [re.fullmatch(r"step (\d)/2: loss \d+\.\d{4}, (\d+) tok/s, eta (\S+)", line) for line in lines]
    assert all(parsed), lines
    assert sum(int(m[2]) for m in parsed) == sum(len(r["input_ids"]) for r in rows)   # every real token once
    assert [m[3] for m in parsed] == ["1s", "0s"]
