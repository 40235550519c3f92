"""The warm worker process: imports the heavy libraries once, forks one child per job.

Started by :func:`compactbio.workflow.warm.start` as ``python -m
compactbio.workflow.warm_server SOCKET --parent PID``; the client side is
:mod:`compactbio.launcher`.  See :mod:`compactbio.workflow.warm` for why and
when.

What keeps a child identical to a fresh process:

* nothing runs in the worker but imports (and one pure-Python cache of
  transformers): no torch op (so no OpenMP pool, no CUDA; a worker that finds
  libcuda loaded after its imports refuses every job), threads limited as the
  jobs' are (Snakemake gives each job ``OMP_NUM_THREADS=<threads>`` and
  friends; the worker starts with the same values, and a job whose values
  differ runs in its launcher instead);
* a job whose interpreter, flags, or any environment variable read at import
  time (:data:`IMPORT_TIME_ENV`) differs from the worker's is refused and runs
  in its launcher; everything else in the environment is the job's own, and
  so are its resource limits, niceness and CPU affinity;
* in the child: Python's ``random`` reseeds itself on fork; numpy's global
  RNG and torch's default CPU generator are reseeded from the OS, as a fresh
  interpreter seeds them (the stages seed explicitly); signal handlers, stdio,
  logging, warning filters, ``tempfile``'s cached directory and compactbio's
  modules are reset; the exit joins non-daemon threads, runs atexit handlers
  and flushes stdio as an interpreter exit does.

Each job is still its own process, with its own exit code, log, memory and
process group; the jobs share nothing but the imported modules
(copy-on-write).  The worker logs one line per job and per refusal.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..launcher import ENV, recv_message, send_message, stage_of

logger = logging.getLogger("compactbio.warm")

# Imported once by the worker: what the stages import, heaviest first.  Optional ones may be absent.
PRELOAD = ("numpy", "pyarrow", "pyarrow.ipc", "torch", "transformers", "transformers.modeling_utils",
           "transformers.models.auto.modeling_auto", "transformers.models.auto.tokenization_auto",
           "transformers.models.bert.modeling_bert", "transformers.models.distilbert.modeling_distilbert",
           "transformers.models.mobilebert.modeling_mobilebert", "transformers.tokenization_utils_fast",
           "tokenizers", "safetensors.torch", "yaml", "jsonschema", "tqdm")
# tabulate: what torch._dynamo's atexit handler imports at every exit (~0.1 s).
OPTIONAL = ("datasets", "evaluate", "pandas", "seqeval.metrics", "tabulate")
# Environment variables that the preloaded libraries (or the C libraries under them) read when they are
# imported: a job whose values differ would not behave as a fresh process, so it runs in its launcher.
IMPORT_TIME_ENV = ("PYTHON", "OMP_", "GOMP_", "KMP_", "MKL_", "OPENBLAS_", "GOTO_", "VECLIB_", "NUMEXPR_",
                   "BLIS_", "NPY_", "NUMPY_", "TORCH", "PYTORCH", "AOT", "INDUCTOR", "CUDA", "NVIDIA_", "NCCL_",
                   "HF_", "HUGGINGFACE", "TRANSFORMERS", "TOKENIZERS", "DATASETS", "EVALUATE", "SAFETENSORS",
                   "USE_", "XLA_", "PANDAS_", "ARROW_", "FSSPEC_", "TQDM_", "JOBLIB_", "LOKY_", "SKLEARN_", "MPL",
                   "LC_", "KINETO_", "HOME", "XDG_", "LANG", "LD_", "DYLD_", "DISABLE_TELEMETRY", "DO_NOT_TRACK",
                   "SSL_CERT_", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SOURCE_DATE_EPOCH", "VIRTUAL_ENV",
                   "CONDA_PREFIX", "CI")
_OWN_SIGNALS = (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
BLOCK_ACROSS_FORK = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT}


def import_time_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k != ENV and k.startswith(IMPORT_TIME_ENV)}


# ------------------------------------------------------------------ the worker process

@dataclass
class Job:
    conn: socket.socket
    argv: list[str]
    started: float = field(default_factory=time.monotonic)


class Worker:
    def __init__(self, address: str, parent: int | None = None):
        self.address = address
        self.parent = parent
        self.env = dict(os.environ)
        self.jobs: dict[int, Job] = {}
        self.listener: socket.socket | None = None
        self.draining = False
        self.refuse_all: str | None = None

    # ---------------------------------------------------------------- start-up
    def preload(self, required=PRELOAD, optional=OPTIONAL) -> None:
        """Import the heavy libraries; nothing else runs here (no torch op, no RNG draw, no CUDA)."""
        import gc
        import importlib
        import warnings

        t0 = time.perf_counter()
        loaded, absent = [], []
        for name in (*required, *optional):
            try:
                importlib.import_module(name)
            except ImportError:
                if name not in optional:
                    raise
                absent.append(name)
                continue
            loaded.append(name)
        if "transformers" in sys.modules:
            _warm_transformers()
        torch = sys.modules.get("torch")
        maps = Path("/proc/self/maps")
        if (torch is not None and torch.cuda.is_initialized()) or (maps.exists() and "libcuda" in maps.read_text()):
            self.refuse_all = "CUDA was initialised during the imports (unsafe to fork)"
        self.warning_filters = list(warnings.filters)
        gc.collect()
        gc.freeze()   # imported objects move to a permanent generation: children scan (and copy) fewer pages
        logger.info("ready in %.1f s (pid %d): preloaded %s%s", time.perf_counter() - t0, os.getpid(),
                    ", ".join(loaded), f" (not installed: {', '.join(absent)})" if absent else "")
        if self.refuse_all:
            logger.warning("every job will run in its launcher: %s", self.refuse_all)

    def listen(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            os.unlink(self.address)
        except FileNotFoundError:
            pass
        sock.bind(self.address)
        os.chmod(self.address, 0o600)
        sock.listen(64)
        sock.setblocking(False)
        self.listener = sock

    # ---------------------------------------------------------------- the loop
    def serve(self) -> None:
        import selectors

        self.pid = os.getpid()
        self.sel = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, self._drain)
        self.sel.register(self.wake_r, selectors.EVENT_READ, "wake")
        self.sel.register(self.listener, selectors.EVENT_READ, "accept")
        try:
            while True:
                for key, _ in self.sel.select(timeout=0.5):
                    if key.data == "wake":
                        try:
                            while os.read(self.wake_r, 512):
                                pass
                        except BlockingIOError:
                            pass
                    elif key.data == "accept":
                        self._accept()
                    else:
                        self._job_message(key.data)
                self._reap()
                if self.parent is not None and os.getppid() != self.parent:
                    if not self.draining:
                        logger.info("parent %d is gone: finishing %d running job(s), then stopping",
                                    self.parent, len(self.jobs))
                    self.draining = True
                if self.draining:
                    self._close_listener()
                    if not self.jobs:
                        break
        finally:
            self._close_listener()
            try:
                os.rmdir(os.path.dirname(self.address))   # the private folder start() made, once empty
            except OSError:
                pass
        logger.info("stopped")

    def _drain(self, signum, _frame) -> None:
        if not self.draining:
            logger.info("signal %d: finishing %d running job(s), then stopping", signum, len(self.jobs))
        self.draining = True

    def _close_listener(self) -> None:
        if self.listener is not None:
            self.sel.unregister(self.listener)
            self.listener.close()
            self.listener = None
            try:
                os.unlink(self.address)
            except FileNotFoundError:
                pass

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        conn.setblocking(True)
        conn.settimeout(10)
        fds: list[int] = []
        try:
            req, fds = recv_message(conn, max_fds=3)
            if req is None:
                conn.close()
                return
            why = self._refusal(conn, req, fds)
            if why:
                logger.info("refused %s: %s", " ".join(req.get("argv", [])[1:4]), why)
                send_message(conn, {"refused": why})
                conn.close()
                return
            self._fork(conn, req, fds)
        except (OSError, ValueError) as exc:
            logger.warning("bad request: %s", exc)
            conn.close()
        finally:
            for fd in fds:
                try:
                    os.close(fd)
                except OSError:
                    pass

    def _refusal(self, conn: socket.socket, req: dict, fds: list[int]) -> str | None:
        if self.refuse_all:
            return self.refuse_all
        if self.draining:
            return "the worker is stopping"
        if hasattr(socket, "SO_PEERCRED"):
            import struct

            _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                                   struct.calcsize("3i")))
            if uid != os.getuid():
                return f"client uid {uid} is not the worker's"
        if len(fds) != len(req.get("fds", ())):
            return "stdio descriptors did not arrive"
        mine = {"executable": os.path.realpath(sys.executable), "prefix": sys.prefix, "version": sys.version,
                "flags": list(sys.flags), "xoptions": {str(k): str(v) for k, v in sys._xoptions.items()}}
        for key, value in mine.items():
            if req.get(key) != value:
                return f"another interpreter ({key}: {req.get(key)!r}, the worker's: {value!r})"
        why = _limits_refusal(req)
        if why:
            return why
        theirs, ours = import_time_env(req.get("env") or {}), import_time_env(self.env)
        differ = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
        if differ:
            return "environment differs in variables read at import time: " + ", ".join(differ)
        return None

    def _fork(self, conn: socket.socket, req: dict, fds: list[int]) -> None:
        import selectors
        import warnings

        # Signals stay blocked across the fork: the child takes them only once its handlers are the job's.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, BLOCK_ACROSS_FORK)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)   # 3.12+: "multi-threaded, fork()..."
                pid = os.fork()
            if pid == 0:
                try:
                    self._child(conn, req, fds, blocked)
                finally:
                    os._exit(70)  # never reached: _child ends the process
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass  # the child did it first, or has already exec'd
        job = self.jobs[pid] = Job(conn, req["argv"])
        logger.info("job %d started: %s (cwd %s)", pid, " ".join(req["argv"][1:]), req["cwd"])
        try:
            send_message(conn, {"pid": pid})
            conn.settimeout(None)
            self.sel.register(conn, selectors.EVENT_READ, pid)
        except OSError:   # the launcher is already gone: so is its job
            conn.close()
            job.conn = None
            self._kill(pid, signal.SIGKILL)

    def _job_message(self, pid: int) -> None:
        job = self.jobs.get(pid)
        if job is None:
            return
        try:
            msg, _ = recv_message(job.conn)
        except (OSError, ValueError):
            msg = None
        if msg is None:  # the launcher is gone (killed): so is its job
            self.sel.unregister(job.conn)
            job.conn.close()
            job.conn = None
            self._kill(pid, signal.SIGKILL)
        elif "signal" in msg:
            self._kill(pid, int(msg["signal"]))

    def _kill(self, pid: int, signum: int) -> None:
        if pid not in self.jobs:  # reaped: the pid may belong to someone else now
            return
        try:
            os.killpg(pid, signum)
        except OSError:
            try:
                os.kill(pid, signum)
            except OSError:
                pass

    def _reap(self) -> None:
        while self.jobs:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            job = self.jobs.pop(pid, None)
            if job is None:
                continue
            if os.WIFSIGNALED(status):
                result = {"signal": os.WTERMSIG(status)}
            else:
                result = {"exit": os.waitstatus_to_exitcode(status)}
            logger.info("job %d ended: %s after %.1f s", pid, f"exit {result['exit']}" if "exit" in result
                        else f"killed by signal {result['signal']}", time.monotonic() - job.started)
            if job.conn is not None:
                self.sel.unregister(job.conn)
                try:
                    send_message(job.conn, result)
                except OSError:
                    pass
                job.conn.close()

    # ---------------------------------------------------------------- the child
    def _child(self, conn: socket.socket, req: dict, fds: list[int], mask) -> None:
        """Become the job and run it; ends the process."""
        import warnings

        try:
            os.setpgid(0, 0)
            _die_with_parent(stage_of(req["argv"][1:]))
            if os.getppid() != self.pid:   # the worker died before the line above
                os._exit(1)
            # The worker's own descriptors, handlers and warning filters are not the job's.
            signal.set_wakeup_fd(-1)
            for s in _OWN_SIGNALS:
                signal.signal(s, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            for sock in [conn, *(j.conn for j in self.jobs.values() if j.conn is not None), self.listener]:
                if sock is not None:
                    sock.close()
            self.sel.close()
            os.close(self.wake_r)
            os.close(self.wake_w)
            warnings.filters[:] = self.warning_filters
            warnings._filters_mutated()
            _become(req, fds)
        except BaseException:  # pragma: no cover - a failure of the hand-over itself
            try:
                import traceback

                traceback.print_exc()
            finally:
                os._exit(1)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)   # a forwarded Ctrl-C lands now, in the job
        _exit(_run_entry(req["entry"]))


def _unlimited(value: int) -> float:
    import resource

    return float("inf") if value == resource.RLIM_INFINITY else value


def _limits_refusal(req: dict) -> str | None:
    """Why a child could not take on the launcher's limits (an unprivileged process can only lower them)."""
    import resource

    for name, (_soft, hard) in (req.get("rlimits") or {}).items():
        if not hasattr(resource, name):
            return f"unknown resource limit {name}"
        if _unlimited(hard) > _unlimited(resource.getrlimit(getattr(resource, name))[1]):
            return f"the job's hard {name} is above the worker's"
    if "nice" in req and req["nice"] < os.getpriority(os.PRIO_PROCESS, 0):
        return "the job's niceness is below the worker's"
    if req.get("affinity") is not None and hasattr(os, "sched_getaffinity") \
            and not set(req["affinity"]) <= os.sched_getaffinity(0):
        return "the job may use CPUs the worker may not"
    return None


