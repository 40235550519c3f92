"""The fetch stage: obtain one raw source (``params["sources"][source]``) into ``out``.

A source entry has exactly one kind key:

* ``synthetic: {seed, ...sizes}``: the demo generator (:mod:`.synthetic`);
* ``url: URL`` with ``sha256`` (or null) and ``extract`` (bool): one file or archive;
* ``files: [{url, name, sha256}, ...]``: several plain files;
* ``path: PATH`` (or ``{path, link, extract}``): files already on disk, copied
  (or symlinked with ``link: true``), never downloaded;
* ``hf_dataset: {name, revision, split, text_fields, max_documents}``: a hub
  dataset read as a text corpus, written as ``documents.txt`` (one document a
  line); ``name`` may also be a local folder of parquet / JSON lines files
  (flat ``text`` / ``title`` + ``abstract`` records, or the ncbi/pubmed shape
  with both nested under ``MedlineCitation.Article``).  A hub dataset that is
  only a loading script (ncbi/pubmed is one: current ``datasets`` refuses to run
  it and a snapshot holds no data files) stops with one line pointing here;
* ``pubmed_baseline: {url, release, first, count, max_documents}``: NLM's
  yearly PubMed baseline, files ``pubmed<release>n<NNNN>.xml.gz`` numbered
  ``first`` .. ``first + count - 1`` under ``url`` (default
  ``https://ftp.ncbi.nlm.nih.gov/pubmed/baseline/``), stored as they are.

The PubMed baseline.  Each file is verified against the ``.md5`` NLM publishes
beside it (one line, ``MD5(pubmed26n0001.xml.gz)= <32 hex>``); a mismatch
deletes the download and stops with one line naming the file and both digests.
``prepare`` reads the XML (:mod:`.readers.corpus`): one title + abstract per
line, citations without an abstract skipped, a later record of a PMID replacing
an earlier one and ``DeleteCitation`` removing it (the rules of NLM's update
files; a baseline itself holds each PMID once).  ``max_documents`` caps the
prepared corpus, as it capped the ``hf_dataset`` corpus; since ``prepare``
reads only the raw folder, fetch writes it there as ``CORPUS.json``.  The range
is ``first`` + ``count`` rather than a ``[first, last]`` list because the
rehearsal caps numbers, never lists (``count: 1`` is a one-file rehearsal).
NLM keeps only the current release on its server and replaces it each
December, so an old ``release`` answers HTTP 404: the error says to set the
current one.  Files already in ``out`` whose MD5 still matches are reused, so
widening the range downloads only the new files.

Checksums.  Where ``sha256`` is pinned the download is verified against it.
Where it is null the digest is *recorded* in ``out/SHA256SUMS`` (the
``sha256sum`` format, so ``sha256sum -c`` works for plain files and the
file is readable without our code) and logged with the exact params line to
pin it.  ``SHA256SUMS`` sits beside the data rather than in params.yaml because
a stage must never rewrite the user's config.  For ``url`` and ``files``
sources a copy is kept in
``.<out>.sums`` next to ``out`` (``data/raw/.biobert.sums``): Snakemake and DVC
delete ``out`` before they rerun the job, so only the copy outside it lets a
later fetch verify against the digests recorded by the previous one, and even
an unpinned source is checked from its second download on.  When upstream
changed a file on purpose, delete ``.<out>.sums`` (and ``out``) to accept the
new version, then pin it.

Pinning.  None of the paper's sources publishes a SHA-256: BioBERT's
``datasets.tar.gz`` and the SciBERT ChemProt files come without one (the
ChemProt URLs also follow the moving ``master`` branch; a commit hash in the
URL pins the content), and NLM publishes MD5 digests, which the
``pubmed_baseline`` kind checks on every file.  So params.yaml ships
``sha256: null``; to pin, run the fetch once, then copy each digest from the
log line ``...has no pinned checksum; to pin it set <key>: <digest>`` (or from
``data/raw/<source>/SHA256SUMS``) into the ``sha256`` of that entry.  A pinned
value is checked on every download and every resume.

Partial downloads live in ``.<out>.cache/`` next to ``out`` (outside the
atomic output folder), so a crashed run resumes instead of starting over
(:mod:`.download` records the URL and the server's ETag / Last-Modified beside
each partial file and resumes only the same version of the same URL); the
cache is deleted once the source is complete.

Only ``http(s)://`` URLs are fetched: a ``file://`` URL would bypass the
``path:`` kind, which is the way to use files already on disk.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlparse

from ..io import atomic_dir
from .archive import copy_or_link, extract
from .download import ChecksumError, check_url, download, md5_file, sha256_file
from .errors import DataError

logger = logging.getLogger(__name__)
KINDS = ("synthetic", "url", "files", "path", "hf_dataset", "pubmed_baseline")
SUMS = "SHA256SUMS"
CORPUS_META = "CORPUS.json"  # read by readers.corpus: the corpus cap a source carries to prepare
NLM_BASELINE = "https://ftp.ncbi.nlm.nih.gov/pubmed/baseline/"
HUB_DATA = ("*.parquet", "*.jsonl", "*.xml.gz", "*.txt")  # what a hub snapshot may hold that we can read
# NLM's .md5 is OpenSSL's style; the md5sum style is accepted too, for mirrors.
_MD5_NLM = re.compile(r"^MD5\s*\((?P<name>[^()]+)\)\s*=\s*(?P<md5>[0-9a-fA-F]{32})$")
_MD5_SUM = re.compile(r"^(?P<md5>[0-9a-fA-F]{32})\s+\*?(?P<name>\S+)$")


def read_sums(folder: Path) -> dict[str, str]:
    path = folder / SUMS
    if not path.is_file():
        return {}
    sums = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.strip().split(maxsplit=1)
        if len(parts) == 2:
            sums[parts[1].lstrip("*")] = parts[0]
    return sums


def write_sums(folder: Path, sums: dict[str, str]) -> None:
    (folder / SUMS).write_text("".join(f"{d}  {n}\n" for n, d in sorted(sums.items())), encoding="utf-8")


def sums_copy(out: Path) -> Path:
    """Where the digests of ``out`` are kept outside it (the front ends delete ``out`` before a rerun)."""
    return out.parent / f".{out.name}.sums"


def read_recorded(out: Path) -> dict[str, str]:
    """Digests recorded by earlier fetches: the copy beside ``out``, then ``out/SHA256SUMS`` (which wins)."""
    recorded = {}
    copy = sums_copy(out)
    if copy.is_file():
        for line in copy.read_text(encoding="utf-8").splitlines():
            parts = line.strip().split(maxsplit=1)
            if len(parts) == 2:
                recorded[parts[1].lstrip("*")] = parts[0]
    if out.is_dir():
        recorded.update(read_sums(out))
    return recorded


def save_recorded(out: Path, recorded: dict[str, str], sums: dict[str, str]) -> None:
    from ..io import atomic_write_text

    merged = {**recorded, **sums}
    atomic_write_text(sums_copy(out), "".join(f"{d}  {n}\n" for n, d in sorted(merged.items())))


def _kind(source: str, cfg: dict) -> str:
    found = [k for k in KINDS if k in (cfg or {})]
    if len(found) != 1:
        raise ValueError(f"sources.{source}: needs exactly one of {', '.join(KINDS)}; got {found or 'none'}")
    return found[0]


def _name_from_url(url: str) -> str:
    name = Path(urlparse(url).path).name
    if not name:
        raise ValueError(f"cannot derive a file name from {url!r}; give `name:`")
    return name


def _get(url: str, name: str, pinned: str | None, recorded: dict, cache: Path, source: str, key: str) -> tuple[Path, str]:
    check_url(url, f"sources.{source}")
    expect = pinned or recorded.get(name)
    if expect and not pinned:
        logger.info("%s: verifying against the SHA-256 recorded by the previous fetch", name)
    file = cache / name
    if file.is_file() and (expect is None or sha256_file(file) == expect.lower()):
        digest = sha256_file(file)  # completed by an earlier, interrupted fetch
    else:
        file.unlink(missing_ok=True)
        try:
            digest = download(url, file, sha256=expect)
        except ChecksumError as exc:
            if pinned:
                raise
            copy = sums_copy(cache.parent / cache.name[1:-len(".cache")])
            raise ChecksumError(exc.path, f"{exc.problem}. The expected digest was recorded by an earlier fetch "
                                          f"(in {copy}): the file changed upstream. If that is expected, delete "
                                          f"{copy} and fetch again, then pin the new digest") from None
    if not pinned:
        logger.warning("sources.%s: %s has no pinned checksum; to pin it set %s: %s", source, name, key, digest)
    return file, digest


def _fetch_url(source: str, cfg: dict, tmp: Path, cache: Path, recorded: dict) -> dict[str, str]:
    name = cfg.get("name") or _name_from_url(cfg["url"])
    file, digest = _get(cfg["url"], name, cfg.get("sha256"), recorded, cache, source, "sha256")
    if cfg.get("extract"):
        try:
            extract(file, tmp)
        except DataError as exc:  # a damaged download must not wait in the cache to be reused
            file.unlink(missing_ok=True)
            raise DataError(exc.path, f"{exc.problem}; the downloaded file was deleted: rerun to download it "
                                      "again, and if that fails too, check the URL") from None
    else:
        shutil.move(str(file), tmp / name)
    return {name: digest}


def _fetch_files(source: str, cfg: dict, tmp: Path, cache: Path, recorded: dict) -> dict[str, str]:
    got = {}
    for i, item in enumerate(cfg["files"]):  # all into the cache first: a failure keeps earlier files
        name = item.get("name") or _name_from_url(item["url"])
        if Path(name).name != name:
            raise ValueError(f"sources.{source}.files[{i}].name must be a plain file name, got {name!r}")
        got[name] = _get(item["url"], name, item.get("sha256"), recorded, cache, source, f"files[{i}].sha256")
    for name, (file, _) in got.items():
        shutil.move(str(file), tmp / name)
    return {name: digest for name, (_, digest) in got.items()}


def _fetch_path(source: str, cfg, tmp: Path) -> dict[str, str]:
    spec = cfg
    src = Path(spec["path"]).expanduser()
    if not src.exists():
        raise DataError(src, f"sources.{source}.path: not found")
    link = bool(spec.get("link", False))
    if src.is_file() and spec.get("extract"):
        try:
            extract(src, tmp)
        except DataError as exc:
            raise DataError(exc.path, f"{exc.problem}; this is the local file of sources.{source}.path: replace "
                                      "it with a complete copy") from None
    elif src.is_file():
        copy_or_link(src, tmp / src.name, link)
    else:
        for child in sorted(src.iterdir()):
            copy_or_link(child, tmp / child.name, link)
    logger.info("sources.%s: %s %s (no download)", source, "linked" if link else "copied", src)
    return {}


def _hub_files(name: str, revision: str | None) -> list[str]:
    """The files of a hub dataset repository (one API call; tests replace it)."""
    from huggingface_hub import HfApi

    try:
        return HfApi().list_repo_files(name, repo_type="dataset", revision=revision)
    except OSError as exc:  # hub HTTP errors, offline mode and connection failures are all OSErrors
        raise DataError(f"hf://datasets/{name}", f"cannot list the hub dataset's files: {exc}") from None


def check_hub_files(name: str, files: list[str], with_datasets: bool = False) -> None:
    """Stop early, with the way out, when a hub dataset has nothing we can read.

    A loading-script dataset (ncbi/pubmed) holds only ``<name>.py`` and a card:
    current ``datasets`` refuses to run the script and a snapshot finds no data,
    which used to surface later as a bare "no documents found".  Without scripts,
    other data files (csv, arrow) are left to ``datasets`` when it is installed.
    """
    from fnmatch import fnmatch

    if any(fnmatch(Path(f).name, pat) for f in files for pat in HUB_DATA):
        return
    scripts = sorted(f for f in files if f.endswith(".py"))
    if not scripts and with_datasets:
        return
    what = f"is a loading-script dataset ({', '.join(scripts)})" if scripts else "has no data files"
    raise DataError(f"hf://datasets/{name}", f"{what} with nothing readable ({', '.join(HUB_DATA)}); current "
                    "`datasets` no longer runs loading scripts. For PubMed use the `pubmed_baseline` source kind "
                    "(NLM's XML files); or set hf_dataset.name to a local folder of parquet / JSON-lines dumps")


def _hf_documents(cfg: dict, cache: Path):
    """Documents of a hub dataset: a local folder, the `datasets` library, or a hub snapshot."""
    from .readers.corpus import clean, iter_documents

    name, fields, limit = cfg["name"], cfg.get("text_fields"), cfg.get("max_documents")
    if Path(name).expanduser().is_dir():
        yield from iter_documents(Path(name).expanduser(), fields, limit)
        return
    try:
        import datasets  # optional: streams parquet, csv, arrow ... (no longer loading scripts)
    except ImportError:
        datasets = None
    check_hub_files(name, _hub_files(name, cfg.get("revision")), with_datasets=datasets is not None)
    if datasets is not None:
        ds = datasets.load_dataset(name, split=cfg.get("split", "train"), revision=cfg.get("revision"), streaming=True)
        n = 0
        for rec in ds:
            from .readers.corpus import _from_record

            doc = _from_record(rec, fields, Path(name), None)
            if doc:
                yield clean(doc)
                n += 1
                if limit is not None and n >= limit:
                    return
        return
    from huggingface_hub import snapshot_download

    folder = snapshot_download(repo_id=name, repo_type="dataset", revision=cfg.get("revision"),
                               local_dir=cache / "hub", allow_patterns=list(HUB_DATA))
    yield from iter_documents(Path(folder), fields, limit)


def _fetch_hf(source: str, cfg: dict, tmp: Path, cache: Path) -> dict[str, str]:
    from tqdm.auto import tqdm

    n = 0
    with open(tmp / "documents.txt", "w", encoding="utf-8") as f:
        for doc in tqdm(_hf_documents(cfg, cache), desc=f"{source} documents", unit="doc", disable=None):
            f.write(doc + "\n")
            n += 1
    if not n:
        raise DataError(cfg["name"], f"sources.{source}.hf_dataset: no documents found")
    logger.info("sources.%s: %d documents from %s", source, n, cfg["name"])
    return {"documents.txt": sha256_file(tmp / "documents.txt")}


# ------------------------------------------------------------------ PubMed baseline
def baseline_names(release: int, first: int, count: int) -> list[str]:
    """NLM's file names: ``pubmed26n0001.xml.gz`` is release 26, file 1."""
    return [f"pubmed{release:02d}n{n:04d}.xml.gz" for n in range(first, first + count)]


