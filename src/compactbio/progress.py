"""Progress figures for training logs: tokens per second and time left.

A 100k-step pre-training job runs for days in a SLURM log that nobody
watches live (tqdm's bar is off there), so every logged step line says how
fast the job goes and when it will end.  Used by the pre-training engine and
the task-distillation loop; no dependency beyond the standard library.
"""

from __future__ import annotations

import time


def format_duration(seconds: float) -> str:
    """``1h02m``, ``4m05s`` or ``12s``: short for a log line, fine enough to check a SLURM time limit."""
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, sec = divmod(rest, 60)
    if h:
        return f"{h}h{m:02d}m"
    return f"{m}m{sec:02d}s" if m else f"{sec}s"


class Throughput:
    """Tokens per second since the previous report, and time left at this run's mean step time.

    What a "token" is, is the caller's: both users count real tokens, the
    non-padding positions of the batch (the pre-training engine: of the
    global batch, all ranks together), so a length-grouped batch that pads
    less does not look faster than it is.  The time left counts from this
    run's first step, so a job resumed at step 90k does not average in the
    steps it did not run.
    """

    clock = staticmethod(time.perf_counter)   # replaced in tests by a fake clock

    def __init__(self, start: int, steps: int):
        self.start, self.steps, self.tokens = start, steps, 0
        self.t0 = self.t_last = self.clock()

    def add(self, tokens: int) -> None:
        self.tokens += int(tokens)

    def report(self, done: int) -> str:
        """``"12345 tok/s, eta 1h02m"`` after ``done`` of ``steps`` steps; resets the token count."""
        now = self.clock()
        rate = self.tokens / max(now - self.t_last, 1e-9)
        eta = (now - self.t0) / max(1, done - self.start) * (self.steps - done)
        self.tokens, self.t_last = 0, now
        return f"{rate:.0f} tok/s, eta {format_duration(eta)}"
