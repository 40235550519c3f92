"""Resumed downloads never splice two versions of a file (issue 14, item 4), against a loopback server.

The server keeps, per path, the bytes and their validators (ETag, Last-Modified),
can drop the first full response halfway (a flaky link), can change the file
at that moment (upstream republished it between two attempts), and can ignore
Range or If-Range, as real servers do.
"""

import builtins
import hashlib
import json
import os
import stat

import pytest

from compactbio.data import download as dl
from compactbio.data.download import download
from compactbio.data.errors import DataError

from file_server import file_server

V1 = bytes(range(256)) * 2000
V2 = bytes(reversed(range(256))) * 2100  # another version, of another length


@pytest.fixture
def server():
    with file_server() as srv:
        yield srv


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr("compactbio.data.download.time.sleep", lambda s: None)


def sha(b):
    return hashlib.sha256(b).hexdigest()


def republish(srv, path, data, etag, modified=None):
    def change():
        srv.files[path] = (data, etag, modified)
    return change


def test_resume_sends_if_range_and_completes_same_version(server, tmp_path):
    server.files["f.bin"] = (V1, '"v1"', None)
    server.drop_once = True
    assert download(f"{server.url}/f.bin", tmp_path / "f.bin", backoff=0) == sha(V1)
    assert (tmp_path / "f.bin").read_bytes() == V1
    assert server.requests[1]["range"] == f"bytes={len(V1) // 2}-" and server.requests[1]["if_range"] == '"v1"'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]  # neither .part nor its record is left


def test_file_changed_between_attempts_restarts_not_hybrid(server, tmp_path):
    """Upstream republishes while we retry: If-Range makes the server send v2 whole; no v1 byte survives."""
    server.files["f.bin"] = (V1, '"v1"', None)
    server.drop_once, server.on_drop = True, republish(server, "f.bin", V2, '"v2"')
    digest = download(f"{server.url}/f.bin", tmp_path / "f.bin", sha256=None, backoff=0)
    assert (tmp_path / "f.bin").read_bytes() == V2 and digest == sha(V2)
    assert server.requests[1]["if_range"] == '"v1"'


def test_server_ignoring_if_range_is_caught_by_the_etag(server, tmp_path):
    """A server that answers 206 for the new version: the ETag differs, so the part is discarded."""
    server.files["f.bin"] = (V1, '"v1"', None)
    server.honour_if_range = False
    server.drop_once, server.on_drop = True, republish(server, "f.bin", V2, '"v2"')
    download(f"{server.url}/f.bin", tmp_path / "f.bin", backoff=0)
    assert (tmp_path / "f.bin").read_bytes() == V2
    assert [r["range"] for r in server.requests] == [None, f"bytes={len(V1) // 2}-", None]


def test_last_modified_is_the_validator_without_etag(server, tmp_path):
    stamp = "Wed, 21 Oct 2015 07:28:00 GMT"
    server.files["f.bin"] = (V1, None, stamp)
    server.drop_once = True
    server.on_drop = republish(server, "f.bin", V2, None, "Thu, 22 Oct 2015 07:28:00 GMT")
    download(f"{server.url}/f.bin", tmp_path / "f.bin", backoff=0)
    assert server.requests[1]["if_range"] == stamp
    assert (tmp_path / "f.bin").read_bytes() == V2


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    server.files["f.bin"] = (V1, '"v1"', None)
    server.drop_once, server.ranges = True, False
    download(f"{server.url}/f.bin", tmp_path / "f.bin", backoff=0)
    assert (tmp_path / "f.bin").read_bytes() == V1
    assert server.requests[1]["range"] is not None  # asked for a range, got 200, wrote from byte 0


def test_changed_url_restarts_from_zero(server, tmp_path):
    """A partial file left by another URL (params changed between runs) is never resumed."""
    server.files["old.bin"] = (V1, '"same"', None)
    server.files["new.bin"] = (V2, '"same"', None)  # even with an equal ETag: another resource
    server.drop_once = True
    with pytest.raises(DataError, match="partial data kept"):
        download(f"{server.url}/old.bin", tmp_path / "f.bin", retries=0)
    assert (tmp_path / "f.bin.part").stat().st_size == len(V1) // 2
    assert json.loads((tmp_path / "f.bin.part.json").read_text())["url"] == f"{server.url}/old.bin"
    download(f"{server.url}/new.bin", tmp_path / "f.bin", backoff=0)
    assert (tmp_path / "f.bin").read_bytes() == V2
    assert server.requests[-1] == {"path": "new.bin", "range": None, "if_range": None}


def test_unrecorded_or_unvalidated_part_is_not_resumed_when_nothing_checks_it(server, tmp_path):
    server.files["f.bin"] = (V2, None, None)  # no ETag, no Last-Modified
    (tmp_path / "f.bin.part").write_bytes(V1[:1000])  # a part without a record (older code, or a copy)
    download(f"{server.url}/f.bin", tmp_path / "f.bin", backoff=0)
    assert (tmp_path / "f.bin").read_bytes() == V2 and server.requests[0]["range"] is None
    server.drop_once = True  # no validators: a dropped link restarts rather than resumes, unpinned
    download(f"{server.url}/f.bin", tmp_path / "g.bin", backoff=0)
    assert (tmp_path / "g.bin").read_bytes() == V2 and server.requests[-1]["range"] is None


def test_pinned_digest_allows_resume_without_validators(server, tmp_path):
    server.files["f.bin"] = (V1, None, None)
    server.drop_once = True
    download(f"{server.url}/f.bin", tmp_path / "f.bin", sha256=sha(V1), backoff=0)
    assert server.requests[1]["range"] == f"bytes={len(V1) // 2}-" and server.requests[1]["if_range"] is None


def test_disk_full_is_not_retried(server, tmp_path, monkeypatch):
    """ENOSPC (a real one: writes to /dev/full) stops at once with what to do; the network is not blamed."""
    if not os.path.exists("/dev/full") or not stat.S_ISCHR(os.stat("/dev/full").st_mode):
        pytest.skip("/dev/full is not the full-disk device here")
    server.files["f.bin"] = (V1, '"v1"', None)
    real_open = builtins.open

    def open_full(file, mode="r", *args, **kwargs):
        if str(file).endswith("f.bin.part"):
            return real_open("/dev/full", "wb")
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(dl, "open", open_full, raising=False)
    with pytest.raises(dl.LocalWriteError) as err:
        download(f"{server.url}/f.bin", tmp_path / "f.bin", backoff=0)
    assert "No space left on device" in str(err.value) and "free disk space" in str(err.value)
    assert len(server.requests) == 1


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x.gz", "/etc/passwd"])
def test_only_http_urls(tmp_path, url):
    with pytest.raises(DataError, match="path:` source"):
        download(url, tmp_path / "x")
    assert not list(tmp_path.iterdir())
