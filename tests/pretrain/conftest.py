"""Tiny tokenizer, packed corpus and teacher built in tmp folders (independent of the data stages)."""

from __future__ import annotations

import copy

import numpy as np
import pyarrow as pa
import pytest
import torch

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
N_WORDS = 40


def make_tokenizer(folder):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIALS + [f"w{i}" for i in range(N_WORDS)])}
    tk = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                      special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    fast.save_pretrained(folder)
    return folder


def make_corpus(folder, rows=160, max_len=32, seed=0):
    """Packed rows [CLS] ... [SEP] of a toy language: every word w_i is followed by w_(7i+3)%N."""
    rng = np.random.default_rng(seed)
    data = []
    for _ in range(rows):
        n = int(rng.integers(8, max_len - 1))
        toks, w = [], int(rng.integers(N_WORDS))
        while len(toks) < n:
            toks.append(w)
            w = (7 * w + 3) % N_WORDS if rng.random() < 0.9 else int(rng.integers(N_WORDS))
        data.append([2] + [len(SPECIALS) + t for t in toks[:n]] + [3])
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.table({"input_ids": pa.array(data, type=pa.list_(pa.int32()))})
    with pa.OSFile(str(folder / "train.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table)
    return folder


def make_teacher(folder, tok_folder, layers=4, hidden=32, heads=4, seed=0, dropout=0.0):
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    tok = AutoTokenizer.from_pretrained(str(tok_folder))
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=hidden, num_hidden_layers=layers,
                     num_attention_heads=heads, intermediate_size=2 * hidden, pad_token_id=0,
                     max_position_embeddings=64, initializer_range=0.2, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    BertForMaskedLM(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


BASE_PARAMS = {
    "scale": "demo",
    "tokenize": {"corpus_max_length": 32},
    "pretrain": {
        "engine": {"mask_probability": 0.15, "warmup_fraction": 0.1, "weight_decay": 0.01, "max_grad_norm": 1.0,
                   "gradient_accumulation": 1, "checkpoint_every": 5, "log_every": 2, "seed": 0},
        "base": {
            "teacher": {"hub": None, "revision": None, "arch": "bert",
                        "config": {"hidden_size": 32, "num_hidden_layers": 4, "num_attention_heads": 4,
                                   "intermediate_size": 64, "max_position_embeddings": 64},
                        "tokenizer": {"lowercase": False, "vocab_size": 45},
                        "mlm": {"steps": 60, "batch_size": 16, "learning_rate": 3e-3}},
        },
        "distill": {
            "distilbiobert": {"teacher": "teacher", "student": {"init": "alternate_layers"},
                              "train": {"steps": 6, "batch_size": 8, "learning_rate": 1e-3},
                              "recipe": {"temperature": 2.0, "terms": [
                                  {"loss": "mlm", "weight": 2.0}, {"loss": "output_kl", "weight": 5.0},
                                  {"loss": "hidden_cosine", "weight": 1.0, "student_layers": [-1],
                                   "teacher_layers": [-1]}]}},
            "tinybiobert": {"teacher": "teacher",
                            "student": {"init": "random", "config": {"hidden_size": 24, "num_hidden_layers": 2,
                                                                     "num_attention_heads": 4,
                                                                     "intermediate_size": 48}},
                            "train": {"steps": 6, "batch_size": 8, "learning_rate": 1e-3},
                            "recipe": {"temperature": 1.0, "terms": [
                                {"loss": "embedding_mse", "weight": 1.0, "projection": True},
                                {"loss": "hidden_mse", "weight": 1.0, "projection": True,
                                 "student_layers": [1, 2], "teacher_layers": [2, 4]},
                                {"loss": "attention_mse", "weight": 1.0, "student_layers": [1, 2],
                                 "teacher_layers": [2, 4]},
                                {"loss": "output_soft_ce", "weight": 1.0}]}},
            "compactbiobert": {"teacher": "teacher", "student": {"init": "alternate_layers"},
                               "train": {"steps": 6, "batch_size": 8, "learning_rate": 1e-3},
                               "recipe": {"temperature": 2.0, "terms": [
                                   {"loss": "mlm", "weight": 1.0},
                                   {"loss": "hidden_cosine", "weight": 3.0, "student_layers": [1, 2],
                                    "teacher_layers": [2, 4]},
                                   {"loss": "attention_kl", "weight": 3.0, "student_layers": [1, 2],
                                    "teacher_layers": [2, 4]},
                                   {"loss": "output_kl", "weight": 5.0}]}},
        },
        "continual": {"biocontinual": {"init": "teacher", "train": {"steps": 6, "batch_size": 8,
                                                                     "learning_rate": 1e-3}}},
    },
}


@pytest.fixture
def params():
    return copy.deepcopy(BASE_PARAMS)


@pytest.fixture(scope="session")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrain_assets")
    tok = make_tokenizer(root / "tok")
    corpus = make_corpus(root / "corpus")
    teacher = make_teacher(root / "teacher", tok)
    return {"tok": tok, "corpus": corpus, "teacher": teacher, "root": root}