def _take_limits(req: dict) -> None:
    import resource

    for name, limit in (req.get("rlimits") or {}).items():
        which = getattr(resource, name)
        if list(resource.getrlimit(which)) != list(limit):
            resource.setrlimit(which, tuple(limit))
    if "nice" in req and req["nice"] != os.getpriority(os.PRIO_PROCESS, 0):
        os.setpriority(os.PRIO_PROCESS, 0, req["nice"])
    if req.get("affinity") is not None and hasattr(os, "sched_setaffinity") \
            and set(req["affinity"]) != os.sched_getaffinity(0):
        os.sched_setaffinity(0, req["affinity"])


def _warm_transformers() -> None:
    """Build the process-wide table transformers 5 consults on every ``from_pretrained`` (~1000 compiled
    regular expressions, ~0.3 s per job otherwise); pure Python data, no torch op."""
    try:
        from transformers.conversion_mapping import get_checkpoint_conversion_mapping

        get_checkpoint_conversion_mapping("bert")
    except Exception as exc:  # a transformers without it: nothing to warm
        logger.debug("no conversion mapping to warm: %s", exc)


def _die_with_parent(stage: str | None) -> None:
    """Linux: the kernel kills this child if the worker dies, so a killed worker leaves no job behind.

    Also names the process (``top``, ``ps -o comm``) after its stage; its command line stays the
    worker's (``logs/warm_worker.log`` maps each pid to its job).
    """
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_NAME, PR_SET_PDEATHSIG = 15, 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        libc.prctl(PR_SET_NAME, ctypes.c_char_p(f"cb {stage or 'job'}".encode()[:15]), 0, 0, 0)


