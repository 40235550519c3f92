"""LaTeX and Markdown rendering details, and pdflatex compiling every table of params.yaml."""

from __future__ import annotations

import random
import shutil
import subprocess

import pytest

from compactbio.report import latex, markdown, stage
from compactbio.report.table import Cell, format_number, mark_ranks

from report.report_fakes import write_prepared, write_run


def test_escape_latex_specials():
    assert latex.escape("a_b & 50% #1 $x$ {y} ~^\\") == \
        r"a\_b \& 50\% \#1 \$x\$ \{y\} \textasciitilde{}\textasciicircum{}\textbackslash{}"
    assert latex.escape("±–") == r"$\pm$--"


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


def _full_grid(params, tmp_path):
    """Fake runs for every model × dataset of the grid, two seeds, prepared metas for Table 1."""
    params["grid"]["seeds"] = [42, 43]
    params["tables"]["style"]["bootstrap_samples"] = 50
    rng = random.Random(0)
    grid = params["grid"]
    tasks = {**{d: "ner" for d in grid["ner"]}, **{d: "re" for d in grid["re"]}, **{d: "qa" for d in grid["qa"]}}
    runs, prepared = tmp_path / "runs", tmp_path / "prepared"
    for m in grid["models"]:
        for d, task in tasks.items():
            for s in grid["seeds"]:
                write_run(runs, m, d, s, task, round(rng.uniform(0.2, 0.95), 4), n=20)
    for d in params["tables"]["table1"]["datasets"]:
        write_prepared(prepared, d, tasks[d], {"train": 100, "validation": 20, "test": 30})
    return runs, prepared


DOCUMENT = r"""\documentclass{article}
\usepackage{booktabs}
\usepackage{longtable}
\usepackage{graphicx}
\begin{document}
\input{%s}
\end{document}
"""


def test_all_tables_of_params_yaml_render_and_compile(real_params, tmp_path):
    runs, prepared = _full_grid(real_params, tmp_path)
    out = tmp_path / "tables"
    names = [k for k, v in real_params["tables"].items() if isinstance(v, dict) and "kind" in v]
    assert {"table1", "table7", "reported", "retention"} <= set(names)
    for name in names:
        stage.run(real_params, name, runs, prepared, out)
        for suffix in (".tex", ".md", ".csv"):
            assert (out / f"{name}{suffix}").stat().st_size > 0
    md = (out / "table2.md").read_text()
    assert "| Type | Dataset | Metric | DistilBERT | DistilBioBERT | CompactBioBERT | TinyBioBERT<sup>a</sup> |" in md
    assert "| Drug/chem. | BC5CDR (chem) | F1 |" in md
    assert [ln.split(" | ")[1] for ln in (out / "table6.md").read_text().splitlines()
            if ln.startswith("| BioASQ 7b") or ln.startswith("|  | ")] == ["S", "L", "M"]
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed (apt-get install texlive-latex-base texlive-latex-recommended)")
    for name in names:
        doc = tmp_path / f"doc_{name}.tex"
        doc.write_text(DOCUMENT % (out / f"{name}.tex").as_posix())
        res = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
                             cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, f"{name}.tex does not compile:\n{res.stdout[-3000:]}"
        assert (tmp_path / f"doc_{name}.pdf").stat().st_size > 0
