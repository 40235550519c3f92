"""HTTP(S) downloads that survive flaky links and never leave a half file behind.

* Bytes go to ``<dest>.part``; a retry sends ``Range: bytes=<have>-`` and
  appends, so a dropped connection late in a 400 MB archive costs seconds.
  A server that ignores the range (answers 200) restarts the file cleanly.
* Retries back off exponentially (``backoff * 2**attempt`` seconds).
* The SHA-256 is computed over the complete file; when the caller pinned one
  and it differs, the ``.part`` is deleted and :class:`ChecksumError` names
  both digests.  Only a verified file is renamed to ``dest``.

Only the standard library is used (urllib), so there is no extra dependency
and the tests can drive it against ``http.server`` on loopback.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

from .errors import DataError

logger = logging.getLogger(__name__)
CHUNK = 1 << 16


class ChecksumError(DataError):
    """The downloaded bytes do not match the pinned SHA-256."""


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


def _progress(total: int | None, initial: int, name: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, desc=name, leave=False,
                disable=None)  # None: off when not a TTY (CI logs stay readable)


def _attempt(url: str, part: Path, timeout: float, name: str) -> None:
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "compactbio-fetch"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # range past the end: we already have all of it
            return
        raise
    with resp:
        if have and resp.status != 206:
            logger.info("%s: server ignored the range request; restarting from byte 0", name)
            have = 0
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with open(part, "ab" if have else "wb") as f, _progress(total, have, name) as bar:
            while True:
                block = resp.read(CHUNK)
                if not block:
                    break
                f.write(block)
                bar.update(len(block))
        if total is not None and part.stat().st_size < total:
            raise ConnectionError(f"connection closed after {part.stat().st_size} of {total} bytes")


def download(url: str, dest: str | os.PathLike, sha256: str | None = None, retries: int = 5,
             backoff: float = 1.0, timeout: float = 60.0) -> str:
    """Fetch ``url`` to ``dest`` (resuming, retrying, verifying); return the file's SHA-256."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        try:
            _attempt(url, part, timeout, dest.name)
            break
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
            if isinstance(exc, urllib.error.HTTPError) and 400 <= exc.code < 500 and exc.code not in (408, 429):
                part.unlink(missing_ok=True)
                raise DataError(url, f"download failed: HTTP {exc.code} {exc.reason}") from None
            if attempt == retries:
                raise DataError(url, f"download failed after {retries + 1} attempts: {exc} "
                                     f"(partial data kept in {part} for the next run)") from None
            wait = backoff * 2 ** attempt
            logger.warning("%s: %s; retrying in %.1fs (attempt %d of %d)", url, exc, wait, attempt + 2, retries + 1)
            time.sleep(wait)
    digest = sha256_file(part)
    if sha256 and digest != sha256.lower():
        part.unlink(missing_ok=True)
        raise ChecksumError(url, f"SHA-256 mismatch: expected {sha256.lower()}, got {digest}; the file was deleted")
    os.replace(part, dest)
    return digest
