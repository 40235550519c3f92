"""Atomic writes: a stage that fails leaves nothing behind at its output path.

Snakemake and DVC both treat an existing output as "done", so a half-written
folder would be silently trusted by the next run.  Everything is written to a
temporary sibling and renamed into place only when complete.

A job killed with SIGKILL (OOM killer, SLURM over its time) cannot clean up,
so its temporary folder ``.<name>.tmp-XXXXXXXX`` would stay forever.  Each
temporary folder therefore holds an exclusive ``flock`` on a lock file inside
it for as long as its writer lives (the kernel drops the lock when the process
dies, however it dies), and the next :func:`atomic_dir` for the same output
removes the temporary folders of *that* output whose lock it can take.  What
is removed is deliberately narrow: only real folders (no symlinks) owned by
this user, named exactly ``.<name>.tmp-`` plus the 8 characters ``mkdtemp``
adds, so another job's output (``.<name>x.tmp-...``) never matches; a folder
whose lock is held (a concurrent writer) is left alone, and so is one whose
lock cannot be checked (a file system without locks) unless it has no lock
file and was last changed more than a day ago (one left by older code).  As a
second guard, for file systems whose locks are not shared between hosts, the
lock file names its writer's host and pid: a folder is removed only when that
process is gone (same host) or the folder is more than a day old (another host).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import socket
import stat
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator


TMP_LOCK = ".compactbio-writing.lock"  # inside each temporary folder while it is being written
UNLOCKED_STALE_AFTER = 24 * 3600  # seconds: a temporary folder without a lock file (older code) is stale after this
_log = logging.getLogger(__name__)


def _lock(path: Path, create: bool):
    """A descriptor holding an exclusive flock on ``path``; None if another process holds it.

    The cleaner opens without ``O_CREAT`` and, once it holds the lock, checks the
    file is still linked: a writer unlinks its lock file *before* releasing it,
    so a lock taken on an unlinked file means the writer finished, not died.
    """
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_CREAT | os.O_EXCL if create else 0)
    fd = os.open(path, flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if not create:
            linked = os.stat(path, follow_symlinks=False)
            if (linked.st_dev, linked.st_ino) != (os.fstat(fd).st_dev, os.fstat(fd).st_ino):
                os.close(fd)
                return None
    except (BlockingIOError, FileNotFoundError):
        os.close(fd)
        return None
    except OSError:
        os.close(fd)
        raise
    return fd


def _writer_gone(fd: int) -> bool:
    """Second guard, for file systems where flock is not shared between hosts (NFS ``local_lock``):
    the lock file names its writer's host and pid; on this host that process must be gone, on
    another host the folder must be older than a day."""
    try:
        host, pid = os.pread(fd, 512, 0).decode("utf-8", "replace").split()[:2]
        pid = int(pid)
    except ValueError:
        host, pid = None, None
    if host == socket.gethostname() and pid is not None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:  # alive, another user's
            return False
        return False
    return time.time() - os.fstat(fd).st_mtime > UNLOCKED_STALE_AFTER


def remove_stale_temps(out: str | os.PathLike) -> list[Path]:
    """Remove the temporary folders a killed writer of ``out`` left behind; return them."""
    out = Path(out)
    pattern = re.compile(rf"^\.{re.escape(out.name)}\.tmp-[a-z0-9_]{{8}}$")
    removed = []
    try:
        entries = list(os.scandir(out.parent))
    except OSError:
        return removed
    for entry in entries:
        if not pattern.match(entry.name):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
                continue
            path = Path(entry.path)
            lock = path / TMP_LOCK
            if lock.is_file() and not lock.is_symlink():
                fd = _lock(lock, create=False)
                if fd is None:
                    continue  # its writer is alive
                try:
                    if not _writer_gone(fd):
                        continue
                    shutil.rmtree(path)
                finally:
                    os.close(fd)
            elif not lock.exists() and time.time() - st.st_mtime > UNLOCKED_STALE_AFTER:
                shutil.rmtree(path)
            else:
                continue
        except OSError as exc:  # no locks on this file system, or a race with another cleaner: leave it
            _log.debug("left %s in place: %s", entry.path, exc)
            continue
        _log.info("removed %s, left by a writer of %s that was killed", entry.path, out)
        removed.append(Path(entry.path))
    return removed


@contextlib.contextmanager
def atomic_dir(out: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder that replaces ``out`` only if the block succeeds."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    fd = None
    try:
        try:
            fd = _lock(tmp / TMP_LOCK, create=True)
            os.write(fd, f"{socket.gethostname()} {os.getpid()}\n".encode())
        except OSError as exc:  # a file system without flock: the folder is then never removed by others
            _log.debug("cannot lock %s: %s", tmp, exc)
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if fd is not None:
            os.close(fd)
        raise
    (tmp / TMP_LOCK).unlink(missing_ok=True)
    if fd is not None:
        os.close(fd)  # unlinked first: no instant in which an unlocked lock file is there to be taken
    if out.is_dir() and not out.is_symlink():
        shutil.rmtree(out)
    elif out.exists() or out.is_symlink():
        out.unlink()
    os.replace(tmp, out)


@contextlib.contextmanager
def atomic_path(out: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file path that is renamed to ``out`` if the block succeeds."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.tmp-", dir=out.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, out)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_jsonl(path: str | os.PathLike, rows) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """JSON lines, one object a line (blank lines skipped); errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: file not found")
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: not valid JSON: {exc.msg}") from None
    return rows
