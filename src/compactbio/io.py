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
this user, named exactly ``.<name>.tmp-`` plus 8 random characters
(``[a-z0-9_]``), so another job's output (``.<name>x.tmp-...``) never matches; a folder
whose lock is held (a concurrent writer) is left alone, and so is one whose
lock cannot be checked (a file system without locks) unless it has no lock
file and was last changed more than a day ago (one left by older code).  As a
second guard, for file systems whose locks are not shared between hosts, the
lock file names its writer's host and pid: a folder is removed only when that
process is gone (same host) or the folder is more than a day old (another host).

Modes: the temporary folders and files are made with ``os.mkdir(path, 0o777)``
and ``os.open(path, O_CREAT | O_EXCL, 0o666)``, exactly as a plain
``os.mkdir`` / ``open`` would, and before the rename everything inside gets
those modes too (:func:`normalise_modes`: libraries such as safetensors write
through private 0600 temporary files), so what is renamed into place honours
the umask.  ``tempfile``'s 0700 / 0600 made every output private to its owner:
a lab group sharing a cluster folder could not read each other's models and
results.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import secrets
import shutil
import socket
import stat
import time
from pathlib import Path
from typing import Any, Iterator


TMP_LOCK = ".compactbio-writing.lock"  # inside each temporary folder while it is being written
UNLOCKED_STALE_AFTER = 24 * 3600  # seconds: a temporary folder without a lock file (older code) is stale after this
_log = logging.getLogger(__name__)
_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"   # as tempfile's names, which remove_stale_temps matches
SNAKEMAKE_TIMESTAMP = ".snakemake_timestamp"


def _temp_sibling(out: Path, make) -> Path:
    """``make(path)`` on a fresh ``.<name>.tmp-XXXXXXXX`` next to ``out``; retried on a name clash.

    ``make`` creates with the usual default mode (0o777 folders, 0o666 files), so
    the umask applies as it does to any plain ``mkdir`` / ``open``.
    """
    for _ in range(100):
        path = out.parent / f".{out.name}.tmp-{''.join(secrets.choice(_NAME_CHARS) for _ in range(8))}"
        try:
            make(path)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"{out.parent}: no free temporary name for {out.name}")


def _chmod(path: Path, mode: int) -> None:
    st = os.lstat(path)
    if stat.S_IMODE(st.st_mode) & 0o777 != mode:
        try:
            os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o777 | mode)   # setgid of a shared folder kept
        except PermissionError as exc:   # a hard link to someone else's file: its modes are not ours to set
            _log.warning("cannot set the mode of %s: %s", path, exc)


def normalise_modes(root: str | os.PathLike, dir_mode: int) -> None:
    """Give every folder under ``root`` (itself included) ``dir_mode`` and every file ``dir_mode & 0o666``.

    ``dir_mode`` is what ``os.mkdir(path, 0o777)`` gave (0o777 & ~umask), so the
    files get what ``open()`` gives (executables keep their x bits, masked the
    same way).  Libraries that write through private temporary files leave
    0o600 behind (safetensors 0.8's ``save_file``, tempfile-based writers), which
    would lock the lab group out of every model; symbolic links are left alone.
    """
    root = Path(root)
    file_mode = dir_mode & 0o666
    _chmod(root, dir_mode)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = os.lstat(path)
            if stat.S_ISDIR(st.st_mode):
                _chmod(path, dir_mode)
            elif stat.S_ISREG(st.st_mode):
                _chmod(path, dir_mode if st.st_mode & stat.S_IXUSR else file_mode)


def _new_file(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666))


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
    tmp = _temp_sibling(out, lambda p: os.mkdir(p, 0o777))
    dir_mode = stat.S_IMODE(os.stat(tmp).st_mode) & 0o777   # 0o777 & ~umask (or what a default ACL gives)
    fd = None
    try:
        try:
            fd = _lock(tmp / TMP_LOCK, create=True)
            os.write(fd, f"{socket.gethostname()} {os.getpid()}\n".encode())
        except OSError as exc:  # a file system without flock: the folder is then never removed by others
            _log.debug("cannot lock %s: %s", tmp, exc)
        yield tmp
        normalise_modes(tmp, dir_mode)
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
    tmp = _temp_sibling(out, _new_file)
    file_mode = stat.S_IMODE(os.stat(tmp).st_mode) & 0o666   # 0o666 & ~umask, as open() gives
    try:
        yield tmp
        if tmp.is_file() and not tmp.is_symlink():   # the block may have replaced it (a library's own temp file)
            _chmod(tmp, file_mode)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, out)


def settle_snakemake_timestamp(folder: str | os.PathLike) -> bool:
    """Move the mark Snakemake leaves in a finished ``directory()`` output onto the folder itself.

    Snakemake records a folder's completion time as the mtime of an empty
    ``.snakemake_timestamp`` file it creates inside (snakemake/io: ``touch``), on
    every directory output, after the job (the job cannot prevent it).  That file
    would be uploaded with a model folder (``upload_folder``), read by whatever
    lists the folder, and hashed by ``dvc commit``.  Run at the end of a workflow
    (the Snakefile's ``onsuccess`` / ``onerror``), this deletes it and gives the
    folder its mtime, which is what Snakemake reads when the file is absent, so
    the rerun decisions are unchanged.  Returns whether there was one.
    """
    folder = Path(folder)
    mark = folder / SNAKEMAKE_TIMESTAMP
    try:
        if folder.is_symlink() or not folder.is_dir():
            return False
        st = os.stat(mark, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            return False
        atime = os.stat(folder).st_atime_ns
        mark.unlink()
        os.utime(folder, ns=(atime, st.st_mtime_ns))
    except FileNotFoundError:
        return False
    return True


def settle_snakemake_timestamps(paths) -> list[Path]:
    """:func:`settle_snakemake_timestamp` on every folder of ``paths`` (files are skipped); the settled ones."""
    return [Path(p) for p in dict.fromkeys(str(p) for p in paths) if settle_snakemake_timestamp(p)]


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
