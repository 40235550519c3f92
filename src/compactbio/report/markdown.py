"""GitHub-flavoured Markdown rendering of a :class:`~.table.Table`.

Markdown has no underline, so the second best uses ``<u>`` (GitHub renders it
inside tables).  Numbers are right-aligned; significance markers follow the
number, as in the LaTeX and HTML versions.
"""

from __future__ import annotations

from .table import Cell, Table, format_number

_STYLE = {"bold": "**%s**", "underline": "<u>%s</u>", "none": "%s"}
_ALIGN = {"l": ":---", "r": "---:", "c": ":---:"}


def escape(text: str) -> str:
    """Keep text literal: pipes end cells, ``*``/``_`` start emphasis, ``<`` starts HTML."""
    out = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")
    return out.replace("<", "&lt;").replace(">", "&gt;")


def cell(c: Cell, decimals: int, style: dict) -> str:
    if c.value is None and c.std is None:
        body = escape(c.text)
    else:
        body = format_number(c.value, decimals, c.signed)
        if c.std is not None:
            body += " ± " + format_number(c.std, decimals)
        body += escape(c.text)
    if c.rank and body:
        body = _STYLE[style[c.rank]] % body
    if c.mark:
        body += f"<sup>{escape(c.mark)}</sup>"
    if c.marker:
        body += " " + c.marker
    return body


def render(table: Table, decimals: int, style: dict) -> str:
    n = len(table.columns)
    caption = escape(table.caption)
    lines = [f"**Table {table.number}.** {caption}" if table.number else f"**{caption}**", ""]
    header = [escape(name) + (f"<sup>{escape(table.header_marks[i])}</sup>" if i in table.header_marks else "")
              for i, name in enumerate(table.columns)]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("| " + " | ".join(_ALIGN.get(a, ":---") for a in table.align) + " |")
    for row in table.rows:
        if row.section is not None:
            lines.append("| " + " | ".join([f"***{escape(row.section)}***"] + [""] * (n - 1)) + " |")
            continue
        lines.append("| " + " | ".join(cell(c, decimals, style) for c in row.cells) + " |")
    notes = [f"<sup>{escape(n_[0])}</sup> {escape(n_[1])}" if isinstance(n_, tuple) else escape(n_)
             for n_ in table.notes] + list(table.markdown_notes)
    if notes:
        lines.append("")
        lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"
