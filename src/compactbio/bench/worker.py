"""Subprocess entry point: measure one architecture's memory in a fresh interpreter.

``python -m compactbio.bench.worker SPEC.json RESULT.json``.  A fresh process
is what makes the CPU peak-memory figure clean (see ``measure``); the result
goes to a file, not stdout, so nothing a library prints can corrupt it.
"""

from __future__ import annotations

import logging
import sys

from ..io import read_json, write_json
from ..logs import setup_logging
from .measure import measure_memory


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        sys.stderr.write("usage: python -m compactbio.bench.worker SPEC.json RESULT.json\n")
        return 2
    setup_logging(None, logging.INFO)
    spec = read_json(argv[0])
    write_json(argv[1], measure_memory(spec))
    return 0


if __name__ == "__main__":
    sys.exit(main())
