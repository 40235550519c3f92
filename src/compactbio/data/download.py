"""HTTP(S) downloads that survive flaky links and never leave a half file behind.

* Bytes go to ``<dest>.part``; beside it ``<dest>.part.json`` records where
  they came from: the URL and the server's validators (``ETag``,
  ``Last-Modified``) of the response that started the file.
* A retry (or the next run) resumes with ``Range: bytes=<have>-`` and
  ``If-Range: <validator>``, so a dropped connection late in a 400 MB archive
  costs seconds, and a file that changed on the server is sent whole instead
  of being spliced onto the old bytes.  The partial file is discarded and the
  download restarts from byte 0 when

  - the URL differs from the recorded one (params changed, or another source
    wrote the same name),
  - the server answers the range request with 200 (a changed file under
    ``If-Range``, or a server without range support),
  - a 206 answer carries other validators than the recorded ones, or resumes
    at another offset than the end of the partial file,
  - the partial file has no record, or the server gave no validator to check
    it against, and nothing verifies the result afterwards (no pinned SHA-256
    and no published MD5): resuming such a file could produce a hybrid of two
    versions that nothing would catch.

* Retries back off exponentially (``backoff * 2**attempt`` seconds).  Only
  network errors are retried: a local error (disk full, read-only file
  system, permissions) stops at once with a message saying what to fix.
* Only ``http://`` and ``https://`` URLs are downloaded; files already on
  disk are a ``path:`` source (fetch.py).
* The SHA-256 is computed over the complete file; when the caller pinned one
  and it differs, the ``.part`` is deleted and :class:`ChecksumError` names
  both digests.  Only a verified file is renamed to ``dest``.

Only the standard library is used (urllib), so there is no extra dependency
and the tests can drive it against ``http.server`` on loopback.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from .errors import DataError

logger = logging.getLogger(__name__)
CHUNK = 1 << 16
SCHEMES = ("http", "https")
MAX_RESTARTS = 3  # a file that changes under us this often is not worth chasing
# Errors of this machine, not of the network: retrying cannot help.
LOCAL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR,
                          errno.EISDIR, errno.ENAMETOOLONG, errno.EFBIG})
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?:(?P<start>\d+)-(?P<end>\d+)|\*)/(?P<total>\d+|\*)\s*$")


class ChecksumError(DataError):
    """The downloaded bytes do not match the pinned SHA-256."""


class LocalWriteError(DataError):
    """Writing the download to local disk failed (full disk, permissions): not retried."""


class _Restart(Exception):
    """The partial file cannot be resumed; it was discarded and the next request starts at byte 0."""


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB blocks (baseline files are tens of MB each)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    return file_digest(path, "sha256")


def md5_file(path: str | os.PathLike) -> str:
    """MD5, only because NLM publishes MD5 digests beside its PubMed files; SHA-256 stays our own record."""
    return file_digest(path, "md5")


def check_url(url: str, where: str | None = None) -> None:
    """Refuse anything but http(s): ``file://`` would read any local file, bypassing ``path:`` sources."""
    scheme = urlparse(str(url)).scheme.lower()
    if scheme not in SCHEMES:
        what = f"'{scheme}://' URLs are not downloaded" if scheme else "not a URL (no http:// or https://)"
        raise DataError(where or url, f"{what}: {url!r}; use an http(s) URL, or a `path:` source for files "
                                      "already on disk")


def _progress(total: int | None, initial: int, name: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, desc=name, leave=False,
                disable=None)  # None: off when not a TTY (CI logs stay readable)


def _local_error(path: Path, exc: OSError, have: int = 0) -> LocalWriteError:
    kept = f"; the {have} bytes downloaded so far are kept for the next run" if have else ""
    hint = ("free disk space" if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
            else "check the folder's permissions and that it is a writable folder")
    return LocalWriteError(path, f"cannot write the download: {exc.strerror or exc}{kept}; {hint} and rerun")


