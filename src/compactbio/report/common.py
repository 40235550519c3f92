"""What every table kind shares: display names, style options, metric rows, notes."""

from __future__ import annotations

from .table import EMPHASES

# task -> rows of a score table: (label printed in the Metric column, metrics.json key)
METRIC_ROWS = {"ner": (("F1", "f1"),), "re": (("F1", "f1"),),
               "qa": (("S", "strict"), ("L", "lenient"), ("M", "mrr"))}
TASK_NAMES = {"ner": "NER", "re": "RE", "qa": "QA", "mlm": "MLM"}
TYPE_HEADER = {"ner": "Type", "re": "Relation", "qa": "Type"}
REFERENCE = "biobert"   # the teacher every compact model is compared with

# The metrics.json key compared with the paper's figure (`reported`, `retention`): the paper's NER
# F1 is seqeval on sub-word tag sequences (the authors' ner.py), its QA scores come from one
# answer per snippet (the authors' qa.py); other metrics compare as named.
PAPER_METRIC = {"ner": {"f1": "f1_subword"}, "re": {},
                "qa": {"strict": "strict_authors", "lenient": "lenient_authors", "mrr": "mrr_authors"}}

SELECT_WORDS = {"last": "the last epoch's model (as the authors' scripts)",
                "best": "the epoch best on the validation split"}
SCORING_WORDS = {"merged": "n-best spans merged over a question's snippets, top 5 (BioBERT's post-processing)",
                 "authors": "one answer per snippet, in snippet order, its top-5 spans as synonyms (the authors' code)"}
CLEANUP_WORDS = {"biobert": "empty and over-100-character answers dropped (BioBERT)",
                 "trim": "answers trimmed of whitespace, full stops and stray brackets"}


def paper_metric(task: str, metric: str) -> str:
    return PAPER_METRIC[task].get(metric, metric)


def _join(values: list[str]) -> str:
    return " / ".join(values)


def protocol_notes(protocols: list[dict], task: str | None, qa_shown: str | None = None) -> list[str]:
    """Notes naming the runs' model selection and (QA) answer protocol, from their metrics.json.

    ``qa_shown``: the QA protocol the table's numbers use (``authors`` for `reported`);
    None: each run's own ``scoring``.
    """
    if not protocols:
        return []
    selects = sorted({p["select"] for p in protocols})
    notes = ["Model selection: " + _join([f"{SELECT_WORDS.get(s, s)} (finetune select: {s})" for s in selects]) + "."]
    if task in (None, "qa") and any("scoring" in p for p in protocols):
        shown = [qa_shown] if qa_shown else sorted({p["scoring"] for p in protocols if "scoring" in p})
        cleanups = sorted({p["answer_cleanup"] for p in protocols if "answer_cleanup" in p})
        notes.append("BioASQ answers: " + _join([f"{SCORING_WORDS.get(s, s)} (scoring: {s})" for s in shown])
                     + "; " + _join([f"{CLEANUP_WORDS.get(c, c)} (answer_cleanup: {c})" for c in cleanups])
                     + "; scored as the official BioASQ evaluator (EvaluatorTask1b -phaseB -e 5).")
    return notes


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
