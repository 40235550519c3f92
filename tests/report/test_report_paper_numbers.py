"""The paper's reported figures, checked against the paper's text and by hand."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from compactbio.report.paper_numbers import FIGURES, PAPER_TABLES, ROWS, SOURCE, UNDERLINED, lookup

ROOT = Path(__file__).resolve().parents[2]


# how the extracted text prints each dataset and metric (OCR glitches included)
DATASET_PRINTED = {
    "ncbi-disease": {"NCBI disease"}, "bc5cdr-disease": {"BC5CDR", "BC5CDR (disease)"},
    "bc5cdr-chem": {"BC5CDR", "BC5CDR (chem)"}, "bc4chemd": {"BC4CHEMD"}, "bc2gm": {"BC2GM"},
    "jnlpba": {"JNLPBA", "INLPBA"}, "linnaeus": {"LINNAEUS"}, "species-800": {"Species-800"},
    "gad": {"GAD"}, "chemprot": {"CHEMPROT"}, "bioasq7b": {"BioASQ 7b"},
}
METRIC_PRINTED = {"f1": {"F1"}, "strict": {"S"}, "lenient": {"L"}, "mrr": {"M", "\u041c"}}


def _seed_text() -> list[str] | None:
    for base in (os.environ.get("COMPACTBIO_SEEDS"), ROOT.parent / "shared" / "seeds"):
        if base and (Path(base) / SOURCE).is_file():
            return (Path(base) / SOURCE).read_text(encoding="utf-8").splitlines()
    return None


def test_a_handful_of_figures_by_hand():
    """Read off the paper by a person, independent of the transcription's layout."""
    assert lookup("compactbiobert", "ncbi-disease", "f1").value == 88.67          # Table 2
    assert lookup("biobert", "species-800", "f1").value == 77.87                  # Table 2
    assert lookup("biomobilebert", "jnlpba", "f1").value == 80.13                 # Table 3 ("INLPBA")
    assert lookup("tinybiobert", "chemprot", "f1").value == 30.33                 # Table 4
    assert lookup("biomobilebert", "gad", "f1").value == 84.56                    # Table 5, underlined
    assert lookup("biobert", "bioasq7b", "mrr").value == 28.41                    # Table 6
    assert lookup("mobilebert", "bioasq7b", "lenient").value == 40.74             # Table 7
    assert lookup("biobert", "bc5cdr-chem", "f1").source == "Table 2, row Drug/chem. / BC5CDR / F1"
    assert lookup("distilbert", "gad", "f1", prefer_table=5).table == 5
    assert lookup("distilbert", "gad", "f1").table == 4
    assert lookup("biobert", "gad", "f1", prefer_table=5).table == 4   # not in Table 5: falls back
    assert lookup("biobert", "no-such-dataset", "f1") is None


def test_shape_of_the_transcription():
    counts = {t: sum(1 for r in ROWS if r.table == t) for t in PAPER_TABLES}
    assert counts == {2: 8, 3: 8, 4: 2, 5: 2, 6: 3, 7: 3}
    assert len(FIGURES) == 8 * 5 + 8 * 6 + 2 * 5 + 2 * 6 + 3 * 5 + 3 * 6
    # DistilBERT's baseline figures are printed twice with the same values
    for d, m in [("ncbi-disease", "f1"), ("gad", "f1"), ("bioasq7b", "mrr")]:
        pairs = [f.value for (t, dd, mm, model), f in FIGURES.items() if model == "distilbert" and (dd, mm) == (d, m)]
        assert len(pairs) == 2 and pairs[0] == pairs[1]
    assert all(FIGURES[(t, d, "f1", m)] for t, d, m in UNDERLINED)


def test_every_row_matches_its_line_in_the_paper_text():
    lines = _seed_text()
    if lines is None:
        pytest.skip(f"{SOURCE} not found (../shared/seeds or $COMPACTBIO_SEEDS)")
    for row in ROWS:
        line = lines[row.line - 1]
        printed = [float(x) for x in re.findall(r"\d+\.\d\d", line)]
        assert tuple(printed) == row.values, f"line {row.line}: {line!r}"
        fields = line.split("\t")   # [type,] dataset, metric, values...
        first_number = next(i for i, f in enumerate(fields) if re.search(r"\d+\.\d\d", f))
        assert fields[first_number - 1] in METRIC_PRINTED[row.metric], f"line {row.line}: {line!r}"
        printed_dataset = fields[first_number - 2]
        if printed_dataset:   # continuation rows leave the dataset cell empty
            assert printed_dataset in DATASET_PRINTED[row.dataset], f"line {row.line}: {line!r}"
    for table, dataset, model in UNDERLINED:
        row = next(r for r in ROWS if (r.table, r.dataset) == (table, dataset))
        value = FIGURES[(table, dataset, "f1", model)].value
        assert f"<u>{value:.2f}</u>" in lines[row.line - 1]
