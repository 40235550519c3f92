"""The fetch stage: obtain one raw source (``params["sources"][source]``) into ``out``.

A source entry has exactly one kind key:

* ``synthetic: {seed, ...sizes}``: the demo generator (:mod:`.synthetic`);
* ``url: URL`` with ``sha256`` (or null) and ``extract`` (bool): one file or archive;
* ``files: [{url, name, sha256}, ...]``: several plain files;
* ``path: PATH`` (or ``{path, link, extract}``): files already on disk, copied
  (or symlinked with ``link: true``), never downloaded;
* ``hf_dataset: {name, revision, split, text_fields, max_documents}``: a hub
  dataset read as a text corpus, written as ``documents.txt`` (one document a
  line); ``name`` may also be a local folder of parquet / JSON lines files.

Checksums.  Where ``sha256`` is pinned the download is verified against it.
Where it is null the digest is *recorded* in ``out/SHA256SUMS`` (the
``sha256sum`` format, so ``sha256sum -c`` works for plain files and the
file is readable without our code) and logged with the exact params line to
pin it.  ``SHA256SUMS`` sits beside the data rather than in params.yaml because
a stage must never rewrite the user's config; but a later fetch into the same
``out`` verifies against the digests recorded by the previous one, so even an
unpinned source is checked from its second download on.

Partial downloads live in ``.<out>.cache/`` next to ``out`` (outside the
atomic output folder), so a crashed run resumes instead of starting over; the
cache is deleted once the source is complete.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from urllib.parse import urlparse

from ..io import atomic_dir
from .archive import copy_or_link, extract
from .download import download, sha256_file
from .errors import DataError

logger = logging.getLogger(__name__)
KINDS = ("synthetic", "url", "files", "path", "hf_dataset")
SUMS = "SHA256SUMS"


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
    expect = pinned or recorded.get(name)
    if expect and not pinned:
        logger.info("%s: verifying against the SHA-256 recorded by the previous fetch", name)
    file = cache / name
    if file.is_file() and (expect is None or sha256_file(file) == expect.lower()):
        digest = sha256_file(file)  # completed by an earlier, interrupted fetch
    else:
        file.unlink(missing_ok=True)
        digest = download(url, file, sha256=expect)
    if not pinned:
        logger.warning("sources.%s: %s has no pinned checksum; to pin it set %s: %s", source, name, key, digest)
    return file, digest


def _fetch_url(source: str, cfg: dict, tmp: Path, cache: Path, recorded: dict) -> dict[str, str]:
    name = cfg.get("name") or _name_from_url(cfg["url"])
    file, digest = _get(cfg["url"], name, cfg.get("sha256"), recorded, cache, source, "sha256")
    if cfg.get("extract"):
        extract(file, tmp)
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
        extract(src, tmp)
    elif src.is_file():
        copy_or_link(src, tmp / src.name, link)
    else:
        for child in sorted(src.iterdir()):
            copy_or_link(child, tmp / child.name, link)
    logger.info("sources.%s: %s %s (no download)", source, "linked" if link else "copied", src)
    return {}


def _hf_documents(cfg: dict, cache: Path):
    """Documents of a hub dataset: a local folder, the `datasets` library, or a hub snapshot."""
    from .readers.corpus import clean, iter_documents

    name, fields, limit = cfg["name"], cfg.get("text_fields"), cfg.get("max_documents")
    if Path(name).expanduser().is_dir():
        yield from iter_documents(Path(name).expanduser(), fields, limit)
        return
    try:
        import datasets  # optional: handles script and parquet datasets alike
    except ImportError:
        datasets = None
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
                               local_dir=cache / "hub", allow_patterns=["*.parquet", "*.jsonl", "*.xml.gz", "*.txt"])
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


def run(params: dict, source: str, out: Path) -> None:
    sources = params.get("sources", {})
    if source not in sources:
        raise ValueError(f"unknown source '{source}' (params.yaml sources: {', '.join(sorted(sources))})")
    cfg = sources[source]
    kind = _kind(source, cfg)
    out = Path(out)
    recorded = read_sums(out) if out.is_dir() else {}
    cache = out.parent / f".{out.name}.cache"
    try:
        _run(source, cfg, kind, out, cache, recorded)
    except BaseException:
        if cache.is_dir() and not any(p.is_file() for p in cache.rglob("*")):
            shutil.rmtree(cache, ignore_errors=True)  # keep only what a resume can use
        raise
    shutil.rmtree(cache, ignore_errors=True)
    logger.info("fetched source %s (%s) into %s", source, kind, out)


def _run(source: str, cfg: dict, kind: str, out: Path, cache: Path, recorded: dict) -> None:
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
            else:
                sums = _fetch_hf(source, cfg["hf_dataset"], tmp, cache)
        if sums:
            write_sums(tmp, sums)
