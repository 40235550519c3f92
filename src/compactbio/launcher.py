"""The ``compactbio`` command: hand the job to a warm worker when one answers, else run it in this process.

Why: importing torch and transformers' modeling stack costs about 5 s of CPU,
and the demo runs some 120 training jobs on two cores, so a third of its wall
time went to imports.  A warm worker (:mod:`compactbio.workflow.warm`) pays
the imports once and forks one child per job.  This module is the client: it
imports nothing but the standard library (a few milliseconds), and

* when ``COMPACTBIO_WORKER`` names a Unix socket that answers, sends the
  worker this process's argv, working directory, environment, umask and
  ``sys.path``, and its own stdin/stdout/stderr file descriptors
  (``SCM_RIGHTS``), so the child writes exactly where this process would;
  then waits for the child's exit status, forwards SIGINT, SIGTERM, SIGHUP
  and SIGQUIT to the child's process group (Ctrl-C, Snakemake's terminate),
  and exits with the same status (dying of the same signal when the child
  died of one).  The child also takes on this process's resource limits,
  niceness and CPU affinity (``ulimit``, ``nice``, ``taskset`` still apply);
* when the variable is unset or ``off``, the socket is missing or dead, or the
  worker refuses the job (another interpreter, an environment variable that
  the preloaded libraries read at import time differs, ...), runs
  ``compactbio.cli.main`` right here, exactly as before the worker existed;
* when the worker dies while the job runs, its child dies with it (Linux
  ``PR_SET_PDEATHSIG``, and this process kills the child's process group),
  and the job runs again here, from the start: stages write their
  outputs atomically and pre-training resumes from its checkpoint, so a
  killed worker costs time, never a result.

The wire format is a 4-byte big-endian length and a JSON object, both ways.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import sys
import time

ENV = "COMPACTBIO_WORKER"
OFF = frozenset({"", "0", "off", "no", "false", "none"})
ENTRY = "compactbio.cli:main"
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
CONNECT_TIMEOUT_S = 5.0
RLIMITS = ("RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_MEMLOCK",
           "RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_RSS", "RLIMIT_STACK")
_HEADER = struct.Struct("!I")
MAX_MESSAGE = 64 << 20


# ------------------------------------------------------------------ framing (shared with the worker)

def send_message(sock: socket.socket, obj: dict, fds: list[int] | tuple[int, ...] = ()) -> None:
    """One framed JSON message; ``fds`` travel with its first byte (SCM_RIGHTS)."""
    data = json.dumps(obj).encode("utf-8")
    frame = _HEADER.pack(len(data)) + data
    sent = socket.send_fds(sock, [frame], list(fds)) if fds else sock.send(frame)
    if sent < len(frame):
        sock.sendall(frame[sent:])


def _recv_exactly(sock: socket.socket, n: int, max_fds: int = 0) -> tuple[bytes, list[int]]:
    """``n`` bytes (fewer only at end of stream); descriptors sent with the first of them."""
    buf, fds = b"", []
    while len(buf) < n:
        if max_fds and not buf:
            chunk, got, _flags, _addr = socket.recv_fds(sock, n, max_fds)
            fds += got
        else:
            chunk = sock.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf, fds


def recv_message(sock: socket.socket, max_fds: int = 0) -> tuple[dict | None, list[int]]:
    """The next framed message and the descriptors that came with it; ``(None, [])`` at end of stream.

    Reads exactly one message, so messages sent back to back are never merged.
    """
    head, fds = _recv_exactly(sock, _HEADER.size, max_fds)
    (size,) = _HEADER.unpack(head) if len(head) == _HEADER.size else (None,)
    body = b""
    if size is not None and size <= MAX_MESSAGE:
        body, _ = _recv_exactly(sock, size)
    if size is None or size > MAX_MESSAGE or len(body) < size:
        for fd in fds:
            os.close(fd)
        if size is not None and size > MAX_MESSAGE:
            raise ValueError(f"worker message of {size} bytes")
        return None, []
    return json.loads(body), fds


# ------------------------------------------------------------------ client

def wanted(env=None) -> str | None:
    """The worker's socket path from the environment, or None when it is unset or switched off."""
    value = (os.environ if env is None else env).get(ENV, "")
    return None if value.strip().lower() in OFF else value


def _open_fds() -> list[int]:
    out = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            continue
        out.append(fd)
    return out


def _stdio_shape() -> list[dict | None]:
    """How this interpreter built sys.stdin/stdout/stderr, for the child to build its own the same way."""
    out = []
    for stream in (sys.__stdin__, sys.__stdout__, sys.__stderr__):
        if stream is None:
            out.append(None)
            continue
        out.append({"encoding": stream.encoding, "errors": stream.errors, "line_buffering": stream.line_buffering,
                    "write_through": stream.write_through,
                    "buffered": hasattr(stream.buffer, "raw")})
    return out