def parse_md5(text: str, name: str, where: str) -> str:
    """The digest in an NLM ``.md5`` file, checked to be about ``name``."""
    line = text.strip()
    m = _MD5_NLM.match(line) or _MD5_SUM.match(line)
    if not m:
        raise DataError(where, f"not an MD5 line (expected 'MD5({name})= <32 hex>'), got {line[:80]!r}")
    if m["name"] != name:
        raise DataError(where, f"the MD5 line is about {m['name']!r}, not {name!r}")
    return m["md5"].lower()


def _baseline_spec(source: str, cfg: dict) -> tuple[str, int, list[str]]:
    key = f"sources.{source}.pubmed_baseline"
    release, first, count = (cfg.get(k) for k in ("release", "first", "count"))
    for k, v in (("release", release), ("first", first), ("count", count)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{key}.{k} must be a positive integer, got {v!r}")
    if release > 99 or first + count - 1 > 9999:
        raise ValueError(f"{key}: release is two digits and file numbers four (pubmed26n0001); got "
                         f"release {release}, files {first}..{first + count - 1}")
    url = cfg.get("url") or NLM_BASELINE
    check_url(url, f"{key}.url")
    return url.rstrip("/") + "/", release, baseline_names(release, first, count)


def _published_md5(url: str, name: str, cache: Path, release: int) -> str:
    """Fetch ``<name>.md5`` (kept in the cache only while it is needed)."""
    file = cache / f"{name}.md5"
    try:
        download(url + name + ".md5", file)
    except DataError as exc:
        if "HTTP 404" in exc.problem:
            raise DataError(exc.path, f"{exc.problem}; NLM keeps only the current baseline and replaces it each "
                                      f"December: is release {release} still the current one, and the file "
                                      f"number within it?") from None
        raise
    try:
        return parse_md5(file.read_text(encoding="ascii", errors="replace"), name, url + name + ".md5")
    finally:
        file.unlink(missing_ok=True)


def _reuse(candidate: Path, file: Path) -> None:
    """Hard-link a verified file from the previous output (it is deleted when the new one lands)."""
    try:
        os.link(candidate, file)
    except OSError:
        shutil.copy2(candidate, file)


def _baseline_file(url: str, name: str, cache: Path, previous: Path, recorded: dict, release: int) -> tuple[Path, str]:
    """One baseline file in the cache, MD5-verified; returns it and its SHA-256."""
    expect = _published_md5(url, name, cache, release)
    file = cache / name
    if file.is_file() and md5_file(file) == expect:  # completed by an earlier, interrupted fetch
        return file, sha256_file(file)
    file.unlink(missing_ok=True)
    if (previous / name).is_file() and md5_file(previous / name) == expect:
        logger.info("%s: unchanged since the previous fetch (MD5 %s), reused", name, expect)
        _reuse(previous / name, file)
        return file, sha256_file(file)
    digest = download(url + name, file, sha256=recorded.get(name), checked=True)  # MD5-checked below
    got = md5_file(file)
    if got != expect:
        file.unlink()
        raise ChecksumError(url + name, f"MD5 mismatch: NLM's {name}.md5 says {expect}, the download has {got}; "
                                        "the file was deleted")
    return file, digest


def _fetch_baseline(source: str, cfg: dict, tmp: Path, cache: Path, recorded: dict, out: Path) -> dict[str, str]:
    from tqdm.auto import tqdm

    url, release, names = _baseline_spec(source, cfg)
    got = {}
    for name in tqdm(names, desc=f"{source} baseline files", unit="file", disable=None):
        got[name] = _baseline_file(url, name, cache, out, recorded, release)  # all into the cache first
    for name, (file, _) in got.items():
        shutil.move(str(file), tmp / name)
    if cfg.get("max_documents") is not None:
        (tmp / CORPUS_META).write_text(json.dumps({"max_documents": cfg["max_documents"]}) + "\n", encoding="utf-8")
    logger.info("sources.%s: %d PubMed baseline files (%s .. %s), each MD5-verified", source, len(names),
                names[0], names[-1])
    return {name: digest for name, (_, digest) in got.items()}


def run(params: dict, source: str, out: Path) -> None:
    sources = params.get("sources", {})
    if source not in sources:
        raise ValueError(f"unknown source '{source}' (params.yaml sources: {', '.join(sorted(sources))})")
    cfg = sources[source]
    kind = _kind(source, cfg)
    out = Path(out)
    recorded = read_recorded(out)
    cache = out.parent / f".{out.name}.cache"
    try:
        sums = _run(source, cfg, kind, out, cache, recorded)
    except BaseException:
        if cache.is_dir() and not any(p.is_file() for p in cache.rglob("*")):
            shutil.rmtree(cache, ignore_errors=True)  # keep only what a resume can use
        raise
    if sums and kind in ("url", "files"):  # baseline files are checked against NLM's MD5 on every download
        save_recorded(out, recorded, sums)
    shutil.rmtree(cache, ignore_errors=True)
    logger.info("fetched source %s (%s) into %s", source, kind, out)


def _run(source: str, cfg: dict, kind: str, out: Path, cache: Path, recorded: dict) -> dict[str, str]:
    with atomic_dir(out) as tmp:
        if kind == "synthetic":
            from .synthetic import generate

            generate(source, cfg["synthetic"] or {}, tmp)
            sums = {}
        else:
            cache.mkdir(parents=True, exist_ok=True)
            if kind == "url":
                sums = _fetch_url(source, cfg, tmp, cache, recorded)
            elif kind == "files":
                sums = _fetch_files(source, cfg, tmp, cache, recorded)
            elif kind == "path":
                spec = cfg["path"] if isinstance(cfg["path"], dict) else {**cfg, "path": cfg["path"]}
                sums = _fetch_path(source, spec, tmp)
            elif kind == "pubmed_baseline":
                sums = _fetch_baseline(source, cfg["pubmed_baseline"] or {}, tmp, cache, recorded, out)
            else:
                sums = _fetch_hf(source, cfg["hf_dataset"], tmp, cache)
        if sums:
            write_sums(tmp, sums)
    return sums
