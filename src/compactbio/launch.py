"""Start the pre-training stages under ``torchrun``, one process per GPU of the job.

Snakemake (locally or through SLURM) runs every stage as a plain
``compactbio [--log FILE] STAGE ...`` command, and a cluster job is given its
GPUs by the scheduler, not by the rule.  So the decision "one process or
several" is taken here, at start-up, from what the job can see: when a
pre-training stage (whose engine supports DDP) finds more than one GPU and is
not already a torchrun worker, it replaces itself with
``python -m torch.distributed.run --standalone --nproc_per_node N -m
compactbio.cli <same arguments>``.  The workers then join the process group
in :func:`compactbio.pretrain.engine.distributed`.

Every other stage (fetch, prepare, fine-tuning, tables) stays one process.

The hook in ``cli.main`` is one line, before logging is set up::

    args.log = launch.torchrun_if_multi_gpu(args.stage, args.log, argv)

Environment read:

* ``COMPACTBIO_NPROC``: process count, overriding detection (``1`` disables
  torchrun; on a CPU-only machine ``2`` runs two gloo workers, which is how the
  launch path is tested without GPUs);
* ``CUDA_VISIBLE_DEVICES`` (set by SLURM's gres plugin and by users), else
  ``SLURM_GPUS_ON_NODE``; neither set means no GPU.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence

logger = logging.getLogger(__name__)

# Stages whose training loop (compactbio.pretrain.engine) supports DistributedDataParallel.
DDP_STAGES = frozenset({"base-model", "distill", "continual"})
NPROC_ENV = "COMPACTBIO_NPROC"


def visible_gpus(env: Mapping[str, str] | None = None) -> int:
    """Number of GPUs this process may use, from the environment alone (no CUDA initialisation)."""
    env = os.environ if env is None else env
    cvd = env.get("CUDA_VISIBLE_DEVICES")
    if cvd is not None:
        ids = []
        for item in cvd.split(","):
            item = item.strip()
            # CUDA stops at the first invalid id ("-1" hides every GPU); SLURM writes NoDevFiles
            # when a gres has no device files.
            if not item or item.startswith("-") or item == "NoDevFiles":
                break
            ids.append(item)
        return len(ids)
    on_node = env.get("SLURM_GPUS_ON_NODE", "").strip()
    if on_node:
        if not on_node.isdigit():
            raise ValueError(f"SLURM_GPUS_ON_NODE: expected a GPU count, got {on_node!r}")
        return int(on_node)
    return 0


def process_count(env: Mapping[str, str] | None = None) -> int:
    """How many training processes a DDP stage should run: ``COMPACTBIO_NPROC`` or the GPU count (at least 1)."""
    env = os.environ if env is None else env
    raw = env.get(NPROC_ENV, "").strip()
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"{NPROC_ENV}: expected a positive integer, got {raw!r}")
        return int(raw)
    return max(1, visible_gpus(env))


def is_torchrun_worker(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return "TORCHELASTIC_RUN_ID" in env or "LOCAL_RANK" in env


def torchrun_command(argv: Sequence[str], nproc: int, python: str | None = None) -> list[str]:
    """The command that reruns ``compactbio <argv>`` as ``nproc`` torchrun workers on this node.

    ``--standalone`` gives each job its own rendezvous on a free local port, so
    several multi-GPU jobs can share a node.
    """
    return [python or sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc_per_node={int(nproc)}", "-m", "compactbio.cli", *argv]


def rank_log(log: str | None, env: Mapping[str, str] | None = None) -> str | None:
    """The log file of this worker: the job's log for rank 0, ``<log>.rank<k>`` for the others.

    All workers would otherwise open (and truncate) the one file named by ``--log``.
    """
    env = os.environ if env is None else env
    rank = env.get("RANK", "0")
    if log is None or rank in ("", "0"):
        return log
    return f"{log}.rank{rank}"


def torchrun_if_multi_gpu(stage: str, log: str | None, argv: Sequence[str] | None = None,
                          env: Mapping[str, str] | None = None) -> str | None:
    """Re-exec a DDP stage under torchrun when it has more than one GPU; return the log file to use.

    In the launching process with N > 1 this does not return (``os.execv``).  In a
    torchrun worker, or for a single process, it returns the worker's log path.
    """
    env = os.environ if env is None else env
    if stage not in DDP_STAGES or is_torchrun_worker(env):
        return rank_log(log, env)
    nproc = process_count(env)
    if nproc <= 1:
        return log
    cmd = torchrun_command(list(sys.argv[1:] if argv is None else argv), nproc)
    # Before logging is configured (the workers configure their own), so say it on stderr.
    sys.stderr.write(f"compactbio: {stage} on {nproc} processes: {' '.join(cmd)}\n")
    sys.stderr.flush()
    os.execv(cmd[0], cmd)
    raise AssertionError("unreachable")  # pragma: no cover
