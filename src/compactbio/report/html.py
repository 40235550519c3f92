"""A table as a small standalone HTML page: caption, table, notes, nothing external.

This is the version a person reads on screen: ``snakemake --report`` shows
``.html`` results inline (the CSV it could only offer as a download), and a
browser opens the file as it is.  Cells say exactly what the LaTeX and
Markdown versions say (same numbers, marks and notes); best is bold, second
best underlined, as configured.
"""

from __future__ import annotations

import html as _html
import re

from .table import Cell, Table, format_number

_STYLE = {"bold": "<strong>%s</strong>", "underline": "<u>%s</u>", "none": "%s"}
_ALIGN = {"l": "left", "r": "right", "c": "center"}

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1b;
       margin: 1.2em; background: #fff; }
table { border-collapse: collapse; margin: 0.4em 0 0.8em; }
caption { caption-side: top; text-align: left; font-size: 1.05em; padding-bottom: 0.5em; max-width: 60em; }
caption .number { font-weight: 700; }
th, td { padding: 0.22em 0.7em; white-space: nowrap; }
thead th { border-top: 2px solid #222; border-bottom: 1px solid #222; font-weight: 600; }
tbody tr:last-child td { border-bottom: 2px solid #222; }
tr.group td { border-top: 1px solid #999; }
tr.section th { text-align: left; font-style: italic; font-weight: 400; border-top: 1px solid #999; }
td.num { text-align: right; font-variant-numeric: tabular-nums; position: relative; }
td.num sup.sig { position: absolute; }   /* a marker does not push its number out of line */
code { font-size: 0.95em; background: #f3f3f3; padding: 0 0.2em; }
.notes { font-size: 0.9em; color: #333; max-width: 60em; padding-left: 1.2em; }
.banner { background: #fff4d6; border: 1px solid #d9a400; padding: 0.5em 0.8em; margin-bottom: 0.8em;
          max-width: 60em; font-weight: 600; }
"""


def escape(text: str) -> str:
    return _html.escape(str(text), quote=True)


def prose(text: str) -> str:
    """A note: escaped, with `code` spans (as the Markdown version shows them) set as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text))


def cell(c: Cell, decimals: int, style: dict) -> str:
    if c.value is None and c.std is None:
        body = escape(c.text)
    else:
        body = escape(format_number(c.value, decimals, c.signed))
        if c.std is not None:
            body += " ± " + escape(format_number(c.std, decimals))
        body += escape(c.text)
    if c.rank and body:
        body = _STYLE[style[c.rank]] % body
    if c.mark:
        body += f"<sup>{escape(c.mark)}</sup>"
    if c.marker:
        body += f'<sup class="sig">{escape(c.marker)}</sup>'
    return body


def _align(a: str) -> str:
    return _ALIGN.get(a, "left")


def render(table: Table, decimals: int, style: dict, banner: str | None = None) -> str:
    """The page; ``banner`` (e.g. the demo-scale warning) is shown above the table."""
    n = len(table.columns)
    title = f"Table {table.number}. {table.caption}" if table.number else table.caption
    number = f'<span class="number">Table {table.number}.</span> ' if table.number else ""
    head = "".join(
        f'<th style="text-align:{_align(a)}">{escape(name)}'
        + (f"<sup>{escape(table.header_marks[i])}</sup>" if i in table.header_marks else "") + "</th>"
        for i, (name, a) in enumerate(zip(table.columns, table.align)))
    rows: list[str] = []
    for k, row in enumerate(table.rows):
        if row.section is not None:
            rows.append(f'<tr class="section"><th colspan="{n}">{escape(row.section)}</th></tr>')
            continue
        cls = ' class="group"' if row.rule_before and k else ""
        tds = []
        for c, a in zip(row.cells, table.align):
            numeric = c.value is not None or c.std is not None
            attr = ' class="num"' if numeric or a == "r" else (f' style="text-align:{_align(a)}"' if a != "l" else "")
            tds.append(f"<td{attr}>{cell(c, decimals, style)}</td>")
        rows.append(f"<tr{cls}>" + "".join(tds) + "</tr>")
    notes = [f"<sup>{escape(n_[0])}</sup> {prose(n_[1])}" if isinstance(n_, tuple) else prose(n_)
             for n_ in [*table.notes, *table.markdown_notes]]
    parts = ["<!doctype html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f"<title>{escape(title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>"]
    if banner:
        parts.append(f'<div class="banner">{escape(banner)}</div>')
    parts += [f'<table id="{escape(table.name)}">', f"<caption>{number}{escape(table.caption)}</caption>",
              f"<thead><tr>{head}</tr></thead>", "<tbody>", *rows, "</tbody>", "</table>"]
    if notes:
        parts += ['<ul class="notes">', *[f"<li>{note}</li>" for note in notes], "</ul>"]
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"
