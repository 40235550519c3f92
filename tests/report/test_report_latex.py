"""LaTeX and Markdown rendering details, and pdflatex compiling every table of params.yaml.

Every table must compile in a one-column and a two-column document: a wide
table becomes ``table*`` in two columns (checked through a hook the test
document puts on ``table*``), the long ``reported`` table switches to one
column for itself, and nothing LaTeX would print as another glyph (``|``)
is left unescaped.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess

import pytest

from compactbio.report import html, latex, markdown, sizes, stage
from compactbio.report.table import Cell, Row, Table, format_number, mark_ranks

from report.report_fakes import write_prepared, write_run
from report.report_models import write_weights

PDFLATEX = shutil.which("pdflatex")
needs_pdflatex = pytest.mark.skipif(
    PDFLATEX is None, reason="pdflatex not installed (apt-get install texlive-latex-base texlive-latex-recommended)")


def test_escape_latex_specials():
    assert latex.escape("a_b & 50% #1 $x$ {y} ~^\\") == \
        r"a\_b \& 50\% \#1 \$x\$ \{y\} \textasciitilde{}\textasciicircum{}\textbackslash{}"
    assert latex.escape("±–") == r"$\pm$--"
    # OT1 prints "|" as an em dash: "Mean |Δ|" came out as "Mean —∆—"
    assert latex.escape("Mean |Δ|") == r"Mean \textbar{}$\Delta$\textbar{}"


def test_escape_markdown():
    assert markdown.escape("a|b *c* _d_ <u>") == r"a\|b \*c\* \_d\_ &lt;u&gt;"


def test_format_number_and_ranks():
    assert format_number(-0.001, 2) == "0.00" and format_number(1.5, 1, signed=True) == "+1.5"
    assert format_number(-1.25, 1) == "-1.2" and format_number(None, 2) == "–"
    cells = [Cell(value=v) for v in (80.004, 79.0, 80.001, None, 78.0)]
    mark_ranks(cells, 2)   # 80.00 twice: both best; 79.00 second
    assert [c.rank for c in cells] == ["best", "second", "best", None, None]
    single = [Cell(value=5.0)]
    mark_ranks(single, 2)
    assert single[0].rank == "best"


def _marked_table() -> Table:
    tab = Table(name="table9", caption="Scores", columns=["Dataset", "A", "B"], align="lrr",
                rows=[Row([Cell("GAD"), Cell(value=80.0, marker="‡"), Cell(value=85.0, rank="best")])],
                markdown_notes=["‡ p < 0.01, † p < 0.05: differs from B."])
    return tab


def test_significance_markers_and_legend_in_every_format():
    emph = {"best": "bold", "second": "underline"}
    tex = latex.render(_marked_table(), 2, emph)
    assert r"80.00\textsuperscript{\ddag{}} & \textbf{85.00}" in tex
    assert r"\ddag{} p \textless{} 0.01, \dag{} p \textless{} 0.05: differs from B.\par" in tex
    md = markdown.render(_marked_table(), 2, emph)
    assert "| GAD | 80.00 ‡ | **85.00** |" in md and "- ‡ p < 0.01" in md
    page = html.render(_marked_table(), 2, emph)
    assert '<td class="num">80.00<sup class="sig">‡</sup></td><td class="num"><strong>85.00</strong></td>' in page
    assert "<li>‡ p &lt; 0.01, † p &lt; 0.05: differs from B.</li>" in page


def test_float_option():
    emph = {"best": "bold", "second": "underline"}
    auto = latex.render(_marked_table(), 2, emph)
    assert r"\ifdim\wd0>\columnwidth" in auto and r"\begin{table*}" in auto and r"\begin{table}" in auto
    assert r"\ifdim\columnwidth<\textwidth" in auto   # table* only in a two-column document
    star = latex.render(_marked_table(), 2, emph, "table*")
    assert r"\begin{table*}" in star and r"\begin{table}[" not in star and r"\ifdim\wd0>\columnwidth" not in star
    plain = latex.render(_marked_table(), 2, emph, "table")
    assert r"\begin{table}[" in plain and "table*" not in plain
    with pytest.raises(ValueError, match="tables.style.float"):
        latex.render(_marked_table(), 2, emph, "figure")


def test_parameter_counts_from_the_weights(tmp_path):
    n = write_weights(tmp_path / "m", {"emb": (300, 16), "w": (16, 16), "b": (16,)})
    assert n == 300 * 16 + 16 * 16 + 16 == 5072
    assert sizes.count_parameters(tmp_path / "m") == 5072
    assert sizes.human(5072) == "0.00507M" and sizes.human(14_523_000) == "14.5M" and sizes.human(108_310_272) == "108M"
    with pytest.raises(FileNotFoundError, match="model.safetensors: missing"):
        sizes.count_parameters(tmp_path / "absent")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        sizes.count_parameters(tmp_path / "bad")


def _full_grid(params, tmp_path):
    """Fake runs for every model × dataset of the grid, two seeds, prepared metas, model weights."""
    params["grid"]["seeds"] = [42, 43]
    params["tables"]["style"]["bootstrap_samples"] = 50
    rng = random.Random(0)
    grid = params["grid"]
    tasks = {**{d: "ner" for d in grid["ner"]}, **{d: "re" for d in grid["re"]}, **{d: "qa" for d in grid["qa"]}}
    runs, prepared, models = tmp_path / "runs", tmp_path / "prepared", tmp_path / "models"
    counts = {}
    for k, m in enumerate(grid["models"]):
        counts[m] = write_weights(models / m, {"embeddings": (100 + 10 * k, 8), "dense": (8, 8)})
        for d, task in tasks.items():
            for s in grid["seeds"]:
                write_run(runs, m, d, s, task, round(rng.uniform(0.2, 0.95), 4), n=20)
    for d in params["tables"]["table1"]["datasets"]:
        write_prepared(prepared, d, tasks[d], {"train": 100, "validation": 20, "test": 30})
    return runs, prepared, models, counts


HOOK = r"""\makeatletter
\expandafter\let\expandafter\cbOrigWide\csname table*\endcsname
\expandafter\def\csname table*\endcsname{\typeout{CB-WIDE-FLOAT}\cbOrigWide}
\makeatother
"""
DOCUMENT = r"""\documentclass[%s]{article}
\usepackage{booktabs}
\usepackage{longtable}
\usepackage{graphicx}
%s
\begin{document}
Text before the table.
\input{%s}
Text after the table.
\end{document}
"""


def _compile(tmp_path, name: str, fragment, columns: str) -> str:
    doc = tmp_path / f"doc_{name}_{columns}.tex"
    doc.write_text(DOCUMENT % (columns, HOOK, fragment.as_posix()))
    res = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", doc.name],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"{name}.tex does not compile in {columns}:\n{res.stdout[-3000:]}"
    assert doc.with_suffix(".pdf").stat().st_size > 0
    return doc.with_suffix(".log").read_text(errors="replace")


def test_all_tables_of_params_yaml_render_and_compile(real_params, tmp_path):
    runs, prepared, models, counts = _full_grid(real_params, tmp_path)
    out = tmp_path / "tables"
    names = [k for k, v in real_params["tables"].items() if isinstance(v, dict) and "kind" in v]
    assert {"table1", "table7", "reported", "retention"} <= set(names)
    for name in names:
        stage.run(real_params, name, runs, prepared, out, models=models)
        for suffix in (".tex", ".md", ".csv", ".html"):
            assert (out / f"{name}{suffix}").stat().st_size > 0
    md = (out / "table2.md").read_text()
    assert "| Type | Dataset | Metric | DistilBERT | DistilBioBERT | CompactBioBERT | TinyBioBERT<sup>a</sup> |" in md
    assert "| Drug/chem. | BC5CDR (chem) | F1 |" in md
    assert [ln.split(" | ")[1] for ln in (out / "table6.md").read_text().splitlines()
            if ln.startswith("| BioASQ 7b") or ln.startswith("|  | ")] == ["S", "L", "M"]
    # The paper's "TinyBioBERT has only 15M" became the sizes measured from these weights.
    tex2 = (out / "table2.tex").read_text()
    assert "15M" not in tex2 and "{sizes}" not in tex2
    assert f"TinyBioBERT {sizes.human(counts['tinybiobert'])}" in tex2
    assert f"BioBERT-v1.1 {sizes.human(counts['biobert'])}" in tex2
    # Demo numbers say so in every format.
    for name in names:
        for suffix in (".tex", ".md", ".html"):
            assert "DEMO SCALE, SYNTHETIC DATA: " in (out / f"{name}{suffix}").read_text(), (name, suffix)
        header, first = (out / f"{name}.csv").read_text().splitlines()[:2]
        assert header.startswith("scale,") and first.startswith("demo (synthetic data),")
    reported = (out / "reported.tex").read_text()
    assert r"Mean \textbar{}$\Delta$\textbar{}" in reported and "Mean |" not in reported
    if PDFLATEX is None:
        pytest.skip("pdflatex not installed (apt-get install texlive-latex-base texlive-latex-recommended)")
    for name in names:
        one = _compile(tmp_path, name, out / f"{name}.tex", "onecolumn")
        assert "CB-WIDE-FLOAT" not in one, f"{name}: table* in a one-column document"
        two = _compile(tmp_path, name, out / f"{name}.tex", "twocolumn")
        if name == "table3":   # 9 columns of mean ± std: wider than a column, so both columns
            assert "CB-WIDE-FLOAT" in two
        if name == "reported":
            assert re.search(r"Overfull \\hbox \((\d+)\.", two) is None or \
                max(float(x) for x in re.findall(r"Overfull \\hbox \(([\d.]+)pt", two)) < 20
