"""fetch against a real HTTP server on 127.0.0.1: full, resumed, corrupt, recorded checksums."""

import hashlib
import os
import io
import tarfile

import pytest

from compactbio.data import fetch
from compactbio.data.download import ChecksumError, download
from compactbio.data.errors import DataError

from file_server import file_server

PAYLOAD = bytes(range(256)) * 4000  # ~1 MB, not compressible into a trivially short file


@pytest.fixture
def server():
    with file_server() as srv:
        yield srv


def sha(b):
    return hashlib.sha256(b).hexdigest()


def test_full_download_verified(server, tmp_path):
    server.files["f.bin"] = PAYLOAD
    digest = download(f"{server.url}/f.bin", tmp_path / "f.bin", sha256=sha(PAYLOAD), backoff=0.01)
    assert digest == sha(PAYLOAD)
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD
    assert not (tmp_path / "f.bin.part").exists()


def test_dropped_connection_resumes_with_range(server, tmp_path):
    server.files["f.bin"] = PAYLOAD
    server.drop_once = True
    download(f"{server.url}/f.bin", tmp_path / "f.bin", sha256=sha(PAYLOAD), backoff=0.01)
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD
    assert server.requests[0]["range"] is None
    assert server.requests[1]["range"] == f"bytes={len(PAYLOAD) // 2}-"  # resumed, not restarted


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    server.files["f.bin"] = PAYLOAD
    server.drop_once, server.ranges = True, False
    download(f"{server.url}/f.bin", tmp_path / "f.bin", sha256=sha(PAYLOAD), backoff=0.01)
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD


def test_http_404_is_a_clear_error(server, tmp_path):
    with pytest.raises(DataError, match="HTTP 404"):
        download(f"{server.url}/missing", tmp_path / "m", backoff=0.01)
    assert not list(tmp_path.iterdir())


def params_for(cfg):
    return {"sources": {"src": cfg}}


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    server.files["train.txt"] = PAYLOAD
    out = tmp_path / "raw" / "src"
    cfg = {"files": [{"url": f"{server.url}/train.txt", "name": "train.txt", "sha256": "0" * 64}]}
    with pytest.raises(ChecksumError) as err:
        fetch.run(params_for(cfg), "src", out)
    msg = str(err.value)
    assert "train.txt" in msg and "SHA-256 mismatch" in msg and sha(PAYLOAD) in msg
    assert not out.exists()
    assert list((tmp_path / "raw").iterdir()) == []  # no temp folder, no cache, no .part


def test_unpinned_checksum_recorded_then_enforced(server, tmp_path, caplog):
    server.files["a.txt"] = b"alpha\n"
    server.files["b.txt"] = b"beta\n"
    out = tmp_path / "raw"
    cfg = {"files": [{"url": f"{server.url}/a.txt", "name": "a.txt", "sha256": None},
                     {"url": f"{server.url}/b.txt", "name": "b.txt", "sha256": sha(b"beta\n")}]}
    with caplog.at_level("WARNING"):
        fetch.run(params_for(cfg), "src", out)
    assert (out / "a.txt").read_bytes() == b"alpha\n"
    sums = (out / "SHA256SUMS").read_text().splitlines()
    assert sums == [f"{sha(b'alpha' + bytes([10]))}  a.txt", f"{sha(b'beta' + bytes([10]))}  b.txt"]
    assert sha(b"alpha\n") in caplog.text and "files[0].sha256" in caplog.text
    # Upstream changes: the next fetch into the same folder is verified against the record.
    server.files["a.txt"] = b"tampered\n"
    with pytest.raises(ChecksumError, match="a.txt"):
        fetch.run(params_for(cfg), "src", out)
    assert (out / "a.txt").read_bytes() == b"alpha\n"  # the good copy is untouched


def test_url_archive_extracted(server, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        data = b"tok\tO\n"
        info = tarfile.TarInfo("datasets/NER/X/train.tsv")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    server.files["datasets.tar.gz"] = buf.getvalue()
    out = tmp_path / "raw"
    fetch.run(params_for({"url": f"{server.url}/datasets.tar.gz", "sha256": sha(buf.getvalue()), "extract": True}),
              "src", out)
    assert (out / "datasets/NER/X/train.tsv").read_bytes() == b"tok\tO\n"
    assert (out / "SHA256SUMS").read_text() == f"{sha(buf.getvalue())}  datasets.tar.gz\n"
    assert not (tmp_path / ".raw.cache").exists()


def test_path_source_copies_and_links(tmp_path):
    src = tmp_path / "mine"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f.txt").write_text("x")
    fetch.run(params_for({"path": str(src)}), "src", tmp_path / "copy")
    assert (tmp_path / "copy/sub/f.txt").read_text() == "x" and not (tmp_path / "copy/sub").is_symlink()
    fetch.run(params_for({"path": {"path": str(src), "link": True}}), "src", tmp_path / "link")
    assert (tmp_path / "link/sub").is_symlink() and (tmp_path / "link/sub/f.txt").read_text() == "x"
    with pytest.raises(DataError, match="not found"):
        fetch.run(params_for({"path": str(tmp_path / "nope")}), "src", tmp_path / "x")


def test_hf_dataset_from_local_folder(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "hub" / "data"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"title": ["T1", "T2", "T3"], "abstract": ["A one.", "", "A three\nline two."]}),
                   folder / "train-00000.parquet")
    cfg = {"hf_dataset": {"name": str(tmp_path / "hub"), "split": "train", "text_fields": ["title", "abstract"],
                          "max_documents": 2}}
    fetch.run(params_for(cfg), "src", tmp_path / "raw")
    assert (tmp_path / "raw/documents.txt").read_text() == "T1 A one.\nT2\n"


