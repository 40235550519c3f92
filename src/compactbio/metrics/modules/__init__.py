"""The project's metrics as Hugging Face ``evaluate`` modules, shipped inside the package.

Why: anyone can score the predictions of another system with exactly our
metrics, offline, through the library they already use::

    import evaluate
    from compactbio.metrics.modules import path

    ner = evaluate.load(path("ner"))
    ner.compute(predictions=[["B", "I", "O"]], references=[["B", "I", "O"]])

Each module (``<name>/<name>.py``) is a thin ``evaluate.Metric`` whose
``_compute`` calls the package's pure functions (:mod:`compactbio.metrics.ner`,
:mod:`~compactbio.metrics.re`, :mod:`~compactbio.metrics.bioasq`), so there is one
implementation.  ``evaluate.load`` copies the file into its modules cache and
imports it on its own, so the files import ``compactbio`` absolutely.

:func:`load` is what the fine-tuning stage calls: ``evaluate`` is imported only
then (it takes seconds: it imports ``datasets`` and ``transformers``), and each
module is loaded once per process, keeping predictions in memory (no cache
files, so parallel jobs cannot collide).
"""

from __future__ import annotations

import functools
from pathlib import Path

NAMES = ("ner", "relation_extraction", "bioasq_factoid")

PAPER_BIBTEX = """\
@article{rohanian2023effectiveness,
  title = {On the effectiveness of compact biomedical transformers},
  author = {Rohanian, Omid and Nouriborji, Mohammadmahdi and Kouchaki, Samaneh and Clifton, David A.},
  journal = {Bioinformatics},
  volume = {39},
  number = {3},
  pages = {btad103},
  year = {2023},
  doi = {10.1093/bioinformatics/btad103}
}"""


def path(name: str) -> str:
    """Folder of the ``evaluate`` module ``name`` (one of :data:`NAMES`), for ``evaluate.load``."""
    if name not in NAMES:
        raise ValueError(f"no metric module {name!r}; the modules are {', '.join(NAMES)}")
    return str(Path(__file__).resolve().parent / name)


@functools.lru_cache(maxsize=None)
def load(name: str):
    """The loaded module ``name``, once per process (``evaluate`` imported on first use)."""
    import evaluate

    return evaluate.load(path(name), keep_in_memory=True)
