"""The pubmed_baseline source kind against a loopback HTTP server, and ncbi/pubmed-shaped dumps.

Two crafted baseline files stand in for NLM's: the first holds an article with
inline markup, one without abstract, one with a structured (multi-part)
abstract, one that its own DeleteCitation block removes; the second revises
the first article and adds one.  Each is served with an ``.md5`` in NLM's
format, so fetch -> prepare must give exactly the rows worked out by hand.
"""

import gzip
import hashlib
import json

import pytest

from compactbio.data import fetch, prepare
from compactbio.data.download import ChecksumError
from compactbio.data.errors import DataError
from compactbio.io import read_json

from file_server import file_server

BASE = "baseline/"


def article(pmid, title, *abstract):
    parts = "".join(f"<AbstractText{attrs}>{text}</AbstractText>" for attrs, text in abstract)
    body = f"<Abstract>{parts}</Abstract>" if abstract else ""
    return (f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">{pmid}</PMID>'
            f"<Article><ArticleTitle>{title}</ArticleTitle>{body}</Article>"
            f'<CommentsCorrectionsList><CommentsCorrections RefType="Cites"><PMID Version="1">{pmid + 7}</PMID>'
            f"</CommentsCorrections></CommentsCorrectionsList></MedlineCitation>"
            f"<PubmedData><PublicationStatus>ppublish</PublicationStatus></PubmedData></PubmedArticle>\n")


def article_set(*items, deleted=()):
    delete = "".join(f'<PMID Version="1">{p}</PMID>' for p in deleted)
    tail = f"<DeleteCitation>{delete}</DeleteCitation>\n" if deleted else ""
    return ('<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE PubmedArticleSet>\n<PubmedArticleSet>\n'
            + "".join(items) + tail + "</PubmedArticleSet>\n").encode()


FILE1 = gzip.compress(article_set(
    article(101, "Aspirin and <i>platelets</i>.", ("", "Aspirin &amp; platelet\n   aggregation.")),
    article(102, "A letter without abstract."),
    article(103, "Structured trial.", (' Label="BACKGROUND" NlmCategory="BACKGROUND"', "Why we looked."),
            (' Label="METHODS" NlmCategory="METHODS"', "How we looked."),
            (' Label="RESULTS" NlmCategory="RESULTS"', "What we saw: p &lt; 0.05.")),
    article(104, "Retracted duplicate.", ("", "Soon deleted.")),
    deleted=(104, 999)), mtime=0)
FILE2 = gzip.compress(article_set(
    article(101, "Aspirin and platelets, revised.", ("", "Corrected abstract.")),
    article(105, "Later paper.", ("", "Fifth abstract."))), mtime=0)
NAMES = ["pubmed26n0001.xml.gz", "pubmed26n0002.xml.gz"]
EXPECTED = ["Aspirin and platelets, revised. Corrected abstract.",
            "Structured trial. Why we looked. How we looked. What we saw: p < 0.05.",
            "Later paper. Fifth abstract."]


def md5(data):
    return hashlib.md5(data).hexdigest()


def sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def server():
    with file_server(BASE) as srv:
        yield srv


def publish(srv, name, data, digest=None):
    srv.files[BASE + name] = data
    srv.files[BASE + name + ".md5"] = f"MD5({name})= {digest or md5(data)}\n".encode()


def serve_both(srv):
    publish(srv, NAMES[0], FILE1)
    publish(srv, NAMES[1], FILE2)


def params_for(srv, **extra):
    spec = {"url": srv.url, "release": 26, "first": 1, "count": 2, **extra}
    return {"sources": {"pubmed": {"pubmed_baseline": spec}},
            "datasets": {"pubmed": {"source": "pubmed", "format": "corpus", "path": "."}}}


def downloads(srv, name):
    return [r["range"] for r in srv.requests if r["path"] == BASE + name]


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr("compactbio.data.download.time.sleep", lambda s: None)


def test_fetch_then_prepare_gives_exactly_the_abstracts(server, tmp_path):
    serve_both(server)
    raw = tmp_path / "raw" / "pubmed"
    params = params_for(server)
    fetch.run(params, "pubmed", raw)
    assert sorted(p.name for p in raw.iterdir()) == ["SHA256SUMS", *NAMES]
    assert (raw / NAMES[0]).read_bytes() == FILE1
    assert (raw / "SHA256SUMS").read_text() == f"{sha(FILE1)}  {NAMES[0]}\n{sha(FILE2)}  {NAMES[1]}\n"
    assert list((tmp_path / "raw").iterdir()) == [raw]  # no cache, no temp folder, no .md5 left behind
    prepare.run(params, "pubmed", raw, tmp_path / "prepared")
    assert (tmp_path / "prepared/corpus.txt").read_text().splitlines() == EXPECTED
    assert read_json(tmp_path / "prepared/meta.json")["documents"] == 3


