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


BOM = "\ufeff"


def read_text(path: str | Path) -> str:
    """Read a UTF-8 text file for a reader: the one place every raw text input goes through.

    * a leading UTF-8 byte-order mark (Windows editors write one) is dropped, so it never ends up
      inside the first token, header field or JSON value;
    * a byte that is not UTF-8 is a DataError with its line;
    * a NUL byte is a DataError with its line: no text format here has one, so it means a binary,
      UTF-16 or crash-padded file, which would otherwise be read silently into tokens and texts.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(path, f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})", line) from None
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data[:nul].count(b"\n") + 1
        raise DataError(path, f"NUL byte (0x00) at offset {nul}: not a text file (binary, UTF-16, or padded "
                              f"with zeros by an interrupted copy); restore or re-download it", line)
    return text[1:] if text.startswith(BOM) else text
