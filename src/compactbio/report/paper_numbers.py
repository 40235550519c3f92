"""The scores the paper reports in its Tables 2–7, transcribed as data.

Source: Rohanian et al., "On the Effectiveness of Compact Biomedical
Transformers", Bioinformatics 2023, as extracted in
``seeds/paper-on-the-effectiveness-of-compact-biomedical-transformers.txt``.
Each row keeps the paper's table number, the row label as printed and the
line of that text file, so every figure can be traced (a test re-reads those
lines).  The extracted text has OCR glitches, resolved here:

* Table 2 prints both BC5CDR rows as "BC5CDR"; the first sits under Disease,
  the second under Drug/chem. (Table 3 names them "(disease)" and "(chem)").
* Table 3 prints "INLPBA" for JNLPBA.
* Table 5's BioMobileBERT values are wrapped in ``<u>`` (underlined: second
  best in the paper); recorded in :data:`UNDERLINED`.
* Tables 6 and 7 print the MRR row label "М" with a Cyrillic letter.

Scores are percentages as printed (two decimals); metrics use the project's
names: ``f1`` (NER word-level F1 in the paper's sense, GAD binary F1, ChemProt
macro-F1), ``strict``, ``lenient``, ``mrr``.
"""

from __future__ import annotations

from dataclasses import dataclass

DISTILLED = ("distilbert", "distilbiobert", "compactbiobert", "tinybiobert", "biobert")
CONTINUAL = ("distilbert", "tinybert", "mobilebert", "biodistilbert", "biotinybert", "biomobilebert")
SOURCE = "paper-on-the-effectiveness-of-compact-biomedical-transformers.txt"


@dataclass(frozen=True)
class PaperRow:
    table: int          # the paper's table number
    dataset: str        # our dataset id
    metric: str         # our metric name
    label: str          # the row as printed in the paper (dataset / metric)
    line: int           # line of SOURCE holding the row
    values: tuple[float, ...]


@dataclass(frozen=True)
class PaperFigure:
    """One reported number and where it comes from."""

    value: float
    table: int
    row: str
    line: int

    @property
    def source(self) -> str:
        return f"Table {self.table}, row {self.row}"


# table number -> (task, model columns in the paper's order)
PAPER_TABLES: dict[int, tuple[str, tuple[str, ...]]] = {
    2: ("ner", DISTILLED), 3: ("ner", CONTINUAL), 4: ("re", DISTILLED),
    5: ("re", CONTINUAL), 6: ("qa", DISTILLED), 7: ("qa", CONTINUAL),
}

