"""Model sizes in table footnotes, counted from the saved weights rather than copied from the paper.

The paper's Table 2 says "TinyBioBERT has only 15M" parameters; at demo scale
the same model has a few hundred thousand, so a copied number would be false.
A footnote writes ``{sizes}`` instead, and the table stage fills in each of
the table's models with the number of parameters in
``models/<model>/model.safetensors`` (every tensor of the saved model, read
from the file header; no weights are loaded), so the text is true at every
scale.  The table job then depends on those model folders
(:func:`footnote_models`, used by the job graph).
"""

from __future__ import annotations

import math
from pathlib import Path

PLACEHOLDER = "{sizes}"
WEIGHTS = "model.safetensors"


def _texts(spec: dict) -> list[str]:
    return [item["text"] if isinstance(item, dict) else str(item) for item in spec.get("footnotes") or []]


def cites_sizes(spec: dict) -> bool:
    return any(PLACEHOLDER in text for text in _texts(spec))


def footnote_models(spec: dict) -> list[str]:
    """The models whose sizes a table's footnotes cite: the table's models if any footnote has ``{sizes}``."""
    return list(spec.get("models") or []) if cites_sizes(spec) else []


def count_parameters(model_dir: Path) -> int:
    """Number of parameters saved in ``model_dir/model.safetensors`` (shapes from the header)."""
    from safetensors import safe_open

    path = Path(model_dir) / WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (a table footnote cites this model's size; "
                                "build the model first)")
    try:
        with safe_open(str(path), framework="numpy") as f:
            return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())
    except Exception as exc:   # safetensors raises its own error types for a damaged header
        raise ValueError(f"{path}: not a readable safetensors file ({exc})") from None


def human(n: int) -> str:
    """``15.4M``, ``0.156M``: three significant digits, in millions as the paper writes sizes."""
    return f"{n / 1e6:.3g}M"


def fill(params: dict, table: str, models: Path) -> list:
    """The table's footnotes with ``{sizes}`` replaced by "Model 15.4M, Model 66.4M, ..." (measured)."""
    spec = params["tables"][table]
    cited = footnote_models(spec)
    if not cited:
        if cites_sizes(spec):
            raise ValueError(f"params.yaml: tables.{table}.footnotes: {PLACEHOLDER} needs a table with models")
        return list(spec.get("footnotes") or [])
    names = params.get("models", {})
    text = ", ".join(f"{names.get(m, {}).get('display', m)} {human(count_parameters(Path(models) / m))}"
                     for m in cited)
    return [{**item, "text": item["text"].replace(PLACEHOLDER, text)} if isinstance(item, dict)
            else str(item).replace(PLACEHOLDER, text) for item in spec.get("footnotes") or []]
