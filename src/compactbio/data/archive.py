"""Archive extraction that cannot write outside its target folder.

Supported: Python 3.10 and later (``requires-python``), on POSIX systems
(Linux, macOS), for ``.tar``, ``.tar.gz`` / ``.tgz``, ``.tar.bz2``,
``.tar.xz`` and ``.zip``.

Why not ``extractall(filter="data")``: the interpreter's filter is missing on
3.10.0-3.10.11 and 3.11.0-3.11.3, and where present it is bypassable in every
release before 3.11.13 / 3.12.11 / 3.13.4 and the matching 3.10 security
release (CVE-2025-4517 and the related CVEs fixed with it: a chain of symlinks
whose expansion overflows ``PATH_MAX`` makes ``os.path.realpath`` stop
resolving, so an escaping link looks inside; 3.11.7, this project's reference
interpreter, is affected: ``test_cve_2025_4517_realpath_overflow``).
Checking member *names* as text is not enough either: ``a/b/c -> ../..``
then ``a/b/c/x -> ../..`` both look harmless, yet ``a/b/c/x/file`` lands two
folders above the target.

So this module never lets tarfile or zipfile write.  It first replays the
whole archive on a model of the destination (what each path will be once the
earlier members are on disk, plus what the folder already holds) and resolves
every member's final location the way the kernel will, following links made
by earlier members.  Any of these rejects the whole archive with one
:class:`DataError` line naming the archive and the member, before anything is
written:

* an absolute name, or one whose ``..`` components (after links) leave the folder;
* a symbolic link that is absolute or resolves outside the folder (checked when
  it is made and again after the last member, since a later member can change
  what an earlier link points at), or a loop of links;
* a hard link whose target is outside or is not a regular file extracted
  earlier from the same archive;
* a device, FIFO or other special member, and any symbolic link in a zip
  (zipfile would write its target as a file; no dataset needs one).

Then it writes each member itself: parent folders are checked with ``lstat``
(a link where the plan put a real folder stops the extraction), files are
created with ``O_EXCL | O_NOFOLLOW`` after removing whatever stood there, modes
lose setuid/setgid/sticky and group/other write bits, ownership is never set.
A failure *while writing* (disk full, a folder changed underneath) can leave
part of the archive behind; callers extract into a fresh folder that replaces
the output only on success (``fetch`` uses :func:`compactbio.io.atomic_dir`).
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from .errors import DataError

MAX_LINK_HOPS = 40   # the kernel's ELOOP limit: a longer chain is a loop or an attack
_DIR, _FILE, _LINK = "dir", "file", "link"


class _Unsafe(Exception):
    """A member that must not be extracted; the text says why (becomes a DataError)."""


class _Damaged(Exception):
    """A member that cannot be read (becomes a DataError)."""


def _short(text: str, limit: int = 120) -> str:
    r = repr(text)
    return r if len(r) <= limit else f"{r[:limit // 2]}...{r[-limit // 2:]}"


def _is_absolute(name: str) -> bool:
    # "\x" and "C:x" are absolute for Windows tools that may later read the folder
    return name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":")


def _why(what: str, exc: Exception) -> _Unsafe:
    """``what`` leaves the target folder, with the link that took it there when there is one."""
    detail = str(exc).removeprefix("path leaves the target folder").strip()
    return _Unsafe(f"{what} leaves the target folder" + (f" ({detail})" if detail else ""))


def _parts(name: str) -> list[str]:
    return [p for p in name.split("/") if p not in ("", ".")]


@dataclass
class _Node:
    kind: str                   # _DIR, _FILE or _LINK
    target: str | None = None   # a link's text
    member: str | None = None   # the archive member that made it (None: already on disk)


@dataclass
class _Step:
    """One planned write: where (real components under the target) and what."""
    kind: str
    member: object            # TarInfo or ZipInfo
    where: tuple[str, ...]
    link: str | None = None                   # symlink text
    source: tuple[str, ...] | None = None     # hard-link target (real components)


class _Tree:
    """The destination as it will be after each member: resolves paths as the kernel does."""

    def __init__(self, root: str):
        self.root = root
        self.nodes: dict[tuple[str, ...], _Node] = {}
        with os.scandir(root) as entries:   # an empty folder (the usual case) needs no lstat per lookup
            self.on_disk = any(entries)

    def node(self, parts: tuple[str, ...]) -> _Node | None:
        got = self.nodes.get(parts)
        if got is not None or not self.on_disk:
            return got
        path = os.path.join(self.root, *parts)
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if stat.S_ISLNK(st.st_mode):
            return _Node(_LINK, os.readlink(path))
        return _Node(_DIR if stat.S_ISDIR(st.st_mode) else _FILE)

    def resolve(self, parts) -> tuple[str, ...]:
        """Real components (no links left) of ``parts``; :class:`_Unsafe` if they leave the root."""
        stack: list[str] = []
        pending = list(reversed(list(parts)))
        hops, via = 0, ""
        while pending:
            comp = pending.pop()
            if comp in ("", "."):
                continue
            if comp == "..":
                if not stack:
                    raise _Unsafe("path leaves the target folder" + via)
                stack.pop()
                continue
            here = (*stack, comp)
            node = self.node(here)
            if node is not None and node.kind == _LINK:
                hops += 1
                if hops > MAX_LINK_HOPS:
                    raise _Unsafe("too many levels of links (a loop?)")
                if _is_absolute(node.target):
                    raise _Unsafe("path leaves the target folder via link "
                                  f"{_short('/'.join(here))} -> {_short(node.target)}")
                via = f" via link {_short('/'.join(here))} -> {_short(node.target)}"
                pending.extend(reversed(node.target.split("/")))
                continue
            if node is not None and node.kind == _FILE and pending:
                raise _Unsafe(f"path goes through the file {'/'.join(here)!r}")
            stack.append(comp)
        return tuple(stack)

    def _parents(self, where: tuple[str, ...]) -> None:
        for i in range(1, len(where)):
            self.nodes.setdefault(where[:i], _Node(_DIR))

    def _leaf(self, name: str) -> tuple[str, ...]:
        """Where a non-folder member lands: its parent resolved, its own name not followed."""
        if _is_absolute(name):
            raise _Unsafe("path leaves the target folder (absolute name)")
        parts = _parts(name)
        if not parts or parts[-1] == "..":
            raise _Unsafe("not a file name")
        where = (*self.resolve(parts[:-1]), parts[-1])
        old = self.node(where)
        if old is not None and old.kind == _DIR:
            raise _Unsafe(f"would replace the folder {'/'.join(where)!r}")
        return where

    def add_dir(self, name: str) -> tuple[str, ...]:
        if _is_absolute(name):
            raise _Unsafe("path leaves the target folder (absolute name)")
        where = self.resolve(_parts(name))
        old = self.node(where)
        if old is not None and old.kind != _DIR:
            raise _Unsafe(f"folder would replace the file {'/'.join(where)!r}")
        self._parents(where)
        if where:
            self.nodes[where] = _Node(_DIR, member=name)
        return where

    def add_file(self, name: str) -> tuple[str, ...]:
        where = self._leaf(name)
        self._parents(where)
        self.nodes[where] = _Node(_FILE, member=name)
        return where

    def add_symlink(self, name: str, target: str) -> tuple[str, ...]:
        if _is_absolute(target):
            raise _Unsafe(f"link to {_short(target)} leaves the target folder (absolute)")
        where = self._leaf(name)
        self.nodes[where] = _Node(_LINK, target, name)   # in place first: a link may go through itself
        try:
            self.resolve(where)
        except _Unsafe as exc:   # the whole archive is refused, so the model need not be undone
            raise _why(f"link to {_short(target)}", exc) from None
        self._parents(where)
        return where

    def add_hardlink(self, name: str, target: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        if _is_absolute(target):
            raise _Unsafe(f"hard link to {_short(target)} leaves the target folder (absolute)")
        parts = _parts(target)
        try:
            source = (*self.resolve(parts[:-1]), parts[-1]) if parts and parts[-1] != ".." else None
        except _Unsafe as exc:
            raise _why(f"hard link to {_short(target)}", exc) from None
        node = self.nodes.get(source) if source else None
        if node is None or node.kind != _FILE or node.member is None:
            raise _Unsafe(f"hard link to {_short(target)}, which is not a regular file extracted "
                          "earlier from this archive")
        where = self._leaf(name)
        if where == source:
            raise _Unsafe("hard link to itself")
        self._parents(where)
        self.nodes[where] = _Node(_FILE, member=name)
        return where, source

    def check_links(self) -> None:
        """Every link made still resolves inside: a later member can change an earlier link's meaning."""
        for where, node in list(self.nodes.items()):
            if node.kind == _LINK and node.member is not None:
                try:
                    self.resolve(where)
                except _Unsafe as exc:
                    why = _why(f"link to {_short(node.target)}", exc)
                    raise _Unsafe(f"{_short(node.member)}: {why} once later members are extracted") from None


