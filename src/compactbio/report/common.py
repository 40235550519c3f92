"""What every table kind shares: display names, style options, metric rows, notes."""

from __future__ import annotations

from .table import EMPHASES

# task -> rows of a score table: (label printed in the Metric column, metrics.json key)
METRIC_ROWS = {"ner": (("F1", "f1"),), "re": (("F1", "f1"),),
               "qa": (("S", "strict"), ("L", "lenient"), ("M", "mrr"))}
TASK_NAMES = {"ner": "NER", "re": "RE", "qa": "QA", "mlm": "MLM"}
TYPE_HEADER = {"ner": "Type", "re": "Relation", "qa": "Type"}
REFERENCE = "biobert"   # the teacher every compact model is compared with


def style_of(params: dict) -> dict:
    """``tables.style`` with its emphasis options checked."""
    style = dict(params["tables"]["style"])
    for key in ("best", "second"):
        if style.get(key, "none") not in EMPHASES:
            raise ValueError(f"params.yaml: tables.style.{key} must be one of {', '.join(EMPHASES)}, "
                             f"got {style.get(key)!r}")
    style.setdefault("best", "bold")
    style.setdefault("second", "underline")
    decimals = style.get("decimals", 2)
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 6:
        raise ValueError(f"params.yaml: tables.style.decimals must be an integer 0..6, got {decimals!r}")
    style["decimals"] = decimals
    return style


def emphasis(style: dict) -> dict:
    return {"best": style["best"], "second": style["second"]}


def model_name(params: dict, model: str) -> str:
    return params["models"].get(model, {}).get("display", model)


def dataset_name(params: dict, dataset: str) -> str:
    return (params["tables"]["style"].get("dataset_names") or {}).get(dataset, dataset)


def dataset_spec(params: dict, dataset: str) -> dict:
    try:
        return params["datasets"][dataset]
    except KeyError:
        raise ValueError(f"params.yaml: dataset {dataset!r} is not defined under `datasets`") from None


def style_note(style: dict) -> str | None:
    """"Bold: best; underlined: second best." following the configured styles."""
    words = {"bold": "bold", "underline": "underlined"}
    parts = [f"{words[style[k]]}: {what}" for k, what in (("best", "best"), ("second", "second best"))
             if style[k] in words]
    if not parts:
        return None
    text = "; ".join(parts) + " score of each row."
    return text[0].upper() + text[1:]


def seeds_note(seeds: list[int]) -> str:
    if len(seeds) == 1:
        return f"Scores ×100 from one fine-tuning run (seed {seeds[0]})."
    return (f"Scores ×100: mean ± standard deviation (sample) over {len(seeds)} fine-tuning seeds "
            f"({', '.join(str(s) for s in seeds)}).")


def fmt(value: float | None, digits: int = 4) -> str:
    """Stable CSV number formatting (empty for missing)."""
    return "" if value is None else f"{value:.{digits}f}"
