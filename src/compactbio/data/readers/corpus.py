"""Pre-training corpus readers: every supported file form -> one document a line.

Accepted, chosen by file name so a folder may mix them:

* ``*.txt``: one document a line (the BioBERT/BLUE PubMed samples);
* ``*.jsonl`` / ``*.json``: JSON lines, text from ``text_fields`` joined
  (default: ``text``, else ``title`` + ``abstract``);
* ``*.xml.gz`` / ``*.xml``: NLM PubMed baseline files, ``ArticleTitle`` plus
  all ``AbstractText`` parts; articles without an abstract are skipped (a
  title alone teaches the MLM little);
* ``*.parquet``: a hub dataset snapshot (what ``fetch`` of an ``hf_dataset``
  source stores), text from ``text_fields`` as for JSON lines.

Newlines and runs of whitespace inside a document are collapsed, since the
output format reserves the newline as the document separator.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Iterator
from xml.etree import ElementTree

from ..errors import DataError, read_text
from . import Prepared

SKIP = {"SHA256SUMS", "checksums.json", "README.md", "README"}
_WS = re.compile(r"\s+")


def clean(text: str) -> str:
    return _WS.sub(" ", text).strip()


def _from_record(rec, fields: list[str] | None, path: Path, lineno: int | None) -> str:
    if not isinstance(rec, dict):
        raise DataError(path, "expected a JSON object per line", lineno)
    if fields is None:
        fields = ["text"] if "text" in rec else ["title", "abstract"]
    parts = []
    for f in fields:
        v = rec.get(f)
        if isinstance(v, dict):  # HF ncbi/pubmed nests e.g. {"AbstractText": ...}
            v = " ".join(str(x) for x in v.values() if isinstance(x, str))
        if isinstance(v, list):
            v = " ".join(str(x) for x in v)
        if v:
            parts.append(str(v))
    return clean(" ".join(parts))


def read_txt(path: Path) -> Iterator[str]:
    for line in read_text(path).split("\n"):
        doc = clean(line)
        if doc:
            yield doc


def read_jsonl(path: Path, fields: list[str] | None) -> Iterator[str]:
    for lineno, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"invalid or truncated JSON: {exc.msg} at column {exc.colno}", lineno) from None
        doc = _from_record(rec, fields, path, lineno)
        if doc:
            yield doc


def read_pubmed_xml(path: Path) -> Iterator[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            for _, elem in ElementTree.iterparse(f, events=("end",)):
                if elem.tag != "PubmedArticle":
                    continue
                title = elem.find(".//ArticleTitle")
                abstract = [clean("".join(a.itertext())) for a in elem.iterfind(".//Abstract/AbstractText")]
                abstract = [a for a in abstract if a]
                if abstract:
                    head = clean("".join(title.itertext())) if title is not None else ""
                    yield clean(" ".join([head] + abstract))
                elem.clear()
    except ElementTree.ParseError as exc:
        line = exc.position[0] if exc.position else None
        raise DataError(path, f"malformed PubMed XML: {exc}", line) from None
    except (OSError, EOFError) as exc:
        raise DataError(path, f"cannot read PubMed XML: {exc}") from None


def read_parquet(path: Path, fields: list[str] | None) -> Iterator[str]:
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
        for rec in batch.to_pylist():
            doc = _from_record(rec, fields, path, None)
            if doc:
                yield doc


def corpus_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise DataError(root, "corpus path not found")
    exts = (".txt", ".jsonl", ".json", ".xml", ".xml.gz", ".parquet")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name not in SKIP
                   and not p.name.startswith(".") and p.name.endswith(exts))
    if not files:
        raise DataError(root, f"no corpus files ({', '.join(exts)}) found")
    return files


def iter_documents(root: Path, fields: list[str] | None = None, max_documents: int | None = None) -> Iterator[str]:
    n = 0
    for path in corpus_files(Path(root)):
        name = path.name
        if name.endswith((".xml", ".xml.gz")):
            docs = read_pubmed_xml(path)
        elif name.endswith((".jsonl", ".json")):
            docs = read_jsonl(path, fields)
        elif name.endswith(".parquet"):
            docs = read_parquet(path, fields)
        else:
            docs = read_txt(path)
        for doc in docs:
            if max_documents is not None and n >= max_documents:
                return
            n += 1
            yield doc


def read(folder: Path, ds: dict, name: str) -> Prepared:
    docs = list(iter_documents(Path(folder), ds.get("text_fields"), ds.get("max_documents")))
    if not docs:
        raise DataError(folder, "empty corpus: no documents found")
    return Prepared(task="mlm", labels=[], splits={}, corpus=docs)