def _meta_path(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _read_meta(part: Path) -> dict | None:
    try:
        meta = json.loads(_meta_path(part).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _write_meta(part: Path, url: str, headers) -> dict:
    meta = {"url": url, "etag": headers.get("ETag"), "last_modified": headers.get("Last-Modified")}
    tmp = part.with_name(part.name + ".json.tmp")
    tmp.write_text(json.dumps(meta) + "\n", encoding="utf-8")
    os.replace(tmp, _meta_path(part))
    return meta


def _discard(part: Path) -> None:
    part.unlink(missing_ok=True)
    _meta_path(part).unlink(missing_ok=True)


def _if_range(meta: dict | None) -> str | None:
    """The validator for If-Range: a strong ETag, else Last-Modified (weak ETags may not be used)."""
    if not meta:
        return None
    etag = meta.get("etag")
    if etag and not etag.startswith("W/"):
        return etag
    return meta.get("last_modified")


def _changed(meta: dict, headers) -> str | None:
    """Why a 206 answer is not the continuation of the recorded file, or None."""
    for key, header in (("etag", "ETag"), ("last_modified", "Last-Modified")):
        if meta.get(key) and headers.get(header) != meta[key]:
            return f"the file changed on the server ({header} {meta[key]!r} -> {headers.get(header)!r})"
    return None


def _resumable(url: str, part: Path, have: int, checked: bool) -> tuple[dict | None, str | None]:
    """The partial file's record, and why it cannot be resumed (None: it can)."""
    meta = _read_meta(part)
    if meta is None:
        return None, None if checked else "no record of the URL and version it came from"
    if meta.get("url") != url:
        return meta, f"it came from another URL ({meta.get('url')})"
    if not _if_range(meta) and not checked:
        return meta, "the server sent no ETag or Last-Modified to check a resumed file against"
    return meta, None


def _attempt(url: str, part: Path, timeout: float, name: str, checked: bool) -> None:
    have = part.stat().st_size if part.exists() else 0
    meta = None
    if have:
        meta, why = _resumable(url, part, have, checked)
        if why:
            logger.info("%s: discarding the partial download (%d bytes): %s; starting from byte 0", name, have, why)
            _discard(part)
            have, meta = 0, None
    elif part.exists() or _meta_path(part).exists():
        _discard(part)
    req = urllib.request.Request(url, headers={"User-Agent": "compactbio-fetch"})
    if have:
        req.add_header("Range", f"bytes={have}-")
        if _if_range(meta):
            req.add_header("If-Range", _if_range(meta))
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # range past the end: complete only if the server's length is ours
            m = _CONTENT_RANGE.match(exc.headers.get("Content-Range") or "")
            if m and m["total"] != "*" and int(m["total"]) == have and not (meta and _changed(meta, exc.headers)):
                return
            _discard(part)
            raise _Restart(f"the server refused the range bytes={have}- (HTTP 416) and its length is not ours")
        raise
    with resp:
        if have and resp.status != 206:
            logger.info("%s: the server sent the whole file (HTTP %s) for a range request (it changed, or does "
                        "not support ranges); restarting from byte 0", name, resp.status)
            have = 0
        elif have:
            m = _CONTENT_RANGE.match(resp.headers.get("Content-Range") or "")
            why = _changed(meta, resp.headers) if meta else None
            if m is None or m["start"] is None or int(m["start"]) != have:
                why = f"the server resumed at {resp.headers.get('Content-Range')!r}, not at byte {have}"
            if why:
                _discard(part)
                raise _Restart(why)
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        try:
            if not have:
                _write_meta(part, url, resp.headers)
            f = open(part, "ab" if have else "wb")
        except OSError as exc:
            raise _local_error(part, exc) from None
        with f, _progress(total, have, name) as bar:
            while True:
                block = resp.read(CHUNK)
                if not block:
                    break
                try:
                    f.write(block)
                except OSError as exc:
                    raise _local_error(part, exc, f.tell()) from None
                bar.update(len(block))
        if total is not None and part.stat().st_size < total:
            raise ConnectionError(f"connection closed after {part.stat().st_size} of {total} bytes")


def _is_local(exc: BaseException) -> bool:
    return (isinstance(exc, OSError) and not isinstance(exc, urllib.error.URLError)
            and exc.errno in LOCAL_ERRNOS)


def download(url: str, dest: str | os.PathLike, sha256: str | None = None, retries: int = 5,
             backoff: float = 1.0, timeout: float = 60.0, checked: bool = False) -> str:
    """Fetch ``url`` to ``dest`` (resuming, retrying, verifying); return the file's SHA-256.

    ``checked``: the caller verifies the complete file against a published
    digest (NLM's MD5), so a partial file may be resumed even without
    validators: a hybrid could not pass that check.  A pinned ``sha256`` has
    the same effect.
    """
    check_url(url)
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _local_error(dest.parent, exc) from None
    part = dest.with_name(dest.name + ".part")
    checked = checked or bool(sha256)
    attempt = restarts = 0
    while True:
        try:
            _attempt(url, part, timeout, dest.name, checked)
            break
        except _Restart as exc:
            restarts += 1
            if restarts > MAX_RESTARTS:
                raise DataError(url, f"download failed: the file kept changing on the server ({exc})") from None
            logger.info("%s: %s; the partial download was discarded, restarting from byte 0", url, exc)
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, OSError) as exc:
            if isinstance(exc, urllib.error.HTTPError) and 400 <= exc.code < 500 and exc.code not in (408, 429):
                _discard(part)
                raise DataError(url, f"download failed: HTTP {exc.code} {exc.reason}") from None
            if _is_local(exc):
                raise _local_error(part, exc, part.stat().st_size if part.exists() else 0) from None
            if attempt == retries:
                raise DataError(url, f"download failed after {retries + 1} attempts: {exc} "
                                     f"(partial data kept in {part} for the next run)") from None
            wait = backoff * 2 ** attempt
            attempt += 1
            logger.warning("%s: %s; retrying in %.1fs (attempt %d of %d)", url, exc, wait, attempt + 1, retries + 1)
            time.sleep(wait)
    digest = sha256_file(part)
    if sha256 and digest != sha256.lower():
        _discard(part)
        raise ChecksumError(url, f"SHA-256 mismatch: expected {sha256.lower()}, got {digest}; the file was deleted")
    try:
        os.replace(part, dest)
    except OSError as exc:
        raise _local_error(dest, exc) from None
    _meta_path(part).unlink(missing_ok=True)
    return digest