def test_max_documents_reaches_prepare(server, tmp_path):
    serve_both(server)
    raw = tmp_path / "raw"
    params = params_for(server, max_documents=2)
    fetch.run(params, "pubmed", raw)
    assert json.loads((raw / "CORPUS.json").read_text()) == {"max_documents": 2}
    assert "CORPUS.json" not in (raw / "SHA256SUMS").read_text()
    prepare.run(params, "pubmed", raw, tmp_path / "prepared")
    # Reading stops at the cap: the first file's first two abstracts, before any revision is seen.
    assert (tmp_path / "prepared/corpus.txt").read_text().splitlines() == [
        "Aspirin and platelets. Aspirin & platelet aggregation.", EXPECTED[1]]
    params["datasets"]["pubmed"]["max_documents"] = 1  # the dataset's own cap: the smaller one wins
    prepare.run(params, "pubmed", raw, tmp_path / "prepared1")
    assert len((tmp_path / "prepared1/corpus.txt").read_text().splitlines()) == 1


def test_wrong_md5_stops_with_one_line_and_writes_nothing(server, tmp_path):
    serve_both(server)
    publish(server, NAMES[1], FILE2, digest="0" * 32)
    raw = tmp_path / "raw"
    with pytest.raises(ChecksumError) as err:
        fetch.run(params_for(server), "pubmed", raw)
    msg = str(err.value)
    assert "\n" not in msg and NAMES[1] in msg and "MD5 mismatch" in msg
    assert "0" * 32 in msg and md5(FILE2) in msg
    assert not raw.exists()
    # Only the verified first file is kept, outside the output, for the next run to reuse.
    assert [p.name for p in tmp_path.iterdir()] == [".raw.cache"]
    assert [p.name for p in (tmp_path / ".raw.cache").iterdir()] == [NAMES[0]]


def test_single_file_md5_mismatch_leaves_no_trace(server, tmp_path):
    publish(server, NAMES[0], FILE1, digest=md5(b"something else"))
    spec = params_for(server)
    spec["sources"]["pubmed"]["pubmed_baseline"]["count"] = 1
    with pytest.raises(ChecksumError, match=NAMES[0]):
        fetch.run(spec, "pubmed", tmp_path / "raw")
    assert list(tmp_path.iterdir()) == []


def test_partial_download_resumes_and_verifies(server, tmp_path):
    serve_both(server)
    raw = tmp_path / "raw"
    cache = tmp_path / ".raw.cache"
    cache.mkdir()
    half = len(FILE1) // 2
    (cache / (NAMES[0] + ".part")).write_bytes(FILE1[:half])  # left by a run killed mid-file
    server.drop = BASE + NAMES[1]  # and the connection drops halfway through the second file
    fetch.run(params_for(server), "pubmed", raw)
    assert downloads(server, NAMES[0]) == [f"bytes={half}-"]
    assert downloads(server, NAMES[1]) == [None, f"bytes={len(FILE2) // 2}-"]
    assert (raw / NAMES[0]).read_bytes() == FILE1 and (raw / NAMES[1]).read_bytes() == FILE2
    assert not cache.exists()


def test_failed_run_resumes_from_cache_and_reuses_previous_output(server, tmp_path):
    publish(server, NAMES[0], FILE1)  # the second file is not there yet: HTTP 404
    raw = tmp_path / "raw"
    with pytest.raises(DataError, match="HTTP 404"):
        fetch.run(params_for(server), "pubmed", raw)
    publish(server, NAMES[1], FILE2)
    fetch.run(params_for(server), "pubmed", raw)
    assert len(downloads(server, NAMES[0])) == 1  # the completed file waited in the cache
    # Widening the range later downloads only the new file: the others are MD5-checked and reused.
    publish(server, "pubmed26n0003.xml.gz", FILE2)
    spec = params_for(server, count=3)
    fetch.run(spec, "pubmed", raw)
    assert len(downloads(server, NAMES[0])) == 1 and len(downloads(server, NAMES[1])) == 1
    assert (raw / NAMES[0]).read_bytes() == FILE1 and (raw / "pubmed26n0003.xml.gz").is_file()


def test_old_release_says_what_to_change(server, tmp_path):
    serve_both(server)
    spec = params_for(server)
    spec["sources"]["pubmed"]["pubmed_baseline"]["release"] = 25
    with pytest.raises(DataError) as err:
        fetch.run(spec, "pubmed", tmp_path / "raw")
    assert "pubmed25n0001.xml.gz.md5" in str(err.value) and "current baseline" in str(err.value)
    assert "release 25" in str(err.value)


@pytest.mark.parametrize("text,expected", [
    ("MD5(pubmed26n0001.xml.gz)= 0123456789ABCDEF0123456789abcdef\n", "0123456789abcdef0123456789abcdef"),
    ("0123456789abcdef0123456789abcdef  pubmed26n0001.xml.gz\n", "0123456789abcdef0123456789abcdef"),
])
def test_md5_line_formats(text, expected):
    assert fetch.parse_md5(text, "pubmed26n0001.xml.gz", "x.md5") == expected


@pytest.mark.parametrize("text,problem", [
    ("<html>Not Found</html>", "not an MD5 line"),
    ("MD5(pubmed26n0002.xml.gz)= 0123456789abcdef0123456789abcdef", "not 'pubmed26n0001.xml.gz'"),
])
def test_md5_line_errors(text, problem):
    with pytest.raises(DataError, match=problem):
        fetch.parse_md5(text, "pubmed26n0001.xml.gz", "x.md5")