def test_source_needs_one_kind(tmp_path):
    with pytest.raises(ValueError, match="exactly one of"):
        fetch.run(params_for({"url": "http://x", "path": "/y"}), "src", tmp_path / "o")
    with pytest.raises(ValueError, match="unknown source 'nope'"):
        fetch.run(params_for({}), "nope", tmp_path / "o")


# ------------------------------------------------ issue 14: recorded digests, stale temps, refused URLs
def test_recorded_digests_survive_the_front_ends_deleting_out(server, tmp_path):
    """Snakemake and DVC delete the output before rerunning fetch: the record beside it still verifies."""
    import shutil

    server.files["a.txt"] = b"alpha\n"
    out = tmp_path / "raw" / "src"
    cfg = {"files": [{"url": f"{server.url}/a.txt", "name": "a.txt", "sha256": None}]}
    fetch.run(params_for(cfg), "src", out)
    copy = tmp_path / "raw" / ".src.sums"
    assert copy.read_text() == f"{sha(b'alpha' + bytes([10]))}  a.txt\n"
    shutil.rmtree(out)  # what `snakemake` does before the job runs again
    server.files["a.txt"] = b"tampered\n"
    with pytest.raises(ChecksumError) as err:
        fetch.run(params_for(cfg), "src", out)
    assert "SHA-256 mismatch" in str(err.value) and str(copy) in str(err.value) and not out.exists()
    copy.unlink()  # the documented way to accept a changed upstream file
    fetch.run(params_for(cfg), "src", out)
    assert (out / "a.txt").read_bytes() == b"tampered\n" and sha(b"tampered\n") in copy.read_text()


def test_damaged_archive_is_not_kept_for_reuse(server, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        data = bytes(range(256)) * 800
        info = tarfile.TarInfo("datasets/big.bin")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    server.files["datasets.tar.gz"] = buf.getvalue()[: len(buf.getvalue()) // 2]  # truncated upstream
    out = tmp_path / "raw"
    cfg = {"url": f"{server.url}/datasets.tar.gz", "sha256": None, "extract": True}
    with pytest.raises(DataError, match=r"datasets\.tar\.gz: damaged archive.*deleted: rerun"):
        fetch.run(params_for(cfg), "src", out)
    assert not out.exists() and not (tmp_path / ".raw.cache").exists()
    server.files["datasets.tar.gz"] = buf.getvalue()
    fetch.run(params_for(cfg), "src", out)  # downloaded again, not the broken copy from the cache
    assert (out / "datasets/big.bin").read_bytes() == data


@pytest.mark.parametrize("cfg", [
    {"url": "file:///etc/passwd", "sha256": None},
    {"files": [{"url": "file:///etc/hostname", "name": "h", "sha256": None}]},
    {"pubmed_baseline": {"url": "file:///tmp/", "release": 26, "first": 1, "count": 1}},
])
def test_file_urls_are_refused(tmp_path, cfg):
    with pytest.raises(DataError, match=r"sources\.src.*'file://' URLs are not downloaded.*`path:` source"):
        fetch.run(params_for(cfg), "src", tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


KILLED_WRITER = """
import os, signal, sys
from compactbio.io import atomic_dir
with atomic_dir(sys.argv[1]) as tmp:
    (tmp / "half.bin").write_bytes(b"x" * 1000)
    os.kill(os.getpid(), signal.SIGKILL)
"""
LIVE_WRITER = """
import sys, time
from compactbio.io import atomic_dir
with atomic_dir(sys.argv[1]) as tmp:
    print(tmp, flush=True)
    sys.stdin.readline()
"""


def test_stale_temp_folders_of_own_output_are_removed(tmp_path):
    """A SIGKILLed fetch leaves .src.tmp-*; the next fetch of src removes it, and nothing else."""
    import subprocess
    import sys

    raw = tmp_path / "raw"
    raw.mkdir()
    for out in ("src", "srcx"):  # a killed writer of src, and one of another job whose name extends it
        subprocess.run([sys.executable, "-c", KILLED_WRITER, str(raw / out)], check=False)
    killed = [p for p in raw.iterdir() if p.name.startswith(".src.tmp-")]
    other = [p for p in raw.iterdir() if p.name.startswith(".srcx.tmp-")]
    assert len(killed) == 1 and len(other) == 1 and (killed[0] / "half.bin").is_file()
    target = tmp_path / "keep"
    target.mkdir()
    (target / "precious").write_text("x")
    (raw / ".src.tmp-symlink1").symlink_to(target)  # matches the pattern but is a link: never followed
    live = subprocess.Popen([sys.executable, "-c", LIVE_WRITER, str(raw / "src")], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        live_tmp = live.stdout.readline().strip()
        fetch.run(params_for({"synthetic": {"kind": "pubmed", "seed": 1, "documents": 5}}), "src", raw / "src")
        assert not killed[0].exists()
        assert other[0].is_dir() and (target / "precious").is_file() and (raw / ".src.tmp-symlink1").is_symlink()
        assert os.path.isdir(live_tmp)  # a concurrent writer's folder is in use: left alone
    finally:
        live.communicate("\n", timeout=30)
    assert live.returncode == 0
