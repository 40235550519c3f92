"""Model cards (``README.md``) with Hugging Face Hub metadata for every model folder the pipeline writes.

A card is built with ``huggingface_hub``'s own ``ModelCardData`` / ``EvalResult``
/ ``ModelCard`` rather than hand-written YAML, so the Hub reads its metadata
(``base_model``, ``license``, ``tags``, ``datasets``, ``pipeline_tag``, the
``model-index`` of test scores) and ``ModelCard.load(folder / "README.md")``
gives it back.  The body says how the model was made (facts, recipe) and
cites the paper.

Provenance travels with the folders, not with params keys a stage does not
declare: each card carries a ``compactbio`` metadata block (the model id, how
it was made, and for a hub snapshot its hub repository), and a stage that
starts from a model folder reads that folder's card (:func:`source_of`) for the
hub id to name as ``base_model`` and the license to inherit.  A model made
here from another one made here has no hub id: its ``base_model`` is left out
rather than naming a local path.

No torch, no training engine: stages import this, never the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CARD = "README.md"
META_KEY = "compactbio"     # the card metadata block this module reads back
CARD_KEYS = ("license",)    # params keys of a model entry that only feed its card (not its training hash)

PIPELINE_TAG = {"mlm": "fill-mask", "ner": "token-classification", "re": "text-classification",
                "qa": "question-answering"}
TASK_NAME = {"mlm": "Masked language modelling", "ner": "Named entity recognition", "re": "Relation extraction",
             "qa": "Question answering"}
AUTO_CLASS = {"mlm": "AutoModelForMaskedLM", "ner": "AutoModelForTokenClassification",
              "re": "AutoModelForSequenceClassification", "qa": "AutoModelForQuestionAnswering"}
TASK_TAGS = {"mlm": [], "ner": ["ner"], "re": ["relation-extraction"], "qa": ["question-answering", "bioasq"]}
METRIC_NAMES = {
    "f1": "F1", "precision": "Precision", "recall": "Recall",
    "f1_subword": "F1 (sub-word level)", "precision_subword": "Precision (sub-word level)",
    "recall_subword": "Recall (sub-word level)", "f1_micro": "Micro F1", "f1_macro": "Macro F1",
    "f1_binary": "Binary F1", "strict": "Strict accuracy", "lenient": "Lenient accuracy",
    "mrr": "Mean reciprocal rank",
}
METRIC_NOTES = {
    "ner": "Entity-level scores (seqeval, conlleval counting); `f1` at the word level (first sub-word's "
           "prediction), `*_subword` the paper's sub-word variant.",
    "re": "`f1` is the score of the paper's tables: binary F1 for GAD, macro-F1 over the labels for ChemProt.",
    "qa": "BioASQ factoid scores as the official evaluator computes them: strict and lenient accuracy over "
          "the top 5 answers, mean reciprocal rank.",
}

CITATION = """\
@article{rohanian2023compact,
  title     = {On the effectiveness of compact biomedical transformers},
  author    = {Rohanian, Omid and Nouriborji, Mohammadmahdi and Kouchaki, Samaneh and Clifton, David A.},
  journal   = {Bioinformatics},
  volume    = {39},
  number    = {3},
  pages     = {btad103},
  year      = {2023},
  doi       = {10.1093/bioinformatics/btad103}
}"""


@dataclass
class Source:
    """What a model folder's card says about it (all None for a folder without a card of ours)."""
    model: str | None = None       # the params id it was made as
    hub_id: str | None = None      # the hub repository it is a snapshot of
    license: str | None = None


def read_metadata(folder: str | Path) -> dict:
    """The card metadata of ``folder`` (``{}`` without a README.md or without metadata)."""
    from huggingface_hub import ModelCard

    path = Path(folder) / CARD
    if not path.is_file():
        return {}
    # A foreign card's odd metadata must not stop a stage: lineage is then simply unknown.
    return ModelCard.load(path, ignore_metadata_errors=True).data.to_dict()


def source_of(folder: str | Path) -> Source:
    meta = read_metadata(folder)
    own = meta.get(META_KEY) or {}
    return Source(model=own.get("model"), hub_id=own.get("hub_id"), license=meta.get("license"))


def training_view(cfg: dict) -> dict:
    """A model's params entry without the keys that only feed its card.

    The resume hash of a pre-training job is computed from this, so changing a
    license re-exports the finished model from its last checkpoint instead of
    discarding days of training.
    """
    return {k: v for k, v in cfg.items() if k not in CARD_KEYS}


def common_tags(scale: str, rehearsal: bool, arch: str | None, extra: list[str] = ()) -> list[str]:
    """Tags every card gets; a demo or rehearsal model says so, so it is never mistaken for a real one."""
    tags = ["compactbio", "biomedical", *([arch] if arch else []), *extra]
    if scale != "paper":
        tags.append("demo")
    elif rehearsal:
        tags.append("rehearsal")
    return list(dict.fromkeys(tags))


