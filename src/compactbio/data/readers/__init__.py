"""Readers: one module per raw format, each returning canonical prepared splits.

A reader takes the dataset's folder and its ``datasets.<id>`` params entry and
returns a :class:`Prepared`; :mod:`compactbio.data.prepare` writes it.  Keeping
reading apart from writing lets tests check a reader without touching disk
output and keeps every format's quirks in one short file.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Prepared:
    task: str                      # ner | re | qa | mlm
    labels: list[str]
    splits: dict[str, list[dict]]  # train / validation / test (empty for mlm)
    extra_meta: dict = field(default_factory=dict)
    extra_files: dict[str, object] = field(default_factory=dict)  # name -> JSON object
    corpus: list[str] | None = None   # mlm only


def reader_for(fmt: str):
    from . import bioasq, chemprot, corpus, gad, ner

    table = {"biobert_ner": ner.read, "gad": gad.read, "chemprot": chemprot.read,
             "bioasq": bioasq.read, "corpus": corpus.read}
    if fmt not in table:
        raise ValueError(f"unknown dataset format '{fmt}' (known: {', '.join(sorted(table))})")
    return table[fmt]
