"""Safe extraction: crafted hostile archives are rejected before anything is written."""

import io
import tarfile
import zipfile

import pytest

from compactbio.data.archive import extract
from compactbio.data.errors import DataError


def make_tar(path, members):
    with tarfile.open(path, "w:gz") as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def file_member(name, data=b"hello"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def link_member(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def test_good_tar_extracts(tmp_path):
    arc = make_tar(tmp_path / "ok.tar.gz", [file_member("datasets/NER/a.tsv", b"x\tO\n"),
                                            link_member("datasets/link.tsv", "NER/a.tsv")])
    names = extract(arc, tmp_path / "out")
    assert (tmp_path / "out/datasets/NER/a.tsv").read_bytes() == b"x\tO\n"
    assert (tmp_path / "out/datasets/link.tsv").read_bytes() == b"x\tO\n"
    assert "datasets/NER/a.tsv" in names


@pytest.mark.parametrize("members, problem", [
    ([file_member("/etc/evil")], "path leaves the target folder"),
    ([file_member("ok/../../evil")], "path leaves the target folder"),
    ([link_member("ok/link", "/etc/passwd")], "leaves the target folder"),
    ([link_member("ok/link", "../../outside")], "leaves the target folder"),
    ([link_member("ok/hard", "../outside", tarfile.LNKTYPE)], "hard link"),
    ([link_member("dev", "", tarfile.CHRTYPE)], "device or FIFO"),
])
def test_hostile_tar_rejected_and_nothing_written(tmp_path, members, problem):
    arc = make_tar(tmp_path / "bad.tar.gz", [file_member("first.txt")] + members)
    with pytest.raises(DataError) as err:
        extract(arc, tmp_path / "out")
    assert "bad.tar.gz" in str(err.value) and problem in str(err.value)
    assert list((tmp_path / "out").iterdir()) == []  # checked before extracting: not even first.txt
    assert not (tmp_path / "evil").exists() and not (tmp_path / "outside").exists()


def test_zip_traversal_rejected(tmp_path):
    arc = tmp_path / "bad.zip"
    with zipfile.ZipFile(arc, "w") as zf:
        zf.writestr("fine.txt", "x")
        zf.writestr("../escape.txt", "x")
    with pytest.raises(DataError, match=r"bad.zip.*'\.\./escape.txt'.*leaves the target"):
        extract(arc, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_zip_symlink_rejected(tmp_path):
    arc = tmp_path / "link.zip"
    with zipfile.ZipFile(arc, "w") as zf:
        info = zipfile.ZipInfo("lnk")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(DataError, match="symbolic link"):
        extract(arc, tmp_path / "out")


def test_good_zip(tmp_path):
    arc = tmp_path / "ok.zip"
    with zipfile.ZipFile(arc, "w") as zf:
        zf.writestr("a/b.txt", "content")
    extract(arc, tmp_path / "out")
    assert (tmp_path / "out/a/b.txt").read_text() == "content"


def test_not_an_archive(tmp_path):
    f = tmp_path / "x.tar.gz"
    f.write_bytes(b"not an archive at all")
    with pytest.raises(DataError, match="x.tar.gz: not a readable tar or zip"):
        extract(f, tmp_path / "out")
