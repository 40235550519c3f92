"""A stand-in job for the warm-worker tests: run through :func:`compactbio.launcher.run` with
``entry="warm_probe:main"``, in the worker or in the launcher's own process, it reports or does one thing.

    state              print one JSON line describing the process (what a job could notice)
    exit N             write to stdout and stderr, exit N
    raise              an uncaught exception
    sleep S MARK       append this pid to MARK, print "ready", sleep S s, exit 0
    write PATH TEXT    write TEXT to PATH (relative to the cwd)
    stdin              print what stdin holds, upper-cased
    finalize PATH      make a temporary folder removed at exit (weakref.finalize), write its name to PATH
"""

import json
import os
import signal
import sys
import time


def state() -> dict:
    import hashlib
    import random
    import tempfile

    out = {"pid": os.getpid(), "ppid": os.getppid(), "pgid": os.getpgid(0), "cwd": os.getcwd(),
           "argv": sys.argv, "umask": os.umask(0o22), "tempdir": tempfile.gettempdir(),
           "env": {k: os.environ.get(k) for k in ("COMPACTBIO_PROBE", "OMP_NUM_THREADS", "TMPDIR")},
           "sigint_default": signal.getsignal(signal.SIGINT) is signal.default_int_handler,
           "sigterm_default": signal.getsignal(signal.SIGTERM) == signal.SIG_DFL,
           "stdout": [sys.stdout.line_buffering, sys.stdout.write_through, sys.stdout.encoding],
           "stderr": [sys.stderr.line_buffering, sys.stderr.write_through, sys.stderr.errors],
           "stdout_tty": sys.stdout.isatty(),
           "compactbio_cli_loaded": "compactbio.cli" in sys.modules,
           "nofile": list(__import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE)),
           "nice": os.getpriority(os.PRIO_PROCESS, 0),
           "random": random.random()}
    if "torch" in sys.modules or os.environ.get("COMPACTBIO_PROBE") == "torch":
        import numpy as np
        import torch

        out["torch_rng"] = hashlib.sha256(torch.get_rng_state().numpy().tobytes()).hexdigest()
        out["torch_seed"] = torch.initial_seed()
        out["torch_threads"] = torch.get_num_threads()
        out["numpy_random"] = float(np.random.random())
    return out


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "state":
        print(json.dumps(state()))
    elif cmd == "exit":
        print("to stdout")
        print("to stderr", file=sys.stderr)
        return int(args[0])
    elif cmd == "raise":
        raise RuntimeError("probe failure")
    elif cmd == "sleep":
        with open(args[1], "a") as f:
            f.write(f"{os.getpid()}\n")
        print("ready", flush=True)
        time.sleep(float(args[0]))
    elif cmd == "stdin":
        print(sys.stdin.read().upper(), end="")
    elif cmd == "finalize":
        import shutil
        import tempfile
        import weakref

        folder = tempfile.mkdtemp()
        main.keep = weakref.finalize(main, shutil.rmtree, folder)
        with open(args[0], "w") as f:
            f.write(folder)
    elif cmd == "write":
        with open(args[0], "w") as f:
            f.write(args[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