def limits() -> dict:
    """This process's resource limits, niceness and CPU affinity: a child of the worker takes them on."""
    import resource

    out = {"rlimits": {name: list(resource.getrlimit(getattr(resource, name))) for name in RLIMITS
                       if hasattr(resource, name)},
           "nice": os.getpriority(os.PRIO_PROCESS, 0)}
    if hasattr(os, "sched_getaffinity"):
        out["affinity"] = sorted(os.sched_getaffinity(0))
    return out


def request(argv: list[str], entry: str) -> dict:
    """What a child needs to be this process: its argv, place, environment and interpreter."""
    mask = os.umask(0)
    os.umask(mask)
    return {"entry": entry, "argv": [sys.argv[0] if sys.argv else "compactbio", *argv], "cwd": os.getcwd(),
            "env": dict(os.environ), "umask": mask, "fds": _open_fds(), "stdio": _stdio_shape(),
            "path": list(sys.path), **limits(),
            "executable": os.path.realpath(sys.executable), "prefix": sys.prefix, "version": sys.version,
            "flags": list(sys.flags), "xoptions": {str(k): str(v) for k, v in sys._xoptions.items()},
            "pid": os.getpid()}


def _gone(pid: int) -> bool:
    """True once ``pid`` can no longer run (exited, or a zombie nobody has reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
    except FileNotFoundError:
        return True
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _wait_gone(pid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.02)


def _die_like(sig: int) -> None:
    """End this process by ``sig`` (as the child did), so the shell above sees the same status."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    for s in FORWARDED:
        signal.signal(s, signal.SIG_DFL)
    signal.signal(sig, signal.SIG_DFL)
    os.kill(os.getpid(), sig)
    time.sleep(1)
    os._exit(128 + sig)  # the signal was blocked or ignored: at least the same shell status


def delegate(address: str, argv: list[str], entry: str = ENTRY) -> int | None:
    """Run the job in the warm worker; its exit code, or None when the worker cannot take it.

    A child that died of a signal makes this process die of the same signal
    (so this function does not return then).
    """
    pending: list[int] = []
    state = {"sock": None}

    def forward(signum, _frame):
        pending.append(signum)
        if state["sock"] is not None:  # the child runs: it gets the signal, this process waits for its end
            try:
                send_message(state["sock"], {"signal": signum})
            except OSError:
                pass

    previous = {s: signal.signal(s, forward) for s in FORWARDED}
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            sock.settimeout(CONNECT_TIMEOUT_S)
            sock.connect(address)
            req = request(argv, entry)
            send_message(sock, req, req["fds"])
            sock.settimeout(None)
            reply, _ = recv_message(sock)
        except (OSError, ValueError):
            reply = None
        if reply is None or "pid" not in reply:  # refused, or the worker went away before forking
            sock.close()
            if pending:
                _die_like(pending[0])
            return None
        pid = int(reply["pid"])
        state["sock"] = sock
        for signum in pending:  # arrived while the job was being handed over
            try:
                send_message(sock, {"signal": signum})
            except OSError:
                pass
        try:
            result, _ = recv_message(sock)
        except (OSError, ValueError):
            result = None
        state["sock"] = None
        sock.close()
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    if result is not None and "exit" in result:
        return int(result["exit"])
    if result is not None and "signal" in result:
        _die_like(int(result["signal"]))
    # The worker died while the job ran: make sure the job is dead too (on Linux the kernel has killed the
    # child itself; this also gets what it started, in its process group), then run it here.
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    _wait_gone(pid)
    if pending:
        _die_like(pending[0])
    sys.stderr.write(f"compactbio: the warm worker stopped while it ran this job (child {pid}); "
                     "running the job again in this process\n")
    sys.stderr.flush()
    return None


def stage_of(argv: list[str]) -> str | None:
    """The subcommand in ``compactbio [--params P] [--log F] [-v] STAGE ...``."""
    it = iter(argv)
    for tok in it:
        if tok in ("--params", "--log"):
            next(it, None)
        elif not tok.startswith("-"):
            return tok
    return None


def run(argv: list[str] | None = None, entry: str = ENTRY) -> int:
    """Run ``entry`` (a ``module:function`` reading ``sys.argv``) for ``argv``: in the worker if one answers."""
    args = sys.argv[1:] if argv is None else list(argv)
    address = wanted()
    if address is not None and stage_of(args) != "worker":
        code = delegate(address, args, entry)
        if code is not None:
            return code
    if argv is not None:
        sys.argv[1:] = args
    module, _, func = entry.partition(":")
    import importlib

    return getattr(importlib.import_module(module), func)()


def main() -> int:
    """Console-script entry point (``compactbio``)."""
    return run()


if __name__ == "__main__":
    sys.exit(main())
