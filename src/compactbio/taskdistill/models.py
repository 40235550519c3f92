"""The two students: a BiLSTM tagger and a small BERT (TinyBERT shape), both over the teacher's sub-words.

Both read the teacher's WordPiece ids, so the student and the teacher predict
at the same positions and the teacher's logits can be matched one to one.
Each returns an object with ``.logits`` (``[B, L, labels]``), so the
fine-tuning code's ``predict`` serves both.

A student folder holds ``student.json`` (``{"kind", "config", "labels"}``)
next to the weights: ``model.safetensors`` for the BiLSTM, a
``save_pretrained`` folder for TinyBERT (loadable with
``AutoModelForTokenClassification``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

logger = logging.getLogger(__name__)

STUDENTS = ("bilstm", "tinybert")


@dataclass
class TaggerOutput:
    logits: torch.Tensor
    hidden_states: tuple | None = None
    attentions: tuple | None = None


class BiLSTMTagger(nn.Module):
    """Trained embeddings -> stacked bidirectional LSTM -> (hidden layer) -> label scores.

    Padding is packed away so the backward direction of a short row starts at
    its own last token, not at the padding: a row's logits do not depend on
    what it was batched with.
    """

    def __init__(self, vocab_size: int, num_labels: int, embedding_size: int = 300, hidden_size: int = 300,
                 num_layers: int = 2, classifier_size: int | None = 256, dropout: float = 0.1, pad_id: int = 0):
        super().__init__()
        self.embeddings = nn.Embedding(vocab_size, embedding_size, padding_idx=pad_id)
        self.lstm = nn.LSTM(embedding_size, hidden_size, num_layers=num_layers, bidirectional=True,
                            batch_first=True, dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        if classifier_size:
            self.classifier = nn.Sequential(nn.Linear(2 * hidden_size, classifier_size), nn.ReLU(),
                                            nn.Dropout(dropout), nn.Linear(classifier_size, num_labels))
        else:
            self.classifier = nn.Linear(2 * hidden_size, num_labels)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> TaggerOutput:
        x = self.dropout(self.embeddings(input_ids))
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        lengths = attention_mask.sum(-1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=input_ids.shape[1])
        return TaggerOutput(logits=self.classifier(self.dropout(out)))


def bilstm_config(cfg: dict, vocab_size: int, pad_id: int) -> dict:
    return {"vocab_size": int(vocab_size), "embedding_size": int(cfg["embedding_size"]),
            "hidden_size": int(cfg["hidden_size"]), "num_layers": int(cfg["num_layers"]),
            "classifier_size": int(cfg["classifier_size"] or 0) or None, "dropout": float(cfg.get("dropout", 0.1)),
            "pad_id": int(pad_id)}


def tinybert_config(cfg: dict, vocab_size: int, pad_id: int, labels: list[str], max_length: int,
                    eager: bool):
    from transformers import BertConfig

    config = BertConfig(vocab_size=int(vocab_size), hidden_size=int(cfg["hidden_size"]),
                        num_hidden_layers=int(cfg["num_hidden_layers"]),
                        num_attention_heads=int(cfg["num_attention_heads"]),
                        intermediate_size=int(cfg["intermediate_size"]),
                        max_position_embeddings=max(512, int(max_length)), pad_token_id=int(pad_id),
                        num_labels=len(labels), id2label=dict(enumerate(labels)),
                        label2id={lab: i for i, lab in enumerate(labels)})
    # Attention maps are only returned by eager attention (SDPA silently gives none).
    config._attn_implementation = "eager" if eager else "sdpa"
    return config


def build(kind: str, cfg: dict, vocab_size: int, pad_id: int, labels: list[str], max_length: int = 512,
          eager: bool = False, init: Path | None = None) -> nn.Module:
    """A freshly initialised student (from the seeded global RNG), or TinyBERT from ``init``'s weights."""
    if kind == "bilstm":
        return BiLSTMTagger(num_labels=len(labels), **bilstm_config(cfg, vocab_size, pad_id))
    if kind == "tinybert":
        from transformers import BertForTokenClassification

        if init is not None:
            from ..finetune.modeling import load_model

            model = load_model(Path(init), "ner", labels)
            if model.get_input_embeddings().num_embeddings != vocab_size:
                raise ValueError(f"{init}: vocabulary {model.get_input_embeddings().num_embeddings} differs "
                                 f"from the teacher's {vocab_size}; the student must share its tokenizer")
            model.config._attn_implementation = "eager" if eager else model.config._attn_implementation
            return model
        return BertForTokenClassification(tinybert_config(cfg, vocab_size, pad_id, labels, max_length, eager))
    raise ValueError(f"unknown student {kind!r}; expected one of {STUDENTS}")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def size_mb(model: nn.Module) -> float:
    """Bytes of the weights (parameters and buffers) in MB (10^6), as the "Size" of the BioBERT-distillation study's README."""
    n = sum(p.numel() * p.element_size() for p in model.parameters())
    n += sum(b.numel() * b.element_size() for b in model.buffers())
    return n / 1e6


def save(model: nn.Module, kind: str, folder: Path, labels: list[str], extra: dict | None = None) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "bilstm":
        from safetensors.torch import save_file

        save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()},
                  str(folder / "model.safetensors"))
        config = {"model": dict(vars(model).get("_config", {}))}
    else:
        model.save_pretrained(str(folder))
        config = {}
    meta = {"kind": kind, "labels": list(labels), **config, **(extra or {})}
    (folder / "student.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def load(folder: Path) -> tuple[nn.Module, dict]:
    """A saved student and its ``student.json``."""
    folder = Path(folder)
    path = folder / "student.json"
    if not path.is_file():
        raise ValueError(f"{path}: not a student folder (student.json missing)")
    meta = json.loads(path.read_text(encoding="utf-8"))
    if meta.get("kind") == "bilstm":
        from safetensors.torch import load_file

        model = BiLSTMTagger(num_labels=len(meta["labels"]), **meta["model"])
        model.load_state_dict(load_file(str(folder / "model.safetensors")))
    elif meta.get("kind") == "tinybert":
        from transformers import BertForTokenClassification

        model = BertForTokenClassification.from_pretrained(str(folder))
    else:
        raise ValueError(f"{path}: unknown student kind {meta.get('kind')!r}")
    return model.eval(), meta


def make(kind: str, cfg: dict, vocab_size: int, pad_id: int, labels: list[str], max_length: int = 512,
         eager: bool = False, init: Path | None = None) -> nn.Module:
    """:func:`build`, remembering the BiLSTM's constructor arguments for :func:`save`."""
    model = build(kind, cfg, vocab_size, pad_id, labels, max_length, eager, init)
    if kind == "bilstm":
        model._config = bilstm_config(cfg, vocab_size, pad_id)
    return model
