"""The HTML table page, the scale label every format carries, and footnotes with measured model sizes."""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser

import pytest

from compactbio.report import html, stage
from compactbio.report.table import Cell, Row, Table

from report.report_models import write_weights


class Cells(HTMLParser):
    """Text of every th/td, row by row, and the caption (a stand-in for what a browser shows)."""

    def __init__(self):
        super().__init__()
        self.rows, self.caption, self._cell, self._in_caption = [], "", None, False

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag == "caption":
            self._in_caption = True

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.rows[-1].append(self._cell)
            self._cell = None
        elif tag == "caption":
            self._in_caption = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        elif self._in_caption:
            self.caption += data


def test_html_page_holds_the_table_as_cells():
    tab = Table(name="table4", caption="RE <scores> & more", columns=["Dataset", "A", "B"], align="lrr",
                header_marks={2: "a"},
                rows=[Row([], section="Ours"),
                      Row([Cell("GAD"), Cell(value=82.333, std=2.08, rank="second"), Cell(value=88.0, rank="best")]),
                      Row([Cell("ChemProt"), Cell(value=-0.001), Cell("–")], rule_before=True)],
                notes=[("a", "B is big."), "Use `reported` for the paper."])
    page = html.render(tab, 2, {"best": "bold", "second": "underline"}, banner="Demo!")
    p = Cells()
    p.feed(page)
    assert p.caption == "Table 4. RE <scores> & more"
    assert p.rows == [["Dataset", "A", "Ba"], ["Ours"], ["GAD", "82.33 ± 2.08", "88.00"], ["ChemProt", "0.00", "–"]]
    assert "<u>82.33 ± 2.08</u>" in page and "<strong>88.00</strong>" in page
    assert '<tr class="group">' in page and '<th colspan="3">Ours</th>' in page
    assert "RE &lt;scores&gt; &amp; more" in page and '<div class="banner">Demo!</div>' in page
    assert "<li><sup>a</sup> B is big.</li>" in page and "<code>reported</code>" in page
    assert "<script" not in page and "http" not in page   # standalone: nothing to fetch


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("scale, rehearsal, prefix, value", [
    ("demo", False, "DEMO SCALE, SYNTHETIC DATA: ", "demo (synthetic data)"),
    ("paper", True, "REHEARSAL: ", "paper rehearsal (capped: not results)"),
    ("paper", False, "", "paper"),
])
def test_scale_label_in_every_format(small_params, small_runs, tmp_path, scale, rehearsal, prefix, value):
    small_params.update(scale=scale, rehearsal={"enabled": rehearsal})
    tab, rows = stage.build(small_params, "table4", small_runs, tmp_path / "prepared")
    texts = stage.render(small_params, tab, rows)
    assert set(texts) == {".tex", ".md", ".csv", ".html"}
    assert f"\\caption{{{prefix}RE scores}}" in texts[".tex"]
    assert f"**Table 4.** {prefix}RE scores" in texts[".md"]
    assert f'<span class="number">Table 4.</span> {prefix}RE scores</caption>' in texts[".html"]
    assert [r["scale"] for r in _rows(texts[".csv"])] == [value] * len(rows)
    assert list(_rows(texts[".csv"])[0])[0] == "scale"
    labelled = scale != "paper" or rehearsal
    assert ('class="banner"' in texts[".html"]) == bool(labelled)
    assert ("say nothing about the real models" in texts[".md"]) == (scale == "demo")
    assert tab.caption == "RE scores" and not any("Demo scale" in str(n) for n in tab.notes)   # build is untouched


def test_sizes_footnote_is_measured_from_the_weights(small_params, small_runs, tmp_path):
    models = tmp_path / "models"
    counts = {m: write_weights(models / m, {"w": (n, 1000)})
              for m, n in (("distilbert", 658), ("compactbiobert", 664), ("biobert", 1083))}
    assert counts == {"distilbert": 658_000, "compactbiobert": 664_000, "biobert": 1_083_000}
    small_params["tables"]["table4"]["footnotes"] = [{"model": "compactbiobert", "text": "Sizes: {sizes}."}]
    stage.run(small_params, "table4", small_runs, tmp_path / "prepared", tmp_path / "out", models=models)
    md = (tmp_path / "out" / "table4.md").read_text()
    assert "- <sup>a</sup> Sizes: Distil\\_BERT & co 0.658M, CompactBioBERT 0.664M, BioBERT-v1.1 1.08M." in md
    assert stage.required_inputs(small_params, "table4", small_runs, tmp_path, models)[-3:] == \
        [models / m / "model.safetensors" for m in ("distilbert", "compactbiobert", "biobert")]
    (models / "biobert" / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="biobert/model.safetensors"):
        stage.run(small_params, "table4", small_runs, tmp_path / "prepared", tmp_path / "again", models=models)
    assert not (tmp_path / "again").exists()
    small_params["tables"]["table1"]["footnotes"] = ["{sizes}"]
    with pytest.raises(ValueError, match=r"tables.table1.footnotes: \{sizes\} needs a table with models"):
        stage.run(small_params, "table1", small_runs, tmp_path / "prepared", tmp_path / "t1", models=models)
