"""Pre-training corpus readers: every supported file form -> one document a line.

Accepted, chosen by file name so a folder may mix them:

* ``*.txt``: one document a line (the BioBERT/BLUE PubMed samples);
* ``*.jsonl`` / ``*.json``: JSON lines, text from ``text_fields`` joined
  (default: ``text``, else ``title`` + ``abstract``).  Records of the HF
  ncbi/pubmed shape, ``MedlineCitation.Article.{ArticleTitle,
  Abstract.AbstractText}``, are recognised when the named fields are absent;
  like the XML below they need an abstract, and the markup that dataset's
  script left in the strings (inline tags, escaped entities, a stray
  ``Label="..."`` prefix) is removed;
* ``*.xml.gz`` / ``*.xml``: NLM PubMed baseline files, ``ArticleTitle`` plus
  all ``AbstractText`` parts; articles without an abstract are skipped (a
  title alone teaches the MLM little);
* ``*.parquet``: a hub dataset snapshot (what ``fetch`` of an ``hf_dataset``
  source stores), text from ``text_fields`` as for JSON lines.

Text, JSON lines and parquet files load through ``datasets``' own builders
(``text``, ``json``, ``parquet``) into a temporary memory-mapped cache and are
read back in batches, so a multi-gigabyte dump never sits in memory whole.
A file the builder refuses (broken JSON, bytes that are not UTF-8, a NUL
byte, a column whose type changes between lines), or whose JSON it would read
differently (ISO dates become timestamps), is read again by the plain line
readers below, which then name the file, line and problem or read it as
before.  ``datasets`` is imported only when such a file is present: the PubMed
XML path (the paper's corpus) never pays for it.  Two differences from the
plain readers: text files are opened with universal newlines, so a lone
carriage return (a classic-Mac line end) also ends a document; and a JSON
field set to ``null`` counts as absent (the builder's table cannot tell them
apart), so ``{"text": null, "title": ..., "abstract": ...}`` reads title and
abstract instead of nothing.

Deleted and revised citations.  NLM's update files may repeat a PMID (the later
record is the current one) and end with ``DeleteCitation`` (PMIDs to remove); a
yearly baseline holds each PMID once.  :func:`read` (the ``prepare`` path)
applies both rules across the folder's files in name order, so a baseline with
update files added still gives one current abstract per PMID; the streaming
:func:`iter_documents` does not.  The cap (``max_documents`` of the dataset
entry, or of the source through ``CORPUS.json`` written by fetch; the smaller
if both) counts current documents, and reading stops once it is reached.

Newlines and runs of whitespace inside a document are collapsed, since the
output format reserves the newline as the document separator.
"""

from __future__ import annotations

import contextlib
import gzip
import html
import json
import logging
import re
import tempfile
from pathlib import Path
from typing import Iterator
from xml.etree import ElementTree

from ..errors import DataError, read_text
from . import Prepared

logger = logging.getLogger(__name__)
META = "CORPUS.json"  # written by fetch (pubmed_baseline): {"max_documents": N}
SKIP = {"SHA256SUMS", "checksums.json", "README.md", "README", META}
_WS = re.compile(r"\s+")
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
# ncbi/pubmed's script cuts len("<AbstractText>") characters off the serialised
# element, so an element with attributes keeps 'Label="X" NlmCategory="X">'.
_ATTR_DEBRIS = re.compile(r'^\s*(?:[A-Za-z_][-\w:.]*="[^"]*"\s*)+>')
BATCH = 4096        # rows per batch read back from a builder's cache
_NCBI_TITLE = ("MedlineCitation", "Article", "ArticleTitle")
_NCBI_ABSTRACT = ("MedlineCitation", "Article", "Abstract", "AbstractText")


def clean(text: str) -> str:
    return _WS.sub(" ", text).strip()


def _dig(rec, keys: tuple[str, ...]):
    for key in keys:
        if not isinstance(rec, dict):
            return None
        rec = rec.get(key)
    return rec


def _markup_text(value) -> str:
    """Plain text of an ncbi/pubmed string (serialised XML content), list or struct."""
    if value is None:
        return ""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return clean(" ".join(_markup_text(v) for v in value))
    text = _TAG.sub("", _ATTR_DEBRIS.sub("", str(value), count=1))  # tags first: real '<' is escaped
    return clean(html.unescape(text))


def _from_ncbi_record(rec: dict) -> str:
    abstract = _markup_text(_dig(rec, _NCBI_ABSTRACT))
    if not abstract:  # the script's default for a citation without abstract is ""
        return ""
    return clean(f"{_markup_text(_dig(rec, _NCBI_TITLE))} {abstract}")