# ------------------------------------------------------------------ planning (nothing written)
def _plan_tar(tf: tarfile.TarFile, tree: _Tree) -> list[_Step]:
    steps = []
    for m in tf.getmembers():
        try:
            if m.isdev():
                raise _Unsafe("device or FIFO")
            if m.isdir():
                steps.append(_Step(_DIR, m, tree.add_dir(m.name)))
            elif m.issym():
                steps.append(_Step(_LINK, m, tree.add_symlink(m.name, m.linkname), link=m.linkname))
            elif m.islnk():
                where, source = tree.add_hardlink(m.name, m.linkname)
                steps.append(_Step("hardlink", m, where, source=source))
            elif m.isreg():
                steps.append(_Step(_FILE, m, tree.add_file(m.name)))
            else:
                raise _Unsafe(f"unsupported member type {m.type!r}")
        except _Unsafe as exc:
            raise _Unsafe(f"{_short(m.name)}: {exc}") from None
    tree.check_links()
    return steps


def _zip_mode(info: zipfile.ZipInfo) -> int:
    return info.external_attr >> 16   # the Unix st_mode, when a Unix tool made the zip


def _plan_zip(zf: zipfile.ZipFile, tree: _Tree) -> list[_Step]:
    steps = []
    for info in zf.infolist():
        try:
            kind = stat.S_IFMT(_zip_mode(info))
            if kind == stat.S_IFLNK:
                raise _Unsafe("symbolic link (not extracted from zip archives)")
            if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                raise _Unsafe("device or FIFO")
            if info.is_dir():
                steps.append(_Step(_DIR, info, tree.add_dir(info.filename)))
            else:
                steps.append(_Step(_FILE, info, tree.add_file(info.filename)))
        except _Unsafe as exc:
            raise _Unsafe(f"{_short(info.filename)}: {exc}") from None
    return steps


