"""Tiny fixtures for fine-tuning tests: a WordPiece tokenizer, tiny BERT-family
models, and prepared + tokenized datasets written in the formats of
docs/architecture.md (an independent, minimal tokenize step, so these tests do
not depend on the data stage)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

DISEASES = ["cancer", "diabetes", "asthma", "leukemia", "hepatitis", "melanoma", "arthritis"]
MODIFIERS = ["breast", "chronic", "acute", "juvenile", "type"]
FILLER = ["the", "patients", "with", "were", "studied", "in", "this", "cohort", "and", "showed",
          "increased", "risk", "of", "we", "report", "a", "case", "mutations", "gene", "associated"]
GENES = ["BRCA1", "TP53", "MDM2", "EGFR", "KRAS", "APOE", "CFTR"]


def write_arrow(path: Path, columns: dict[str, list], types: dict[str, pa.DataType]) -> None:
    table = pa.table({k: pa.array(v, type=types[k]) for k, v in columns.items()})
    with ipc.new_file(str(path), table.schema) as w:
        w.write_table(table)


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def build_tokenizer(folder: Path, words: list[str] | None = None, split_long: int = 7):
    """A BERT-style WordPiece tokenizer with a fixed vocabulary, saved as a transformers fast tokenizer.

    Built by hand rather than trained, because the WordPiece trainer breaks
    count ties differently from process to process.  Words longer than
    ``split_long`` characters are left out of the vocabulary, so they split
    into sub-words (their first 4 characters, then single ``##`` characters).
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    words = sorted(set(words if words is not None else vocabulary_words()))
    chars = sorted({c for w in words for c in w} | set("abcdefghijklmnopqrstuvwxyz0123456789?.@$"))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + ["##" + c for c in chars]
    vocab += [w for w in words if len(w) <= split_long] + sorted({w[:4] for w in words if len(w) > split_long})
    vocab = list(dict.fromkeys(vocab))
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    save_tokenizer(tok, folder)
    return tok


def save_tokenizer(tok, folder: Path) -> None:
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    folder.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(folder))


def tokenizer_sha256(tok) -> str:
    """What the tokenize stage records: sha256 of the tokenizer.json a model folder holds."""
    import hashlib
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        save_tokenizer(tok, Path(d))
        return hashlib.sha256((Path(d) / "tokenizer.json").read_bytes()).hexdigest()


