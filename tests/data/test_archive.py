"""Safe extraction: crafted hostile archives are rejected before anything is written.

Each hostile archive is built for .tar, .tar.gz and .tgz (the names the
sources use); the assertions are the same for all: one DataError line naming
the archive and the member, an empty output folder, and nothing written next
to it.  ``test_cve_2025_4517_realpath_overflow`` is the published bypass of
the interpreter's "data" filter: on Python 3.11.7 the filter alone lets it
write outside the folder.
"""

import io
import os
import stat
import tarfile
import zipfile

import pytest

from compactbio.data import fetch
from compactbio.data.archive import extract
from compactbio.data.errors import DataError

TAR_KINDS = [".tar", ".tar.gz", ".tgz"]


def make_tar(path, members):
    mode = "w" if path.name.endswith(".tar") else "w:gz"
    with tarfile.open(path, mode) as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def file_member(name, data=b"hello", mode=0o644):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    return info, data


def dir_member(name):
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info, None


def link_member(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def everything_under(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture(params=TAR_KINDS)
def tar_kind(request):
    return request.param


@pytest.fixture
def box(tmp_path):
    """tmp/out is the target; tmp/outside holds a file an attack would like to reach."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_text("keep me")
    return tmp_path


def assert_rejected(box, arc, member, problem):
    before = everything_under(box)
    with pytest.raises(DataError) as err:
        extract(arc, box / "out")
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith(f"{arc}: unsafe archive member {member!r}"), text
    assert problem in text, text
    assert list((box / "out").iterdir()) == []  # checked before extracting: not even first.txt
    assert everything_under(box) == sorted([*before, "out"])  # nothing new anywhere else
    assert (box / "outside" / "secret").read_text() == "keep me"


# ------------------------------------------------------------------ good archives
def test_good_tar_extracts(tmp_path, tar_kind):
    arc = make_tar(tmp_path / f"ok{tar_kind}", [file_member("datasets/NER/a.tsv", b"x\tO\n"),
                                                link_member("datasets/link.tsv", "NER/a.tsv")])
    names = extract(arc, tmp_path / "out")
    assert (tmp_path / "out/datasets/NER/a.tsv").read_bytes() == b"x\tO\n"
    assert (tmp_path / "out/datasets/link.tsv").read_bytes() == b"x\tO\n"
    assert "datasets/NER/a.tsv" in names


def test_good_tar_with_internal_links(tmp_path, tar_kind):
    """Relative links that stay inside, chains of them, writing through a linked folder, hard links."""
    arc = make_tar(tmp_path / f"ok{tar_kind}", [
        dir_member("./"),
        dir_member("./v1"),
        file_member("./v1/train.tsv", b"train\n"),
        file_member("v1/run.sh", b"#!/bin/sh\n", mode=0o6777),      # setuid/setgid, world-writable
        link_member("latest", "v1"),                                # a folder link
        link_member("current", "latest"),                           # a chain of links
        file_member("current/extra.tsv", b"extra\n"),               # written through the chain: v1/extra.tsv
        dir_member("docs"),
        link_member("docs/train.tsv", "../latest/train.tsv"),       # up and back through a link
        link_member("docs/dangling", "../v2/not-yet"),              # dangling but inside: harmless
        link_member("hard.tsv", "v1/train.tsv", tarfile.LNKTYPE),
        link_member("hard2.tsv", "latest/extra.tsv", tarfile.LNKTYPE),  # hard link through a folder link
    ])
    extract(arc, tmp_path / "out")
    out = tmp_path / "out"
    assert (out / "v1/extra.tsv").read_bytes() == b"extra\n"
    assert os.readlink(out / "current") == "latest" and os.readlink(out / "latest") == "v1"
    assert (out / "docs/train.tsv").read_bytes() == b"train\n"
    assert os.readlink(out / "docs/dangling") == "../v2/not-yet"
    assert (out / "hard.tsv").read_bytes() == b"train\n" and not (out / "hard.tsv").is_symlink()
    assert (out / "hard2.tsv").read_bytes() == b"extra\n"
    mode = stat.S_IMODE((out / "v1/run.sh").stat().st_mode)
    assert mode & 0o7000 == 0 and mode & 0o022 == 0 and mode & 0o100


def test_later_member_replaces_a_link_instead_of_writing_through_it(box, tar_kind):
    arc = make_tar(box / f"ok{tar_kind}", [file_member("a.txt", b"a"), link_member("b.txt", "a.txt"),
                                           file_member("b.txt", b"b")])
    extract(arc, box / "out")
    assert (box / "out/a.txt").read_bytes() == b"a" and (box / "out/b.txt").read_bytes() == b"b"
    assert not (box / "out/b.txt").is_symlink()


# ------------------------------------------------------------------ hostile tar archives
@pytest.mark.parametrize("members, member, problem", [
    ([file_member("/etc/evil")], "/etc/evil", "path leaves the target folder"),
    ([file_member("ok/../../evil")], "ok/../../evil", "path leaves the target folder"),
    ([file_member("../evil")], "../evil", "path leaves the target folder"),
    ([link_member("ok/link", "/etc/passwd")], "ok/link", "leaves the target folder"),
    ([link_member("ok/link", "../../outside")], "ok/link", "leaves the target folder"),
    ([link_member("ok/hard", "../outside/secret", tarfile.LNKTYPE)], "ok/hard", "hard link"),
    ([link_member("hard", "/etc/passwd", tarfile.LNKTYPE)], "hard", "hard link"),
    ([link_member("dev", "", tarfile.CHRTYPE)], "dev", "device or FIFO"),
    ([link_member("blk", "", tarfile.BLKTYPE)], "blk", "device or FIFO"),
    ([link_member("fifo", "", tarfile.FIFOTYPE)], "fifo", "device or FIFO"),
], ids=["absolute", "dotdot-nested", "dotdot", "symlink-absolute", "symlink-up", "hardlink-up",
        "hardlink-absolute", "chardev", "blockdev", "fifo"])
def test_hostile_tar_rejected_and_nothing_written(box, tar_kind, members, member, problem):
    arc = make_tar(box / f"bad{tar_kind}", [file_member("first.txt")] + members)
    assert_rejected(box, arc, member, problem)


@pytest.mark.parametrize("members, member", [
    # the brief's form: a nested link to the grandparent, then a path through it
    ([dir_member("a"), link_member("a/b", "../.."), file_member("a/b/escape/pwned")], "a/b"),
    # the chain the old text check passed: a/b/c is the root, so a/b/c/x is two folders above it
    ([dir_member("a"), dir_member("a/b"), link_member("a/b/c", "../.."), link_member("a/b/c/x", "../.."),
      file_member("a/b/c/x/escape/pwned")], "a/b/c/x"),
    # x -> ../outside, then x/file
    ([link_member("x", "../outside"), file_member("x/pwned")], "x"),
    # the same through a link to the root: d/x is the root, so d/x/y -> ../outside is outside
    ([dir_member("d"), link_member("d/x", ".."), link_member("d/x/y", "../outside"), file_member("d/x/y/pwned")],
     "d/x/y"),
], ids=["nested-grandparent", "chain", "x-outside", "via-root-link"])
def test_symlink_chains_rejected(box, tar_kind, members, member):
    arc = make_tar(box / f"bad{tar_kind}", [file_member("first.txt")] + members)
    assert_rejected(box, arc, member, "leaves the target folder")
    assert not (box / "outside" / "pwned").exists() and not (box / "escape").exists()


def test_link_made_escaping_by_a_later_member(box, tar_kind):
    """``l -> d/..`` is inside while d is missing; ``d -> .`` then makes l point above the folder."""
    arc = make_tar(box / f"bad{tar_kind}", [file_member("first.txt"), link_member("l", "d/.."),
                                            link_member("d", ".")])
    assert_rejected(box, arc, "l", "once later members are extracted")


@pytest.mark.parametrize("members, member, problem", [
    # d/up is the root, so d/up/../outside/secret is the file next to the folder
    ([dir_member("d"), link_member("d/up", ".."), link_member("h", "d/up/../outside/secret", tarfile.LNKTYPE)],
     "h", "hard link to 'd/up/../outside/secret' leaves the target folder"),
    ([link_member("h", "not-in-the-archive", tarfile.LNKTYPE)], "h", "not a regular file extracted earlier"),
    ([link_member("s", "first.txt"), link_member("h", "s", tarfile.LNKTYPE)], "h", "not a regular file"),
    ([dir_member("d"), link_member("h", "d", tarfile.LNKTYPE)], "h", "not a regular file"),
], ids=["through-link", "missing", "to-symlink", "to-folder"])
def test_hard_links_rejected(box, tar_kind, members, member, problem):
    arc = make_tar(box / f"bad{tar_kind}", [file_member("first.txt")] + members)
    assert_rejected(box, arc, member, problem)


def test_link_loop_rejected(box, tar_kind):
    arc = make_tar(box / f"bad{tar_kind}", [link_member("a", "b"), link_member("b", "a"), file_member("a/f")])
    with pytest.raises(DataError, match="too many levels of links"):
        extract(arc, box / "out")
    assert list((box / "out").iterdir()) == []


def test_cve_2025_4517_realpath_overflow(box):
    """The published bypass: link chains whose expansion exceeds PATH_MAX, so realpath stops resolving."""
    comp, steps, path, members = "d" * 247, "abcdefghijklmnop", "", []
    for step in steps:
        members += [dir_member(os.path.join(path, comp)), link_member(os.path.join(path, step), comp)]
        path = os.path.join(path, comp)
    linkpath = os.path.join(*steps, "l" * 254)
    members += [link_member(linkpath, "../" * len(steps)),         # resolves to the folder itself
                link_member("escape", linkpath + "/../outside"),  # one above it: box/outside
                file_member("escape/pwned", b"pwned")]
    arc = make_tar(box / "cve.tar", members)
    assert_rejected(box, arc, "escape", "leaves the target folder")
    assert not (box / "outside" / "pwned").exists()


def test_existing_link_in_the_target_is_not_followed_out(box, tar_kind):
    """A non-empty target: a link already there counts like one made by the archive."""
    (box / "out").mkdir()
    os.symlink("../outside", box / "out" / "pre")
    arc = make_tar(box / f"bad{tar_kind}", [file_member("pre/pwned")])
    with pytest.raises(DataError, match=r"unsafe archive member 'pre/pwned': path leaves the target folder"):
        extract(arc, box / "out")
    assert not (box / "outside" / "pwned").exists()


def test_fetch_leaves_no_output_for_a_hostile_archive(box, tar_kind):
    """fetch extracts into an atomic temporary folder: a rejected archive leaves no output, no temp folder."""
    arc = make_tar(box / f"bad{tar_kind}", [file_member("first.txt"), link_member("x", "../outside"),
                                            file_member("x/pwned")])
    out = box / "raw" / "src"
    with pytest.raises(DataError, match="unsafe archive member 'x'"):
        fetch.run({"sources": {"src": {"path": {"path": str(arc), "extract": True}}}}, "src", out)
    assert not out.exists() and list((box / "raw").iterdir()) == []
    assert not (box / "outside" / "pwned").exists()


# ------------------------------------------------------------------ zip
def make_zip(path, entries):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            if mode is not None:
                info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


def test_zip_traversal_rejected(tmp_path):
    arc = tmp_path / "bad.zip"
    with zipfile.ZipFile(arc, "w") as zf:
        zf.writestr("fine.txt", "x")
        zf.writestr("../escape.txt", "x")
    with pytest.raises(DataError, match=r"bad.zip.*'\.\./escape.txt'.*leaves the target"):
        extract(arc, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("name, mode, problem", [
    ("/abs.txt", None, "path leaves the target folder"),
    ("a/../../up.txt", None, "path leaves the target folder"),
    ("\\windows.txt", None, "path leaves the target folder"),
    ("C:/drive.txt", None, "path leaves the target folder"),
    ("lnk", 0o120777, "symbolic link"),
    ("dev", 0o020644, "device or FIFO"),
    ("fifo", 0o010644, "device or FIFO"),
], ids=["absolute", "dotdot", "backslash", "drive", "symlink", "chardev", "fifo"])
def test_hostile_zip_rejected_and_nothing_written(box, name, mode, problem):
    arc = make_zip(box / "bad.zip", [("first.txt", "x", None), (name, "../outside/secret", mode)])
    assert_rejected(box, arc, name, problem)


def test_zip_symlink_rejected(tmp_path):
    arc = tmp_path / "link.zip"
    with zipfile.ZipFile(arc, "w") as zf:
        info = zipfile.ZipInfo("lnk")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(DataError, match="symbolic link"):
        extract(arc, tmp_path / "out")


def test_good_zip(tmp_path):
    arc = make_zip(tmp_path / "ok.zip", [("a/", "", 0o040755), ("a/b.txt", "content", 0o100644),
                                         ("a/run.sh", "#!/bin/sh\n", 0o104777), ("c.txt", "plain", None)])
    names = extract(arc, tmp_path / "out")
    assert (tmp_path / "out/a/b.txt").read_text() == "content"
    assert (tmp_path / "out/c.txt").read_text() == "plain"
    assert stat.S_IMODE((tmp_path / "out/a/run.sh").stat().st_mode) & 0o4022 == 0
    assert names == ["a/", "a/b.txt", "a/run.sh", "c.txt"]


def test_existing_link_in_the_target_is_not_followed_out_of_zip(box):
    (box / "out").mkdir()
    os.symlink("../outside", box / "out" / "pre")
    arc = make_zip(box / "bad.zip", [("pre/pwned", "x", None)])
    with pytest.raises(DataError, match="'pre/pwned': path leaves the target folder"):
        extract(arc, box / "out")
    assert not (box / "outside" / "pwned").exists()


def test_not_an_archive(tmp_path):
    f = tmp_path / "x.tar.gz"
    f.write_bytes(b"not an archive at all")
    with pytest.raises(DataError, match="x.tar.gz: not a readable tar or zip"):
        extract(f, tmp_path / "out")


def test_truncated_archive_is_a_data_error(tmp_path):
    arc = make_tar(tmp_path / "ok.tar.gz", [file_member("a.txt", os.urandom(200_000))])
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(arc.read_bytes()[:50_000])
    with pytest.raises(DataError, match="cut.tar.gz: damaged archive"):
        extract(cut, tmp_path / "out")
