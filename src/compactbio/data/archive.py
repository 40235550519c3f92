"""Archive extraction that cannot write outside its target folder.

Every member is checked *before* anything is written: an absolute name, a
``..`` component, a link (symbolic or hard) whose target resolves outside the
folder, or a device / FIFO member rejects the whole archive with a
:class:`DataError` naming the member.  Checking first, then extracting, means a
hostile archive leaves nothing behind, not half its contents.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tarfile
import zipfile
from pathlib import Path

from .errors import DataError


def _inside(name: str) -> bool:
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return False
    norm = posixpath.normpath(name.replace("\\", "/"))
    return norm != ".." and not norm.startswith("../")


def _check_tar(path: Path, tf: tarfile.TarFile) -> None:
    for m in tf.getmembers():
        if not _inside(m.name):
            raise DataError(path, f"unsafe archive member {m.name!r}: path leaves the target folder")
        if m.isdev() or m.isfifo():
            raise DataError(path, f"unsafe archive member {m.name!r}: device or FIFO")
        if m.issym():
            target = posixpath.join(posixpath.dirname(m.name), m.linkname)
            if m.linkname.startswith("/") or not _inside(target):
                raise DataError(path, f"unsafe archive member {m.name!r}: link to {m.linkname!r} leaves the target folder")
        if m.islnk() and not _inside(m.linkname):
            raise DataError(path, f"unsafe archive member {m.name!r}: hard link to {m.linkname!r} leaves the target folder")


def _check_zip(path: Path, zf: zipfile.ZipFile) -> None:
    for info in zf.infolist():
        if not _inside(info.filename):
            raise DataError(path, f"unsafe archive member {info.filename!r}: path leaves the target folder")
        mode = info.external_attr >> 16
        if mode and (mode & 0o170000) == 0o120000:
            raise DataError(path, f"unsafe archive member {info.filename!r}: symbolic link")


def extract(archive: str | os.PathLike, target: str | os.PathLike) -> list[str]:
    """Extract a ``.tar(.gz|.bz2|.xz)`` or ``.zip`` into ``target``; return member names."""
    archive, target = Path(archive), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            _check_zip(archive, zf)
            zf.extractall(target)
            return zf.namelist()
    try:
        tf = tarfile.open(archive)
    except tarfile.TarError as exc:
        raise DataError(archive, f"not a readable tar or zip archive: {exc}") from None
    with tf:
        _check_tar(archive, tf)
        kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tf.extractall(target, **kwargs)  # the "data" filter is a second line of defence
        return tf.getnames()


def copy_or_link(src: Path, dest: Path, link: bool = False) -> None:
    """Place a local file or folder at ``dest``: a symlink when asked, else a copy."""
    if link:
        dest.symlink_to(src.resolve(), target_is_directory=src.is_dir())
    elif src.is_dir():
        shutil.copytree(src, dest, symlinks=False)
    else:
        shutil.copy2(src, dest)