def build_model(folder: Path, tok, arch: str = "bert", head: str = "mlm", labels=None) -> Path:
    """A tiny randomly initialised model of ``arch`` plus the tokenizer, saved like models/<m>/."""
    import torch
    import transformers as T

    torch.manual_seed(0)
    v = tok.get_vocab_size()
    if arch == "bert":
        cfg = T.BertConfig(vocab_size=v, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=64, max_position_embeddings=128)
    elif arch == "distilbert":
        cfg = T.DistilBertConfig(vocab_size=v, dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                                 max_position_embeddings=128)
    elif arch == "mobilebert":
        cfg = T.MobileBertConfig(vocab_size=v, hidden_size=32, embedding_size=16, num_hidden_layers=2,
                                 num_attention_heads=2, intermediate_size=32, intra_bottleneck_size=16,
                                 true_hidden_size=16, num_feedforward_networks=1, max_position_embeddings=128)
    else:
        raise ValueError(arch)
    if labels is not None:
        cfg.num_labels = len(labels)
        cfg.id2label = dict(enumerate(labels))
        cfg.label2id = {lab: i for i, lab in enumerate(labels)}
    cls = {"mlm": T.AutoModelForMaskedLM, "ner": T.AutoModelForTokenClassification}[head]
    model = cls.from_config(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    save_tokenizer(tok, folder)
    return folder


# ---------------------------------------------------------------- synthetic prepared data

def ner_sentences(n: int, rng: random.Random) -> list[dict]:
    out = []
    for i in range(n):
        words, tags = [], []
        for _ in range(rng.randint(3, 9)):
            if rng.random() < 0.2:
                if rng.random() < 0.5:
                    words += [rng.choice(MODIFIERS), rng.choice(DISEASES)]
                    tags += ["B", "I"]
                else:
                    words.append(rng.choice(DISEASES))
                    tags.append("B")
            else:
                words.append(rng.choice(FILLER))
                tags.append("O")
        out.append({"id": f"s{i}", "tokens": words, "tags": tags})
    return out


def re_rows(n: int, rng: random.Random) -> list[dict]:
    out = []
    for i in range(n):
        pos = rng.random() < 0.4
        verb = rng.choice(["causes", "increases risk of"] if pos else ["is unrelated to", "shows no link with"])
        text = f"{' '.join(rng.sample(FILLER, 3))} @GENE$ {verb} @DISEASE$ {' '.join(rng.sample(FILLER, 2))}"
        out.append({"id": f"r{i}", "text": text, "label": "1" if pos else "0"})
    return out


def qa_rows(n_questions: int, rng: random.Random, split: str, snippets: int = 2) -> tuple[list[dict], dict]:
    rows, golden = [], {}
    for q in range(n_questions):
        qid = f"{split}{q:04d}"
        gene, dis = rng.choice(GENES), rng.choice(DISEASES)
        question = f"Which gene causes {dis}?"
        golden[qid] = {"question": question, "answers": [[gene, gene.lower()]]}
        for s in range(snippets):
            pre = " ".join(rng.sample(FILLER, 4))
            context = f"{pre} {gene} causes {dis} in {' '.join(rng.sample(FILLER, 3))}."
            start = context.index(f"{gene} causes")
            answers = [] if split == "test" else [{"text": gene, "answer_start": start}]
            rows.append({"id": f"{qid}_{s:03d}", "question_id": qid, "question": question,
                         "context": context, "answers": answers})
    return rows, golden


def vocabulary_words() -> list[str]:
    return (DISEASES + MODIFIERS + FILLER + GENES + [g.lower() for g in GENES]
            + ["@", "GENE", "DISEASE", "$", "causes", "increases", "is", "unrelated", "to", "shows", "no",
               "link", "Which", "?", ".", "T", "P", "M", "D", "B", "R", "C", "A", "E", "G", "F", "K", "S", "O"])


# ---------------------------------------------------------------- minimal tokenize

def tokenize_ner(tok, prepared: Path, out: Path, labels: list[str], max_length: int = 128) -> None:
    lid = {lab: i for i, lab in enumerate(labels)}
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    for split in ("train", "validation", "test"):
        cols = {"input_ids": [], "labels": [], "word_ids": [], "sentence": []}
        for s, line in enumerate((prepared / f"{split}.jsonl").read_text().splitlines()):
            ex = json.loads(line)
            pieces = [tok.encode(w, add_special_tokens=False).ids for w in ex["tokens"]]
            chunk: list[int] = []
            budget = max_length - 2

            def flush(words):
                ids, labs, wids = [cls_id], [-100], [-1]
                for w in words:
                    ids += pieces[w]
                    labs += [lid[ex["tags"][w]]] * len(pieces[w])
                    wids += [w] * len(pieces[w])
                cols["input_ids"].append(ids + [sep_id])
                cols["labels"].append(labs + [-100])
                cols["word_ids"].append(wids + [-1])
                cols["sentence"].append(s)

            used = 0
            for w, p in enumerate(pieces):
                if chunk and used + len(p) > budget:
                    flush(chunk)
                    chunk, used = [], 0
                chunk.append(w)
                used += len(p)
            flush(chunk)
        write_arrow(out / f"{split}.arrow", cols, {"input_ids": pa.list_(pa.int32()), "labels": pa.list_(pa.int32()),
                                                   "word_ids": pa.list_(pa.int32()), "sentence": pa.int32()})
    (out / "meta.json").write_text(json.dumps({"tokenizer_sha256": tokenizer_sha256(tok), "max_length": max_length,
                                               "task": "ner", "labels": labels}))


def tokenize_re(tok, prepared: Path, out: Path, labels: list[str]) -> None:
    lid = {lab: i for i, lab in enumerate(labels)}
    for split in ("train", "validation", "test"):
        rows = [json.loads(x) for x in (prepared / f"{split}.jsonl").read_text().splitlines()]
        cols = {"input_ids": [tok.encode(r["text"]).ids for r in rows], "label": [lid[r["label"]] for r in rows]}
        write_arrow(out / f"{split}.arrow", cols, {"input_ids": pa.list_(pa.int32()), "label": pa.int32()})
    (out / "meta.json").write_text(json.dumps({"tokenizer_sha256": tokenizer_sha256(tok), "max_length": 128, "task": "re",
                                               "labels": labels}))


def tokenize_qa(tok, prepared: Path, out: Path, max_length: int = 40, stride: int = 8) -> None:
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    for split in ("train", "validation", "test"):
        rows = [json.loads(x) for x in (prepared / f"{split}.jsonl").read_text().splitlines()]
        cols = {k: [] for k in ("input_ids", "token_type_ids", "example", "offset_start", "offset_end",
                                "start_position", "end_position")}
        for e, r in enumerate(rows):
            q = tok.encode(r["question"], add_special_tokens=False).ids
            enc = tok.encode(r["context"], add_special_tokens=False)
            room = max_length - len(q) - 3
            w0 = 0
            while True:
                w1 = min(len(enc.ids), w0 + room)
                ids = [cls_id] + q + [sep_id] + enc.ids[w0:w1] + [sep_id]
                head = len(q) + 2
                tt = [0] * head + [1] * (w1 - w0 + 1)
                os_ = [-1] * head + [a for a, _ in enc.offsets[w0:w1]] + [-1]
                oe_ = [-1] * head + [b for _, b in enc.offsets[w0:w1]] + [-1]
                sp = ep = 0
                if r["answers"]:
                    a0 = r["answers"][0]["answer_start"]
                    a1 = a0 + len(r["answers"][0]["text"])
                    tok_s = [i for i in range(head, head + w1 - w0) if os_[i] <= a0 < oe_[i]]
                    tok_e = [i for i in range(head, head + w1 - w0) if os_[i] < a1 <= oe_[i]]
                    if tok_s and tok_e:
                        sp, ep = tok_s[0], tok_e[0]
                for k, v in zip(cols, (ids, tt, e, os_, oe_, sp, ep)):
                    cols[k].append(v)
                if w1 >= len(enc.ids):
                    break
                w0 += room - stride
        types = {"input_ids": pa.list_(pa.int32()), "token_type_ids": pa.list_(pa.int32()), "example": pa.int32(),
                 "offset_start": pa.list_(pa.int32()), "offset_end": pa.list_(pa.int32()),
                 "start_position": pa.int32(), "end_position": pa.int32()}
        write_arrow(out / f"{split}.arrow", cols, types)
    (out / "meta.json").write_text(json.dumps({"tokenizer_sha256": tokenizer_sha256(tok), "max_length": max_length,
                                               "task": "qa", "labels": []}))


def make_dataset(root: Path, task: str, tok, seed: int = 0, sizes=(160, 40, 40), **tok_kwargs) -> tuple[Path, Path]:
    """Prepared + tokenized folders for ``task`` under ``root``; returns (prepared, data)."""
    rng = random.Random(seed)
    prepared, data = root / f"prepared-{task}", root / f"tokenized-{task}"
    prepared.mkdir(parents=True)
    data.mkdir(parents=True)
    meta = {"name": task, "task": task, "description": "test", "format": "test", "source": "test"}
    if task == "ner":
        labels = ["B", "I", "O"]
        splits = {s: ner_sentences(n, rng) for s, n in zip(("train", "validation", "test"), sizes)}
        meta["mentions"] = {s: sum(t == "B" for ex in rows for t in ex["tags"]) for s, rows in splits.items()}
    elif task == "re":
        labels = ["0", "1"]
        splits = {s: re_rows(n, rng) for s, n in zip(("train", "validation", "test"), sizes)}
    else:
        labels = []
        splits = {}
        for s, n in zip(("train", "validation", "test"), sizes):
            rows, golden = qa_rows(n // 4, rng, s)
            splits[s] = rows
            if s != "train":
                (prepared / f"golden_{s}.json").write_text(json.dumps(golden))
    for s, rows in splits.items():
        write_jsonl(prepared / f"{s}.jsonl", rows)
    meta.update(labels=labels, splits={s: len(r) for s, r in splits.items()})
    (prepared / "meta.json").write_text(json.dumps(meta))
    {"ner": tokenize_ner, "re": tokenize_re, "qa": tokenize_qa}[task](
        tok, prepared, data, *( [labels] if task != "qa" else []), **tok_kwargs)
    return prepared, data


def params(epochs: int = 3, lr: float = 1e-2) -> dict:
    task = {"epochs": epochs, "batch_size": 8, "learning_rate": lr, "learning_rate_by_model": {}}
    return {"scale": "demo", "finetune": {
        "common": {"warmup_fraction": 0.1, "weight_decay": 0.01, "eval_batch_size": 64, "max_grad_norm": 1.0,
                   "num_threads": 1},
        "ner": dict(task), "re": dict(task),
        "qa": {**task, "n_best": 10, "max_answer_tokens": 10, "top_k": 5}}}