def _stdio(fd: int, shape: dict | None, write: bool):
    """A text stream on ``fd`` built as the launcher's interpreter built its own (``shape``)."""
    import io

    if shape is None:
        return None
    try:
        os.fstat(fd)
    except OSError:
        return None
    raw = io.FileIO(fd, "w" if write else "r", closefd=False)
    if shape["buffered"]:
        buf = io.BufferedWriter(raw) if write else io.BufferedReader(raw)
    else:
        buf = raw
    stream = io.TextIOWrapper(buf, encoding=shape["encoding"], errors=shape["errors"], newline="\n",
                              line_buffering=shape["line_buffering"], write_through=shape["write_through"])
    stream.mode = "w" if write else "r"
    return stream


def _become(req: dict, fds: list[int]) -> None:
    """Turn this freshly forked child into the launcher's job: descriptors, place, environment, interpreter state."""
    for stream in (sys.stdout, sys.stderr):   # nothing of the worker's may reach the job's streams
        try:
            stream.flush()
        except Exception:
            pass
    for target, fd in zip(req["fds"], fds):
        if fd != target:
            os.dup2(fd, target)
            os.close(fd)
    for target in (0, 1, 2):
        if target not in req["fds"]:
            try:
                os.close(target)
            except OSError:
                pass
    os.chdir(req["cwd"])
    os.umask(int(req["umask"]))
    _take_limits(req)
    os.environ.clear()
    os.environ.update(req["env"])
    tempfile.tempdir = None            # recomputed from this job's TMPDIR on first use
    sys.argv = list(req["argv"])
    sys.path[:] = req["path"]
    shapes = req["stdio"]
    sys.stdin = sys.__stdin__ = _stdio(0, shapes[0], write=False)
    sys.stdout = sys.__stdout__ = _stdio(1, shapes[1], write=True)
    sys.stderr = sys.__stderr__ = _stdio(2, shapes[2], write=True)
    # logging as a fresh interpreter has it: no handlers (the worker's own log is not the job's)
    for h in list(logging.root.handlers) + list(logger.handlers):
        h.close()
    logging.root.handlers.clear()
    logger.handlers.clear()
    logging.root.setLevel(logging.WARNING)
    # The worker's weakref finalizers (~180 from torch.library, registered by its imports) release nothing
    # of the job's: not at the job's exit (a fresh process would spend ~0.2 s on its own copies there).
    import weakref

    for finalizer in list(weakref.finalize._registry):
        finalizer.atexit = False
    # compactbio's code as it is on disk now, not as the worker imported it
    for name in [m for m in sys.modules if m == "compactbio" or m.startswith("compactbio.")]:
        del sys.modules[name]
    # Unseeded RNGs start from the OS's entropy in a fresh interpreter; so they do here (Python's
    # `random` reseeds itself on fork).  Only the CPU generator: CUDA's are seeded when CUDA starts.
    if "numpy.random" in sys.modules:
        sys.modules["numpy.random"].seed()
    if "torch" in sys.modules:
        sys.modules["torch"].default_generator.seed()


