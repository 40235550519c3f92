"""A renderer-neutral table: what a cell says, not how LaTeX or Markdown spell it.

Every table kind builds one :class:`Table`; :mod:`.latex`, :mod:`.markdown` and
:mod:`.html` turn it into text.  Keeping numbers as numbers until the last moment lets the
best / second-best marking compare exactly the values a reader sees, and lets
the two renderers agree cell for cell.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

EMPHASES = ("bold", "underline", "none")


@dataclass
class Cell:
    """One cell: free text, or a number (already in display units) with optional std.

    ``rank`` is ``"best"`` / ``"second"`` (mapped to a style by the renderer);
    ``marker`` is a significance marker (every renderer appends it; the legend
    explaining it is in ``Table.markdown_notes``);
    ``mark`` is a footnote letter written as a superscript after the text.
    """

    text: str = ""
    value: float | None = None
    std: float | None = None
    rank: str | None = None
    marker: str = ""
    mark: str = ""
    signed: bool = False


@dataclass
class Row:
    cells: list[Cell]
    section: str | None = None   # a heading row spanning the table ("Ours", "Paper")
    rule_before: bool = False    # a \midrule before this row (a new group)


@dataclass
class Table:
    name: str
    caption: str
    columns: list[str]
    align: list[str]                        # per column: l, r, c or p{width}
    rows: list[Row] = field(default_factory=list)
    header_marks: dict[int, str] = field(default_factory=dict)  # column -> footnote letter
    notes: list = field(default_factory=list)   # footnotes (str, or (letter, text)), both renderers
    # Notes that explain the cells' markers (the significance legend), after ``notes`` in every
    # renderer; the name is historical (they were once Markdown-only).
    markdown_notes: list[str] = field(default_factory=list)
    long: bool = False                      # LaTeX longtable (spans pages)

    def __post_init__(self) -> None:
        if isinstance(self.align, str):
            self.align = list(self.align)
        if len(self.align) != len(self.columns):
            raise ValueError(f"table {self.name}: {len(self.columns)} columns but align {self.align!r}")

    @property
    def number(self) -> str | None:
        """``"2"`` for a table named ``table2`` (the paper's numbering), else None."""
        m = re.fullmatch(r"table(\d+)", self.name)
        return m.group(1) if m else None


def format_number(value: float | None, decimals: int, signed: bool = False) -> str:
    """Fixed decimals; never ``-0.00``; ``+`` on positive differences when ``signed``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = f"{value:.{decimals}f}"
    if float(text) == 0:
        text = f"{0:.{decimals}f}"
    elif signed and value > 0:
        text = "+" + text
    return text


def mark_ranks(cells: list[Cell], decimals: int) -> None:
    """Mark the best and second-best numeric cells of one row, comparing displayed values.

    Comparing the rounded numbers means two cells that read the same get the
    same mark (the paper's Table 6 has three identical 20.98s); the second
    best is the next distinct displayed value.
    """
    shown = {i: round(c.value, decimals) for i, c in enumerate(cells)
             if c.value is not None and not math.isnan(c.value)}
    distinct = sorted(set(shown.values()), reverse=True)
    for i, v in shown.items():
        if v == distinct[0]:
            cells[i].rank = "best"
        elif len(distinct) > 1 and v == distinct[1]:
            cells[i].rank = "second"


def table_label(name: str) -> str:
    """How a reader names a table: "Table 2" for the paper's numbered ones, else its id."""
    m = re.fullmatch(r"table(\d+)", name)
    return f"Table {m.group(1)}" if m else name


def footnote_letter(i: int) -> str:
    return "abcdefghijklmnopqrstuvwxyz"[i]