# ------------------------------------------------------------------ writing
def _real_dirs(root: str, parts: tuple[str, ...]) -> str:
    """Create or check each folder of ``parts`` without following a link; return its path."""
    path = root
    for comp in parts:
        path = os.path.join(path, comp)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            os.mkdir(path)
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise _Unsafe(f"{path!r} changed on disk during extraction (expected a real folder)")
    return path


def _clear(path: str) -> None:
    """Remove a file or link about to be replaced, so the new member never writes through it."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise _Unsafe(f"{path!r} is a folder on disk")
    os.unlink(path)


def _file_mode(mode: int | None) -> int:
    """tarfile's "data" filter rules: no setuid/setgid/sticky, no group/other write, owner rw."""
    mode = (mode or 0o644) & 0o755 | 0o600
    return mode if mode & 0o100 else mode & ~0o111


def _write(src, path: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)


def _apply(steps: list[_Step], root: str, read) -> None:
    for step in steps:
        name = step.member.name if isinstance(step.member, tarfile.TarInfo) else step.member.filename
        try:
            _apply_one(step, root, read)
        except _Unsafe as exc:
            raise _Unsafe(f"{_short(name)}: {exc}") from None
        except (RuntimeError, NotImplementedError) as exc:   # zipfile: encrypted, unknown compression
            raise _Damaged(f"member {_short(name)} cannot be read: {exc}") from None


def _apply_one(step: _Step, root: str, read) -> None:
    """Write one planned member; every folder on the way is checked, nothing is followed."""
    if step.kind == _DIR:
        _real_dirs(root, step.where)
        return
    path = os.path.join(_real_dirs(root, step.where[:-1]), step.where[-1])
    _clear(path)
    m = step.member
    if step.kind == _LINK:
        os.symlink(step.link, path)
    elif step.kind == "hardlink":
        source = os.path.join(_real_dirs(root, step.source[:-1]), step.source[-1])
        if not stat.S_ISREG(os.lstat(source).st_mode):
            raise _Unsafe(f"hard link source {source!r} is not a regular file on disk")
        try:
            os.link(source, path, follow_symlinks=False)
        except OSError:   # a file system without hard links: a copy reads the same
            shutil.copyfile(source, path, follow_symlinks=False)
    else:
        with read(m) as src:
            if isinstance(m, tarfile.TarInfo):
                _write(src, path, _file_mode(m.mode))
                os.utime(path, (m.mtime, m.mtime))
            else:
                _write(src, path, _file_mode(_zip_mode(m) & 0o7777 or None))


def extract(archive: str | os.PathLike, target: str | os.PathLike) -> list[str]:
    """Extract a tar (any compression) or zip ``archive`` into ``target``; return member names.

    Raises :class:`DataError` (``<archive>: unsafe archive member '<name>': <why>``)
    before writing anything if any member could land outside ``target``.
    """
    archive, target = Path(archive), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    root = os.path.realpath(target, strict=True)   # the *real* folder members are resolved against
    tree = _Tree(root)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                steps = _plan_zip(zf, tree)
                _apply(steps, root, zf.open)
                return zf.namelist()
        try:
            tf = tarfile.open(archive)
        except tarfile.TarError as exc:
            raise DataError(archive, f"not a readable tar or zip archive: {exc}") from None
        with tf:
            steps = _plan_tar(tf, tree)
            _apply(steps, root, tf.extractfile)
            return tf.getnames()
    except _Unsafe as exc:
        raise DataError(archive, f"unsafe archive member {exc}") from None
    except (_Damaged, tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise DataError(archive, f"damaged archive: {exc}") from None


def copy_or_link(src: Path, dest: Path, link: bool = False) -> None:
    """Place a local file or folder at ``dest``: a symlink when asked, else a copy."""
    if link:
        dest.symlink_to(src.resolve(), target_is_directory=src.is_dir())
    elif src.is_dir():
        shutil.copytree(src, dest, symlinks=False)
    else:
        shutil.copy2(src, dest)