def test_spec_errors_name_the_key(tmp_path):
    bad = {"sources": {"pubmed": {"pubmed_baseline": {"release": 26, "first": 0, "count": 2}}}}
    with pytest.raises(ValueError, match=r"sources\.pubmed\.pubmed_baseline\.first must be a positive integer"):
        fetch.run(bad, "pubmed", tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_paper_params_name_one_hundred_current_files(paper_params):
    spec = paper_params["sources"]["pubmed"]["pubmed_baseline"]
    url, release, names = fetch._baseline_spec("pubmed", spec)
    assert url == "https://ftp.ncbi.nlm.nih.gov/pubmed/baseline/" and release == 26
    assert len(names) == 100 and names[0] == "pubmed26n1234.xml.gz" and names[-1] == "pubmed26n1333.xml.gz"
    assert spec["max_documents"] == 2_000_000


# ------------------------------------------------------------------ ncbi/pubmed-shaped dumps
def ncbi(pmid, title, abstract):
    """One record as the ncbi/pubmed script builds it (strings keep serialised inline XML)."""
    return {"MedlineCitation": {"PMID": pmid, "Article": {"ArticleTitle": title, "Abstract": {"AbstractText": abstract},
                                                          "Language": "eng"}},
            "PubmedData": {"PublicationStatus": "ppublish"}}


NCBI_RECORDS = [
    ncbi(1, "Gene <i>BRCA1</i> &amp; risk.", "Carriers had p &lt; 0.01."),
    ncbi(2, "No abstract here.", ""),
    ncbi(3, "Structured.", 'Label="BACKGROUND" NlmCategory="BACKGROUND">Background <sup>2</sup> text.'),
]
NCBI_EXPECTED = ["Gene BRCA1 & risk. Carriers had p < 0.01.", "Structured. Background 2 text."]


def test_ncbi_shaped_parquet_and_jsonl(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "raw" / "pq").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(NCBI_RECORDS), tmp_path / "raw" / "pq" / "train-00000.parquet")
    (tmp_path / "raw" / "pubmed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in NCBI_RECORDS))
    (tmp_path / "raw" / "zflat.jsonl").write_text(json.dumps({"title": "Flat", "abstract": "record"}) + "\n"
                                                  + json.dumps({"text": "plain text <b>kept</b>"}) + "\n")
    params = {"datasets": {"pm": {"format": "corpus", "path": ".", "text_fields": ["title", "abstract"]}}}
    prepare.run(params, "pm", tmp_path / "raw", tmp_path / "out")
    # Files in name order: pq/train-00000.parquet, pubmed.jsonl, zflat.jsonl.
    assert (tmp_path / "out/corpus.txt").read_text().splitlines() == [
        *NCBI_EXPECTED, *NCBI_EXPECTED, "Flat record"]
    params["datasets"]["pm"].pop("text_fields")
    prepare.run(params, "pm", tmp_path / "raw", tmp_path / "out2")
    assert (tmp_path / "out2/corpus.txt").read_text().splitlines()[-2:] == ["Flat record", "plain text <b>kept</b>"]


def test_ncbi_shaped_local_folder_through_hf_dataset(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "hub").mkdir()
    pq.write_table(pa.Table.from_pylist(NCBI_RECORDS), tmp_path / "hub" / "train.parquet")
    cfg = {"hf_dataset": {"name": str(tmp_path / "hub"), "text_fields": ["title", "abstract"]}}
    fetch.run({"sources": {"src": cfg}}, "src", tmp_path / "raw")
    assert (tmp_path / "raw/documents.txt").read_text().splitlines() == NCBI_EXPECTED


def test_loading_script_hub_dataset_fails_with_the_way_out(tmp_path, monkeypatch):
    monkeypatch.setattr(fetch, "_hub_files", lambda name, revision: [".gitattributes", "README.md", "pubmed.py"])
    cfg = {"hf_dataset": {"name": "ncbi/pubmed", "split": "train", "max_documents": 5}}
    with pytest.raises(DataError) as err:
        fetch.run({"sources": {"pubmed": cfg}}, "pubmed", tmp_path / "raw")
    msg = str(err.value)
    assert msg.startswith("hf://datasets/ncbi/pubmed: is a loading-script dataset (pubmed.py)")
    assert "pubmed_baseline" in msg and "\n" not in msg
    assert list(tmp_path.iterdir()) == []


def test_hub_file_check():
    fetch.check_hub_files("someone/corpus", ["README.md", "data/train-00000-of-00002.parquet"])
    fetch.check_hub_files("someone/csv", ["README.md", "train.csv"], with_datasets=True)  # left to `datasets`
    with pytest.raises(DataError, match="has no data files"):
        fetch.check_hub_files("someone/csv", ["README.md", "train.csv"])  # a snapshot could not read it
    with pytest.raises(DataError, match="loading-script"):
        fetch.check_hub_files("ncbi/pubmed", ["README.md", "pubmed.py", "dataset_infos.json"], with_datasets=True)