def _run_entry(entry: str) -> int:
    """Run ``module:function`` as the console script would; the exit code, as the interpreter computes it."""
    import importlib

    module, _, func = entry.partition(":")
    try:
        code = getattr(importlib.import_module(module), func)()
        raise SystemExit(code)
    except SystemExit as exc:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code
        try:
            print(exc.code, file=sys.stderr)
        except Exception:
            pass
        return 1
    except KeyboardInterrupt:
        _print_uncaught()
        _exit(1, die_of=signal.SIGINT)   # CPython ends an interrupted program by SIGINT, so does this
    except BaseException:
        _print_uncaught()
        return 1


def _print_uncaught() -> None:
    """The traceback the interpreter prints, from the job's own code down (this module's frame left out)."""
    kind, exc, tb = sys.exc_info()
    if tb is not None:
        exc = exc.with_traceback(tb.tb_next)
    sys.excepthook(kind, exc, exc.__traceback__)


def _exit(code: int, die_of: int | None = None) -> None:
    """The end of an interpreter run: join non-daemon threads, atexit handlers, flush stdio; then exit."""
    import atexit
    import threading

    try:
        threading._shutdown()
    except BaseException:
        pass
    try:
        atexit._run_exitfuncs()
    except BaseException:
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except BaseException:
            if code == 0 and stream is sys.stdout:
                code = 120   # what CPython returns when flushing stdout fails at exit
    if die_of is not None:
        signal.signal(die_of, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {die_of})
        os.kill(os.getpid(), die_of)
    os._exit(code & 0xFF)


def serve_main(argv: list[str] | None = None) -> int:
    """``python -m compactbio.workflow.warm_server SOCKET [--parent PID]``: the worker process itself."""
    import argparse

    ap = argparse.ArgumentParser(prog="compactbio.workflow.warm_server", description="the warm worker (internal)")
    ap.add_argument("socket")
    ap.add_argument("--parent", type=int, default=None, help="stop when this process is gone")
    ap.add_argument("--preload", default=None, help="comma-separated modules to import (default: PRELOAD + OPTIONAL)")
    args = ap.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    worker = Worker(args.socket, args.parent)
    if args.parent is not None and os.getppid() != args.parent:
        return 0
    logger.info("starting (pid %d, parent %s); jobs run in their launchers until it is ready", os.getpid(),
                args.parent)
    if args.preload is None:
        worker.preload()
    else:
        worker.preload([m for m in args.preload.split(",") if m], ())
    worker.listen()
    worker.serve()
    return 0



if __name__ == "__main__":
    sys.exit(serve_main())