ROWS: tuple[PaperRow, ...] = (
    # Table 2: directly distilled models, NER (F1)
    PaperRow(2, "ncbi-disease", "f1", "Disease / NCBI disease / F1", 237, (86.38, 87.93, 88.67, 85.22, 88.62)),
    PaperRow(2, "bc5cdr-disease", "f1", "Disease / BC5CDR / F1", 238, (82.01, 85.42, 85.38, 81.28, 86.67)),
    PaperRow(2, "bc5cdr-chem", "f1", "Drug/chem. / BC5CDR / F1", 239, (92.50, 94.53, 94.31, 92.20, 94.73)),
    PaperRow(2, "bc4chemd", "f1", "Drug/chem. / BC4CHEMD / F1", 240, (89.53, 91.77, 91.40, 89.03, 92.14)),
    PaperRow(2, "bc2gm", "f1", "Gene/protein / BC2GM / F1", 241, (84.61, 86.60, 86.71, 82.52, 87.62)),
    PaperRow(2, "jnlpba", "f1", "Gene/protein / JNLPBA / F1", 242, (79.14, 79.97, 79.88, 78.75, 80.33)),
    PaperRow(2, "linnaeus", "f1", "Species / LINNAEUS / F1", 243, (80.73, 83.29, 82.90, 78.29, 83.96)),
    PaperRow(2, "species-800", "f1", "Species / Species-800 / F1", 244, (72.03, 74.72, 75.70, 69.59, 77.87)),
    # Table 3: continually pre-trained models, NER (F1)
    PaperRow(3, "ncbi-disease", "f1", "NCBI disease / F1", 252, (86.38, 80.46, 86.14, 87.61, 82.95, 87.21)),
    PaperRow(3, "bc5cdr-disease", "f1", "BC5CDR (disease) / F1", 253, (82.01, 77.45, 81.99, 85.61, 81.16, 84.62)),
    PaperRow(3, "bc5cdr-chem", "f1", "BC5CDR (chem) / F1", 254, (92.50, 88.50, 92.20, 94.48, 90.85, 94.23)),
    PaperRow(3, "bc4chemd", "f1", "BC4CHEMD / F1", 255, (89.53, 83.76, 89.60, 91.59, 87.37, 91.31)),
    PaperRow(3, "bc2gm", "f1", "BC2GM / F1", 256, (84.61, 76.93, 82.86, 86.97, 80.57, 85.26)),
    PaperRow(3, "jnlpba", "f1", "JNLPBA / F1", 257, (79.14, 76.79, 78.88, 79.10, 77.87, 80.13)),
    PaperRow(3, "linnaeus", "f1", "LINNAEUS / F1", 258, (80.73, 71.94, 78.53, 82.56, 76.42, 81.83)),
    PaperRow(3, "species-800", "f1", "Species-800 / F1", 259, (72.03, 66.33, 74.56, 74.68, 70.68, 75.22)),
    # Table 4: directly distilled models, RE (GAD binary F1, ChemProt macro-F1)
    PaperRow(4, "gad", "f1", "Gene-disease / GAD / F1", 268, (82.54, 85.30, 85.52, 82.46, 86.80)),
    PaperRow(4, "chemprot", "f1", "Protein-chemical / CHEMPROT / F1", 269, (47.52, 49.79, 52.46, 30.33, 52.32)),
    # Table 5: continually pre-trained models, RE
    PaperRow(5, "gad", "f1", "GAD / F1", 279, (82.54, 75.53, 82.98, 86.04, 78.48, 84.56)),
    PaperRow(5, "chemprot", "f1", "CHEMPROT / F1", 280, (47.52, 23.18, 47.92, 51.48, 25.54, 51.03)),
    # Table 6: directly distilled models, BioASQ 7b
    PaperRow(6, "bioasq7b", "strict", "BioASQ 7b / S", 287, (20.98, 20.98, 22.83, 20.98, 24.07)),
    PaperRow(6, "bioasq7b", "lenient", "BioASQ 7b / L", 288, (29.62, 28.39, 29.01, 30.86, 34.56)),
    PaperRow(6, "bioasq7b", "mrr", "BioASQ 7b / M", 289, (24.34, 23.79, 25.06, 25.05, 28.41)),
    # Table 7: continually pre-trained models, BioASQ 7b
    PaperRow(7, "bioasq7b", "strict", "BioASQ 7b / S", 301, (20.98, 21.60, 27.77, 25.92, 20.37, 29.01)),
    PaperRow(7, "bioasq7b", "lenient", "BioASQ 7b / L", 302, (29.62, 29.62, 40.74, 38.88, 32.09, 38.88)),
    PaperRow(7, "bioasq7b", "mrr", "BioASQ 7b / M", 303, (24.34, 24.62, 32.78, 30.83, 25.20, 32.90)),
)

# (table, dataset, model) printed underlined in the extracted text
UNDERLINED = frozenset({(5, "gad", "biomobilebert"), (5, "chemprot", "biomobilebert")})


def _index() -> dict[tuple[int, str, str, str], PaperFigure]:
    out = {}
    for row in ROWS:
        models = PAPER_TABLES[row.table][1]
        if len(row.values) != len(models):
            raise AssertionError(f"Table {row.table} {row.label}: {len(row.values)} values for {len(models)} models")
        for model, value in zip(models, row.values):
            out[(row.table, row.dataset, row.metric, model)] = PaperFigure(value, row.table, row.label, row.line)
    return out


FIGURES = _index()


def lookup(model: str, dataset: str, metric: str, prefer_table: int | None = None) -> PaperFigure | None:
    """The paper's figure for a model/dataset/metric, from ``prefer_table`` when it holds it.

    DistilBERT appears in Tables 2 and 3 (and 4/5, 6/7) with the same values;
    preferring the table being compared keeps the cited source exact.
    """
    if prefer_table is not None and (prefer_table, dataset, metric, model) in FIGURES:
        return FIGURES[(prefer_table, dataset, metric, model)]
    for table in sorted(PAPER_TABLES):
        fig = FIGURES.get((table, dataset, metric, model))
        if fig is not None:
            return fig
    return None
