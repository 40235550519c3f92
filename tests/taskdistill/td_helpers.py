"""Tiny inputs for the task-distillation stage tests: a fixed WordPiece tokenizer, a tiny BERT,
a prepared gene-mention set, and its tokenized form made by the real tokenize stage."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

GENES = ["BRCA1", "TP53", "MDM2", "EGFR", "KRAS", "APOE", "CFTR"]
PARTS = ["kinase", "receptor", "protein"]
FILLER = ["the", "patients", "with", "were", "studied", "in", "this", "cohort", "and", "showed",
          "increased", "risk", "of", "we", "report", "a", "case", "mutations", "associated", "."]

PARAMS = {
    "scale": "demo",
    "models": {"biobert": {"display": "BioBERT-v1.1", "kind": "base"}},
    "tokenize": {"max_length": 64, "batch_size": 100},
    "tables": {"style": {"decimals": 2, "best": "bold", "second": "underline"}},
    "task_distill": {
        "dataset": "bc2gm", "teacher": "biobert", "students": ["bilstm", "tinybert"], "distill": [False, True],
        "augment_sizes": [1, 2], "seed": 3,
        "augment": {"methods": ["label_wise", "mention", "shuffle"],
                    "p": {"label_wise": 0.5, "mention": 0.5, "shuffle": 0.5}},
        "loss": {"alpha": 0.5, "temperature": 2.0},
        "teacher_training": {"epochs": 2, "batch_size": 8, "learning_rate": 5e-3, "warmup_fraction": 0.1,
                             "weight_decay": 0.01, "max_grad_norm": 1.0, "eval_batch_size": 16, "num_threads": 1},
        "models": {
            "bilstm": {"display": "BiLSTM", "embedding_size": 16, "hidden_size": 16, "num_layers": 2,
                       "classifier_size": 8, "dropout": 0.1,
                       "training": {"epochs": 2, "batch_size": 8, "learning_rate": 1e-2, "warmup_fraction": 0.0,
                                    "weight_decay": 0.01, "max_grad_norm": 1.0, "eval_batch_size": 16,
                                    "num_threads": 1, "max_steps": None}},
            "tinybert": {"display": "TinyBERT", "init": None, "hidden_size": 16, "num_hidden_layers": 1,
                         "num_attention_heads": 2, "intermediate_size": 32, "hidden_weight": 1.0,
                         "attention_weight": 1.0,
                         "training": {"epochs": 2, "batch_size": 8, "learning_rate": 5e-3, "warmup_fraction": 0.1,
                                      "weight_decay": 0.01, "max_grad_norm": 1.0, "eval_batch_size": 16,
                                      "num_threads": 1, "max_steps": 5}},
        },
        "latency": {"sentences": 3, "warmup": 1, "threads": 1, "gpu": False},
    },
}


def params() -> dict:
    return copy.deepcopy(PARAMS)


def sentences(n: int, rng: random.Random, prefix: str) -> list[dict]:
    out = []
    for i in range(n):
        words, tags = [], []
        for _ in range(rng.randint(3, 8)):
            r = rng.random()
            if r < 0.15:
                words += [rng.choice(GENES), rng.choice(PARTS)]
                tags += ["B", "I"]
            elif r < 0.3:
                words.append(rng.choice(GENES))
                tags.append("B")
            else:
                words.append(rng.choice(FILLER))
                tags.append("O")
        out.append({"id": f"{prefix}-{i}", "tokens": words, "tags": tags})
    return out


def write_prepared(folder: Path, n=(40, 10, 10)) -> Path:
    rng = random.Random(0)
    folder.mkdir(parents=True, exist_ok=True)
    for split, k in zip(("train", "validation", "test"), n):
        rows = sentences(k, rng, split)
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    meta = {"name": "bc2gm", "task": "ner", "labels": ["B", "I", "O"],
            "splits": dict(zip(("train", "validation", "test"), n))}
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return folder


def build_base(folder: Path) -> Path:
    """A fixed-vocabulary WordPiece tokenizer (genes split into sub-words) and a tiny random BERT."""
    import torch
    import transformers as T
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    chars = sorted(set("".join(GENES + PARTS + FILLER)))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + ["##" + c for c in chars]
    vocab += sorted(set(FILLER + PARTS)) + sorted({g[:3] for g in GENES})
    vocab = list(dict.fromkeys(vocab))
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    fast = T.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                     cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    torch.manual_seed(0)
    cfg = T.BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=64, max_position_embeddings=128)
    folder.mkdir(parents=True, exist_ok=True)
    T.BertForMaskedLM(cfg).save_pretrained(str(folder))
    fast.save_pretrained(str(folder))
    return folder


def workspace(tmp: Path) -> dict[str, Path]:
    """models/biobert, data/prepared/bc2gm and data/tokenized/biobert/bc2gm under ``tmp``."""
    from compactbio.data import tokenize

    base = build_base(tmp / "models" / "biobert")
    prepared = write_prepared(tmp / "data" / "prepared" / "bc2gm")
    data = tmp / "data" / "tokenized" / "biobert" / "bc2gm"
    tokenize.run(PARAMS, base, prepared, data)
    return {"base": base, "prepared": prepared, "data": data, "runs": tmp / "runs" / "task_distill" / "bc2gm"}
