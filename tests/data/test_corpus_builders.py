"""Raw corpus files read through `datasets`' builders give the documents the plain line readers give."""

import gzip
import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq

from compactbio.data.readers import corpus


def _docs(folder, **ds):
    return corpus.read(folder, ds, "c").corpus


def _line_docs(path, fields=None):
    """The plain readers, the reference (and the fallback)."""
    if path.suffix == ".txt":
        return list(corpus._txt_lines(path))
    if path.suffix == ".parquet":
        return list(corpus._parquet_rows(path, fields))
    return list(corpus._jsonl_lines(path, fields))


def test_json_lines_keep_strings_the_builder_would_parse_or_unify(tmp_path):
    recs = [{"title": "2020-01-01", "abstract": "dated  title"},            # ISO date: a timestamp to pyarrow
            {"text": 7}, {"text": "seven\tand a tab"},                        # a column changing type
            {"title": "only a title"}, {"title": "T", "abstract": "A"},
            {"MedlineCitation": {"Article": {"ArticleTitle": "Ncbi <i>title</i>",
                                             "Abstract": {"AbstractText": "Body &amp; more."}}}}]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    want = ["2020-01-01 dated title", "7", "seven and a tab", "only a title", "T A", "Ncbi title Body & more."]
    assert _docs(tmp_path) == _line_docs(tmp_path / "a.jsonl") == want
    assert _docs(tmp_path, text_fields=["abstract"]) == _line_docs(tmp_path / "a.jsonl", ["abstract"]) == [
        "dated title", "A", "Ncbi title Body & more."]
    (tmp_path / "a.jsonl").unlink()
    (tmp_path / "b.jsonl").write_text('{"date": "2020-01-01", "text": "x"}\n{"date": "2021-02-03", "text": "y"}\n')
    assert _docs(tmp_path, text_fields=["date", "text"]) == ["2020-01-01 x", "2021-02-03 y"]  # not 00:00:00


def test_a_null_field_counts_as_absent(tmp_path):
    """The builder cannot tell `"text": null` from no `text` key: both fall back to title + abstract."""
    (tmp_path / "a.jsonl").write_text('{"text": "t"}\n{"text": null, "title": "T", "abstract": "A"}\n')
    assert _docs(tmp_path) == ["t", "T A"]


def test_text_and_parquet_match_the_line_readers(tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t/a.txt").write_bytes("\ufeffone  doc\r\n\n two\tdocs \n\u00e9t\u00e9 three\n".encode())
    assert _docs(tmp_path / "t") == _line_docs(tmp_path / "t/a.txt") == ["one doc", "two docs", "\u00e9t\u00e9 three"]
    (tmp_path / "p").mkdir()
    rows = [{"title": "T1", "abstract": "A one."}, {"title": "T2", "abstract": None}, {"title": None, "abstract": "x"}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "p/a.parquet")
    assert _docs(tmp_path / "p") == _line_docs(tmp_path / "p/a.parquet") == ["T1 A one.", "T2", "x"]


def test_pubmed_xml_alone_does_not_import_datasets(tmp_path):
    xml = (b"<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article>"
           b"<ArticleTitle>Title.</ArticleTitle><Abstract><AbstractText>Body.</AbstractText></Abstract>"
           b"</Article></MedlineCitation></PubmedArticle></PubmedArticleSet>")
    (tmp_path / "x.xml.gz").write_bytes(gzip.compress(xml))
    code = ("import sys; from pathlib import Path; from compactbio.data.readers import corpus; "
            "assert corpus.read(Path(sys.argv[1]), {}, 'c').corpus == ['Title. Body.']; "
            "assert 'datasets' not in sys.modules")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