def _from_record(rec, fields: list[str] | None, path: Path, lineno: int | None) -> str:
    if not isinstance(rec, dict):
        raise DataError(path, "expected a JSON object per line", lineno)
    if "MedlineCitation" in rec and (fields is None or not any(f in rec for f in fields)):
        return _from_ncbi_record(rec)
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


@contextlib.contextmanager
def _builder(kind: str, path: Path, **config):
    """``path`` loaded by ``datasets``' ``kind`` builder into a throw-away cache; ``None`` if it refuses it."""
    import datasets

    with tempfile.TemporaryDirectory(prefix="compactbio-corpus-") as cache:
        hidden = datasets.are_progress_bars_disabled()
        datasets.disable_progress_bars()
        try:
            ds = datasets.load_dataset(kind, data_files=[str(path)], split="train", cache_dir=cache, **config)
        except Exception as exc:  # noqa: BLE001 - the line reader then names the problem, or reads the file
            logger.debug("%s: the datasets %s builder refused it (%s); reading it line by line", path, kind, exc)
            ds = None
        finally:
            if not hidden:
                datasets.enable_progress_bars()
        yield ds
        del ds


def _temporal(t) -> bool:
    """Whether an Arrow type holds dates or times anywhere (JSON strings the builder parsed as such)."""
    import pyarrow as pa

    if pa.types.is_temporal(t):
        return True
    if pa.types.is_struct(t):
        return any(_temporal(t.field(i).type) for i in range(t.num_fields))
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _temporal(t.value_type)
    return False


def _builder_records(ds):
    """The builder's rows as dicts, in file order, ``BATCH`` at a time."""
    for batch in ds.iter(batch_size=BATCH):
        names = list(batch)
        yield from (dict(zip(names, values)) for values in zip(*(batch[n] for n in names)))


def read_txt(path: Path) -> Iterator[str]:
    """One document a line, through the ``text`` builder (the BOM of a Windows editor dropped)."""
    with _builder("text", path, encoding="utf-8-sig") as ds:
        if ds is not None:
            for batch in ds.iter(batch_size=BATCH):
                for line in batch["text"]:
                    if "\x00" in line:  # the plain reader names the line of the NUL byte
                        yield from _txt_lines(path)
                        return
                    doc = clean(line)
                    if doc:
                        yield doc
            return
    yield from _txt_lines(path)


def _txt_lines(path: Path) -> Iterator[str]:
    for line in read_text(path).split("\n"):
        doc = clean(line)
        if doc:
            yield doc


def read_jsonl(path: Path, fields: list[str] | None) -> Iterator[str]:
    """JSON lines through the ``json`` builder; a field absent from a line is absent from its record."""
    with _builder("json", path) as ds:
        if ds is not None and not any(_temporal(f.type) for f in ds.data.schema):
            for rec in _builder_records(ds):
                doc = _from_record({k: v for k, v in rec.items() if v is not None}, fields, path, None)
                if doc:
                    yield doc
            return
    yield from _jsonl_lines(path, fields)


def _jsonl_lines(path: Path, fields: list[str] | None) -> Iterator[str]:
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


def _article_text(elem) -> str | None:
    """Title + every abstract part of one ``PubmedArticle``; None without an abstract."""
    abstract = [clean("".join(a.itertext())) for a in elem.iterfind(".//Abstract/AbstractText")]
    abstract = [a for a in abstract if a]
    if not abstract:
        return None
    title = elem.find(".//ArticleTitle")
    head = clean("".join(title.itertext())) if title is not None else ""
    return clean(" ".join([head] + abstract))


def iter_pubmed_records(path: Path) -> Iterator[tuple[str, str | None, str | None]]:
    """``("article", pmid, text or None)`` per citation and ``("delete", pmid, None)`` per deleted PMID."""
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            for _, elem in ElementTree.iterparse(f, events=("end",)):
                if elem.tag == "PubmedArticle":
                    pmid = elem.findtext("MedlineCitation/PMID")
                    yield "article", pmid.strip() if pmid else None, _article_text(elem)
                    elem.clear()
                elif elem.tag == "DeleteCitation":
                    for p in elem.iterfind("PMID"):
                        if p.text and p.text.strip():
                            yield "delete", p.text.strip(), None
                    elem.clear()
    except ElementTree.ParseError as exc:
        line = exc.position[0] if exc.position else None
        raise DataError(path, f"malformed PubMed XML: {exc}", line) from None
    except (OSError, EOFError) as exc:
        raise DataError(path, f"cannot read PubMed XML: {exc}") from None


