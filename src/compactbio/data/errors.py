"""One error type for malformed input data.

The CLI turns a ``ValueError`` into a one-line message, so every reader raises
this subclass with the file, the line and the problem already in the text: a
user fixing a broken download should not need a traceback to find the bad row.
"""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """Malformed input; ``str(exc)`` is ``<file>:<line>: <problem>``."""

    def __init__(self, path: str | Path, problem: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")


def read_text(path: str | Path) -> str:
    """Read a UTF-8 file, turning a bad byte into a DataError with its line number."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(path, f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})", line) from None
