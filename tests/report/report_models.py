"""Model folders holding only a ``model.safetensors`` of chosen shapes (for the footnotes' parameter counts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors.numpy import save_file


def write_weights(folder: Path, shapes: dict[str, tuple[int, ...]]) -> int:
    """``folder/model.safetensors`` with zero tensors of these shapes; returns the parameter count."""
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: np.zeros(s, dtype=np.float32) for k, s in shapes.items()}, str(folder / "model.safetensors"))
    return sum(int(np.prod(s)) for s in shapes.values())