def read_pubmed_xml(path: Path) -> Iterator[str]:
    """The documents of one PubMed XML file, in order (no PMID bookkeeping: see :func:`read`)."""
    for kind, _, text in iter_pubmed_records(path):
        if kind == "article" and text:
            yield text


def read_parquet(path: Path, fields: list[str] | None) -> Iterator[str]:
    """A parquet snapshot through the ``parquet`` builder (nulls stay None, as pyarrow reads them)."""
    with _builder("parquet", path) as ds:
        if ds is not None:
            for rec in _builder_records(ds):
                doc = _from_record(rec, fields, path, None)
                if doc:
                    yield doc
            return
    yield from _parquet_rows(path, fields)


def _parquet_rows(path: Path, fields: list[str] | None) -> Iterator[str]:
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


def _records(path: Path, fields: list[str] | None) -> Iterator[tuple[str, str | None, str | None]]:
    """Every file form as ``(kind, pmid, text)``; only PubMed XML carries PMIDs and deletions."""
    name = path.name
    if name.endswith((".xml", ".xml.gz")):
        yield from iter_pubmed_records(path)
        return
    if name.endswith((".jsonl", ".json")):
        docs = read_jsonl(path, fields)
    elif name.endswith(".parquet"):
        docs = read_parquet(path, fields)
    else:
        docs = read_txt(path)
    for doc in docs:
        yield "article", None, doc


def iter_documents(root: Path, fields: list[str] | None = None, max_documents: int | None = None) -> Iterator[str]:
    """Stream the documents of a file or folder, in order, up to ``max_documents``."""
    n = 0
    for path in corpus_files(Path(root)):
        for kind, _, doc in _records(path, fields):
            if kind != "article" or not doc:
                continue
            if max_documents is not None and n >= max_documents:
                return
            n += 1
            yield doc


class _Corpus:
    """Documents in reading order, one current document per PMID (NLM's update-file rules)."""

    def __init__(self, limit: int | None):
        self.docs: list[str | None] = []
        self.slot: dict[str, int] = {}  # PMID -> index in docs
        self.limit, self.live, self.revised, self.deleted = limit, 0, 0, 0

    def full(self) -> bool:
        return self.limit is not None and self.live >= self.limit

    def _set(self, i: int, doc: str | None) -> None:
        self.live += (doc is not None) - (self.docs[i] is not None)
        self.docs[i] = doc

    def add(self, kind: str, pmid: str | None, doc: str | None) -> None:
        if kind == "delete":
            if pmid in self.slot:
                self._set(self.slot.pop(pmid), None)
                self.deleted += 1
        elif pmid is not None and pmid in self.slot:  # a later record of the PMID is the current one
            self._set(self.slot[pmid], doc)
            self.revised += 1
        elif doc:
            if pmid is not None:
                self.slot[pmid] = len(self.docs)
            self.docs.append(doc)
            self.live += 1

    def documents(self) -> list[str]:
        return [d for d in self.docs if d is not None]


def corpus_limit(folder: Path, ds: dict) -> int | None:
    """The dataset entry's ``max_documents`` or the source's (``CORPUS.json``), the smaller if both."""
    caps = [ds.get("max_documents")]
    meta = Path(folder) / META
    if meta.is_file():
        try:
            caps.append(json.loads(read_text(meta)).get("max_documents"))
        except (json.JSONDecodeError, AttributeError) as exc:
            raise DataError(meta, f"not the JSON object fetch writes ({exc})") from None
    caps = [c for c in caps if c is not None]
    return min(caps) if caps else None


def read(folder: Path, ds: dict, name: str) -> Prepared:
    corpus = _Corpus(corpus_limit(folder, ds))
    for path in corpus_files(Path(folder)):
        for kind, pmid, doc in _records(path, ds.get("text_fields")):
            if corpus.full():
                break
            corpus.add(kind, pmid, doc)
        if corpus.full():
            break
    docs = corpus.documents()
    if corpus.revised or corpus.deleted:
        logger.info("%s: %d citations replaced by a later record, %d deleted (DeleteCitation)", name,
                    corpus.revised, corpus.deleted)
    if not docs:
        raise DataError(folder, "empty corpus: no documents found")
    return Prepared(task="mlm", labels=[], splits={}, corpus=docs)