def _facts(facts: dict) -> list[str]:
    return [f"- **{k}**: {v}" for k, v in facts.items() if v is not None]


def _body(title: str, summary: str, facts: dict, recipe: dict | None, usage: str, notes: list[str]) -> str:
    lines = [f"# {title}", "", summary, "", "## How it was made", "",
             "Made by the compactbio pipeline (`params.yaml` is the source of truth).", "", *_facts(facts)]
    if recipe is not None:
        lines += ["", "## Recipe", "", "```yaml", yaml.safe_dump(recipe, sort_keys=False).rstrip(), "```"]
    for note in notes:
        lines += ["", note]
    lines += ["", "## Use", "", "```python", usage, "```",
              "", "## Citation", "",
              "The pipeline rebuilds the experiments of the paper below; please cite it.", "",
              "```bibtex", CITATION, "```", ""]
    return "\n".join(lines)


def _usage(task: str) -> str:
    cls = AUTO_CLASS[task]
    lines = [f"from transformers import AutoTokenizer, {cls}", "",
             'tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")']
    lines.append(f'model = {cls}.from_pretrained("path/to/this/folder")')
    if task == "mlm":
        lines.append('# with a new task head: AutoModelForTokenClassification.from_pretrained("path/to/this/folder", '
                     'num_labels=N)')
    return "\n".join(lines)


def _card(data, body: str):
    from huggingface_hub import ModelCard

    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}")


def _provenance(model: str, made_by: str, hub_id: str | None, params_hash: str | None) -> dict:
    own = {"model": model, "made_by": made_by}
    if hub_id:
        own["hub_id"] = hub_id
    if params_hash:
        own["params_hash"] = params_hash
    return own


def pretrained_card(*, model: str, title: str, made_by: str, summary: str, arch: str | None, scale: str,
                    rehearsal: bool = False, license: str | None = None, base_model: str | None = None,
                    hub_id: str | None = None, datasets: list[str] = (), facts: dict | None = None,
                    recipe: dict | None = None, params_hash: str | None = None, tags: list[str] = ()):
    """The card of a pre-trained (masked-LM) model folder: ``models/<model>/README.md``.

    ``hub_id``: set for a hub snapshot (the folder *is* that repository's model);
    ``base_model``: the hub model it was made from, never a local path.
    """
    from huggingface_hub import ModelCardData

    data = ModelCardData(
        language="en", license=license, library_name="transformers", pipeline_tag=PIPELINE_TAG["mlm"],
        base_model=base_model, datasets=list(datasets) or None,
        tags=common_tags(scale, rehearsal, arch, list(tags)),
        **{META_KEY: _provenance(model, made_by, hub_id, params_hash)})
    return _card(data, _body(title, summary, facts or {}, recipe, _usage("mlm"), []))


def task_card(*, model: str, model_name: str, title: str, summary: str, task: str, dataset: str,
              dataset_name: str, scores: dict, arch: str | None, scale: str, rehearsal: bool = False,
              license: str | None = None, base_model: str | None = None, split: str = "test",
              facts: dict | None = None, params_hash: str | None = None, library: str | None = "transformers",
              tags: list[str] = (), usage: str | None = None):
    """The card of a fine-tuned task model, with its own ``split`` scores as the ``model-index``.

    ``scores``: metric name -> value (fractions in [0, 1], as ``metrics.json``
    holds them); only numbers are listed.
    """
    from huggingface_hub import EvalResult, ModelCardData

    pipeline = PIPELINE_TAG[task]
    results = [EvalResult(task_type=pipeline, task_name=TASK_NAME[task], dataset_type=dataset,
                          dataset_name=dataset_name, dataset_split=split, metric_type=name,
                          metric_name=METRIC_NAMES.get(name, name), metric_value=round(float(value), 6))
               for name, value in scores.items()
               if isinstance(value, (int, float)) and not isinstance(value, bool)]
    data = ModelCardData(
        language="en", license=license, library_name=library, pipeline_tag=pipeline,
        base_model=base_model, datasets=[dataset] if scale == "paper" else None,
        tags=common_tags(scale, rehearsal, arch, [*TASK_TAGS[task], *tags]),
        model_name=model_name, eval_results=results or None,
        **{META_KEY: _provenance(model, "fine-tuned", None, params_hash)})
    notes = [f"## Test scores\n\n{METRIC_NOTES[task]}\n\n" + "\n".join(
        f"- {METRIC_NAMES.get(n, n)} (`{n}`): {float(v):.4f}" for n, v in scores.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool))] if results else []
    return _card(data, _body(title, summary, facts or {}, None, usage or _usage(task), notes))


def write(card, folder: str | Path) -> Path:
    """Save ``card`` as ``folder/README.md`` (the folder is a temporary one inside an atomic write)."""
    path = Path(folder) / CARD
    text = card.content if hasattr(card, "content") else str(card)
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    return path


def metadata(card) -> dict[str, Any]:
    """The metadata of a built card, as the Hub would read it."""
    return card.data.to_dict()
