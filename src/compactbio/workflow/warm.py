"""A warm worker for local runs: no job pays the torch + transformers import again.

A demo job spends ~5 s importing torch and transformers' modeling stack
before doing a few seconds of work, and the demo runs ~120 training jobs on
two cores.  The worker (:mod:`compactbio.workflow.warm_server`) imports the
heavy third-party libraries once (never compactbio's own code, so every job
runs the code on disk) and serves jobs on a Unix socket: for each request
from the ``compactbio`` command (:mod:`compactbio.launcher`) it forks a
child that becomes the job (argv, cwd, environment, umask, ``sys.path``,
the launcher's stdin/stdout/stderr), runs ``compactbio.cli.main`` and exits
with its code.  This module starts and stops workers.

* Snakemake (``workflow/rules/warm.smk``): ``onstart`` starts a worker for a
  local run (not ``--executor slurm`` or any other non-local executor, not a
  SLURM job's inner Snakemake, not a dry run, not for fewer than
  :data:`MIN_JOBS` compactbio jobs); it is stopped when Snakemake exits
  (atexit).  The worker also stops by itself when its parent dies (a crash,
  SIGKILL): it stops accepting jobs, lets the running ones finish, and exits.
* DVC and anything else: ``compactbio worker -- dvc repro`` runs the command
  with a worker around it.
* ``COMPACTBIO_WORKER=off`` switches it off for both.

The worker's log: ``logs/warm_worker.log`` (one line per job and per refusal).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..launcher import ENV, wanted

logger = logging.getLogger("compactbio.warm")

LOG = Path("logs/warm_worker.log")
MIN_JOBS = 2   # one heavy job gains nothing: the worker pays the same import
# What Snakemake sets for every job (snakemake.shell): the worker starts with the values of a 1-thread job.
THREAD_ENV = ("OMP_NUM_THREADS", "GOTO_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def snakemake_job_env(env: dict[str, str], threads: int = 1) -> dict[str, str]:
    """The environment Snakemake's local executor gives a job of ``threads`` threads."""
    return {**env, **{k: str(threads) for k in THREAD_ENV}}


# ------------------------------------------------------------------ starting and stopping

@dataclass
class Handle:
    """A started worker: its socket, its process."""
    address: str
    proc: object
    folder: str

    def stop(self, timeout: float = 30.0) -> None:
        """Ask it to finish its running jobs and stop; wait up to ``timeout`` s."""
        import shutil
        import subprocess

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.warning("the warm worker (pid %d) is still finishing jobs; it stops by itself",
                               self.proc.pid)
                return
        shutil.rmtree(self.folder, ignore_errors=True)


def start(env: dict[str, str] | None = None, log: Path | None = LOG, preload: list[str] | None = None) -> Handle:
    """Start a worker in the background, a child of this process, in its own session (no terminal signals).

    It binds its socket once its imports are done; until then launchers find
    no socket and run their jobs themselves, so nothing waits for it.
    """
    import subprocess

    folder = tempfile.mkdtemp(prefix="compactbio-worker-")   # 0700; short enough for a socket path
    address = os.path.join(folder, "socket")
    env = dict(os.environ if env is None else env)
    env.pop(ENV, None)
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        out = open(log, "a", encoding="utf-8")
    else:
        out = subprocess.DEVNULL
    try:
        extra = [] if preload is None else ["--preload", ",".join(preload)]
        proc = subprocess.Popen([sys.executable, "-m", "compactbio.workflow.warm_server", address,
                                 "--parent", str(os.getpid()), *extra],
                                cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True)
    finally:
        if log is not None:
            out.close()
    return Handle(address, proc, folder)


# ------------------------------------------------------------------ Snakemake hooks (workflow/rules/warm.smk)

_SNAKEMAKE: Handle | None = None


def _compactbio_jobs(workflow) -> int:
    try:
        return sum(1 for j in workflow.dag.needrun_jobs() if "compactbio" in (j.rule.shellcmd or ""))
    except Exception:   # an API change: assume it is worth it
        return MIN_JOBS


def snakemake_decision(workflow, env=None) -> str | None:
    """Why this Snakemake run gets no worker (None: it gets one)."""
    env = os.environ if env is None else env
    if env.get(ENV) is not None and wanted(env) is None:
        return f"{ENV}={env[ENV]}"
    from snakemake_interface_executor_plugins.settings import ExecMode

    if workflow.exec_mode != ExecMode.DEFAULT:
        return "a job step of another Snakemake (cluster job)"
    if not workflow.local_exec:
        return "jobs run on a cluster (non-local executor)"
    if workflow.dryrun or workflow.touch:
        return "dry run / touch"
    n = _compactbio_jobs(workflow)
    if n < MIN_JOBS:
        return f"only {n} compactbio job(s)"
    return None


def snakemake_start(workflow) -> None:
    """``onstart``: a worker for this local run; the jobs inherit its address.

    It is stopped when Snakemake's interpreter exits (success, failure,
    Ctrl-C), and stops by itself if Snakemake is killed, so the workflow
    needs no ``onsuccess`` / ``onerror`` for it.
    """
    global _SNAKEMAKE
    import atexit

    why = snakemake_decision(workflow)
    if why is not None:
        logger.debug("no warm worker: %s", why)
        return
    try:
        _SNAKEMAKE = start(snakemake_job_env(dict(os.environ)))
    except OSError as exc:   # no private temp folder, no log folder: the jobs run as fresh processes
        logger.warning("no warm worker (%s); every job imports its libraries itself", exc)
        return
    os.environ[ENV] = _SNAKEMAKE.address
    atexit.register(snakemake_stop)


def snakemake_stop(timeout: float = 10.0) -> None:
    """Stop the worker :func:`snakemake_start` started (nothing if none)."""
    global _SNAKEMAKE
    if _SNAKEMAKE is not None:
        if os.environ.get(ENV) == _SNAKEMAKE.address:
            del os.environ[ENV]
        _SNAKEMAKE.stop(timeout)
        _SNAKEMAKE = None


# ------------------------------------------------------------------ `compactbio worker -- CMD`

def run_command(command: list[str], log: Path | None = LOG, preload: list[str] | None = None) -> int:
    """Run ``command`` (``dvc repro``, ``dvc exp run ...``) with a warm worker serving its compactbio jobs."""
    import subprocess

    if not command:
        raise ValueError("worker: give the command to run, e.g. `compactbio worker -- dvc repro`")
    if command[0] == "--":
        command = command[1:]
    handle = None
    if wanted() is not None or ENV not in os.environ:   # not switched off
        try:
            handle = start(dict(os.environ), log, preload)
        except OSError as exc:
            logger.warning("no warm worker (%s); every job imports its libraries itself", exc)
    env = dict(os.environ)
    if handle is not None:
        env[ENV] = handle.address
    # Ctrl-C reaches the command (same process group); this process only waits for it.  A no-op
    # handler, not SIG_IGN, which the command would inherit.
    old = signal.signal(signal.SIGINT, lambda *_: None)
    try:
        proc = subprocess.Popen(command, env=env)
        code = proc.wait()
    finally:
        signal.signal(signal.SIGINT, old)
        if handle is not None:
            handle.stop()
    return code if code >= 0 else 128 - code
