"""Paper-scale cost of the ``all_tables`` grid: measured steps, counted FLOPs, projected H100 hours.

Why: before anyone books a GPU cluster for ``scale: paper`` we want to know
what the grid costs and how much our engine saves over the obvious
implementation -- as counted FLOPs, not as claims.  This script, on the CPU,
at the paper's shapes, with random weights built from the hard-coded configs
of ``compactbio.bench.architectures`` (no hub access):

1. times one optimizer step of each distillation recipe (``DistillTask``: BERT-base
   teacher under inference mode, student forward/backward, the recipe's losses),
   of each continual MLM model (``MLMTask``) at sequence length 256, and one
   fine-tuning step of every architecture of the grid for NER / RE / QA;
2. counts the FLOPs of each step with ``torch.utils.flop_counter.FlopCounterMode``
   (plus the CPU SDPA kernels, which torch registers no formula for and would
   count as 0) and prints the analytic ``6 N tokens + attention`` estimate beside it;
3. projects the GPU-hours of the whole grid on one H100 (peak and utilisation are
   flags) from the paper-scale steps, batches and epochs of ``params.yaml`` and
   the datasets' row counts and token lengths, next to the same projection for a
   naive Hugging Face Trainer-style implementation, counted the same way.

What "naive" changes, and only where our code really differs (read from
``distill/task.py``, ``pretrain/mlm.py``, ``pretrain/data.py``, ``finetune/loop.py``):

* pre-training: stock ``*ForMaskedLM.forward`` computes full-vocabulary logits at
  every position, for the student (forward + backward) and the teacher; the engine
  applies the vocabulary head at masked positions only.  Counted.
* fine-tuning: rows padded to the task's max length (``padding="max_length"``),
  in training and evaluation; our loop pads each batch to its longest row
  (random batches in training, length-sorted batches in evaluation).  Counted.
* not counted, because they cost no FLOPs: teacher under ``no_grad`` (what a
  Trainer-style distiller does) vs our ``inference_mode`` (memory only; a teacher
  with trainable weights and no ``no_grad`` would add its backward, a bug rather
  than a style); eager attention / returned maps and hidden states vs SDPA (same
  matmuls); padding of the corpus (both we and HF ``run_mlm`` pack the corpus
  into full rows, so neither pads).

Dataset sizes and lengths: with ``COMPACTBIO_REAL_DATA`` set, the grid's datasets
are read by the project's own readers and tokenized by its tokenize functions
with a WordPiece vocabulary trained on the real PubMed sample (no real BERT
vocabulary is available offline, so token lengths are an estimate).  Datasets
not in that folder take their total size from the paper's Table 1, split
shares and length distribution from the measured NER sets (a stated proxy).
Without real data, row counts come from ``/work/shared/data/README.md`` and the
paper's Table 1 and every row is assumed to be max length (an upper bound; the
fine-tuning ours/naive ratio is then 1 by construction, and the report says so).

    COMPACTBIO_REAL_DATA=/work/shared/data python benchmarks/paper_cost.py \
        [--utilisation 0.4] [--peak-tflops 989] [--micro-batch 4] [--ft-rows 4] \
        [--repeats 2] [--out paper_cost.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from compactbio.bench.flops import count_flops, flop_counter_mode

logger = logging.getLogger("paper_cost")

H100_BF16_DENSE = 989e12       # FLOP/s, H100 SXM dense bf16 tensor-core peak (NVIDIA datasheet)
TASKS = ("ner", "re", "qa")
CLS, SEP, MASK = 101, 102, 103  # BERT's special ids, cased and uncased vocabularies alike

# The paper's Table 1 "Dataset size" (all splits), used for datasets absent from the real-data folder.
PAPER_TABLE1 = {"ncbi-disease": 7287, "bc5cdr-disease": 13938, "bc5cdr-chem": 13938, "bc4chemd": 87685,
                "bc2gm": 20131, "jnlpba": 22402, "linnaeus": 23155, "species-800": 8193, "gad": 5330,
                "chemprot": 10065, "bioasq7b": 2747}
# /work/shared/data/README.md "Formats and counts (measured on these files)": rows per split
# (NER sentences; GAD pooled fold 1; ChemProt rows; BioASQ (question, snippet) entries).
README_COUNTS = {"ncbi-disease": (5424, 923, 940), "bc5cdr-disease": (4560, 4581, 4797),
                 "bc5cdr-chem": (4560, 4581, 4797), "bc2gm": (12574, 2519, 5038),
                 "jnlpba": (14690, 3856, 3856), "chemprot": (4169, 2427, 3469)}
README_GAD_POOL = 5330
README_BIOASQ = (4231, 512)  # train entries (validation is drawn from these), test entries


# ===================================================================== pure parts (tested)
def gpu_hours(flops: float, peak: float = H100_BF16_DENSE, utilisation: float = 0.4) -> float:
    """Hours on one accelerator that sustains ``utilisation`` x ``peak`` FLOP/s."""
    if not 0 < utilisation <= 1:
        raise ValueError(f"utilisation must be in (0, 1], got {utilisation}")
    return float(flops) / (peak * utilisation) / 3600.0


def encoder_shape(model) -> dict:
    """What the analytic formula needs: non-embedding parameters N, layers, attention width, hidden, vocab.

    N is Kaplan's non-embedding count, via the project's ``count_parameters``
    (for MobileBERT that leaves its 384 -> 512 embedding up-projection out, so the
    estimate is a little low there: an estimate, printed beside the count).
    """
    from compactbio.bench.architectures import count_parameters

    cfg = model.config
    base = model.base_model
    _, non_emb = count_parameters(base)
    if cfg.model_type == "distilbert":
        layers, hidden, vocab = cfg.n_layers, cfg.dim, cfg.vocab_size
        attn = hidden
    else:
        layers, hidden, vocab = cfg.num_hidden_layers, cfg.hidden_size, cfg.vocab_size
        attn = cfg.true_hidden_size if getattr(cfg, "use_bottleneck", False) else hidden
    return {"n": int(non_emb), "layers": int(layers), "attn": int(attn), "hidden": int(hidden), "vocab": int(vocab)}


def analytic_forward(shape: dict, rows: int, width: int) -> float:
    """Encoder forward FLOPs: 2 N per position + QK^T and AV (2 L^2 d_attn each) per layer and row."""
    return 2.0 * shape["n"] * rows * width + 4.0 * shape["layers"] * shape["attn"] * rows * width ** 2


def analytic_mlm_head(shape: dict, positions: int) -> float:
    """Vocabulary head forward FLOPs: dense d x d transform + d x V decoder per position."""
    d = shape["hidden"]
    return 2.0 * (d * d + d * shape["vocab"]) * positions


def analytic_train(shape: dict, rows: int, width: int, head_positions: int = 0) -> float:
    """Forward + backward (3x forward) of a trainable encoder and its MLM head."""
    return 3.0 * (analytic_forward(shape, rows, width) + analytic_mlm_head(shape, head_positions))


class StepFlops:
    """Exact FLOPs of a step as a function of the batch shape: F(B, W) = B (a W + b W^2 + c).

    A BERT-family step is linear in rows, and per row linear (matmuls per
    position) plus quadratic (attention) in the padded width, plus a per-row
    constant (pooler / classifier of sequence classification).  Three counted
    shapes fix a, b, c; the timed step, counted at another shape, checks the fit.
    """

    def __init__(self, a: float, b: float, c: float):
        self.a, self.b, self.c = float(a), float(b), float(c)

    @classmethod
    def fit(cls, points: list[tuple[int, int, float]]) -> "StepFlops":
        rows = np.array([[w, w * w, 1.0] for _, w, _ in points], dtype=float)
        rhs = np.array([f / b for b, _, f in points], dtype=float)
        a, b, c = np.linalg.solve(rows, rhs)
        return cls(a, b, c)

    def __call__(self, rows: int, width: int) -> float:
        return rows * (self.a * width + self.b * width * width + self.c)


def train_batches(lengths: list[int], batch_size: int, seed: int, epochs: int) -> list[tuple[int, int]]:
    """``(rows, padded width)`` of every training batch, exactly as ``finetune.loop.train`` draws them:
    one generator seeded with the job's seed, a fresh ``randperm`` per epoch, each batch
    padded to its longest row."""
    gen = torch.Generator().manual_seed(int(seed))
    lens = np.asarray(lengths)
    out = []
    for _ in range(epochs):
        perm = torch.randperm(len(lens), generator=gen).numpy()
        for s in range(0, len(perm), batch_size):
            chunk = lens[perm[s:s + batch_size]]
            out.append((len(chunk), int(chunk.max())))
    return out


def eval_batches(lengths: list[int], batch_size: int) -> list[tuple[int, int]]:
    """``(rows, width)`` of ``finetune.loop.predict``: rows sorted by length, batches padded to the longest."""
    lens = np.sort(np.asarray(lengths))
    return [(len(lens[s:s + batch_size]), int(lens[s:s + batch_size].max())) for s in range(0, len(lens), batch_size)]


def batches_flops(batches: list[tuple[int, int]], step: StepFlops) -> float:
    return float(sum(step(b, w) for b, w in batches))


def pad_to(batches: list[tuple[int, int]], width: int) -> list[tuple[int, int]]:
    """The same batches with every row padded to ``width`` (the naive ``padding="max_length"``)."""
    return [(b, width) for b, _ in batches]


def finetune_job(lengths: dict[str, list[int]], hp: dict, seed: int, max_length: int,
                 train_step: StepFlops, forward: StepFlops) -> dict:
    """FLOPs of one fine-tuning job (train epochs + validation every epoch + test once), ours and naive."""
    epochs, bs, ebs = int(hp["epochs"]), int(hp["batch_size"]), int(hp["eval_batch_size"])
    tr = train_batches(lengths["train"], bs, seed, epochs)
    va = eval_batches(lengths["validation"], ebs)
    te = eval_batches(lengths["test"], ebs)
    ours = batches_flops(tr, train_step) + epochs * batches_flops(va, forward) + batches_flops(te, forward)
    naive = (batches_flops(pad_to(tr, max_length), train_step) + epochs * batches_flops(pad_to(va, max_length), forward)
             + batches_flops(pad_to(te, max_length), forward))
    return {"ours": ours, "naive": naive, "train_steps": len(tr)}


def pretrain_job(step_flops: float, micro_rows: int, global_batch: int, steps: int) -> float:
    """A step's FLOPs are linear in its rows (packed rows of equal length, a fixed masked count
    per row), so a global batch costs ``global_batch / micro_rows`` measured micro-batches."""
    return float(step_flops) * global_batch / micro_rows * steps


def padding_stats(lengths: list[int], batch_size: int, seed: int, max_length: int) -> dict:
    """Real vs padded positions of one training epoch: ours (batch max), naive (max length)."""
    tr = train_batches(lengths, batch_size, seed, 1)
    real = int(sum(lengths))
    ours = int(sum(b * w for b, w in tr))
    naive = int(len(lengths) * max_length)
    grouped = grouped_padding(lengths, batch_size, seed)
    return {"real_tokens": real, "ours_padded": ours, "naive_padded": naive,
            "ours_factor": ours / max(real, 1), "naive_factor": naive / max(real, 1), "grouped_factor": grouped}


def grouped_padding(lengths: list[int], batch_size: int, seed: int) -> float:
    """Padding factor a length-grouped sampler would reach: the pre-training engine's own
    ``epoch_batches`` (sorted inside windows of 50 batches; drops the ragged tail).  Not what
    ``finetune.loop`` does today: reported as the head-room, not used in the projection."""
    from compactbio.pretrain.data import epoch_batches

    lens = np.asarray(lengths)
    batches = epoch_batches(lens, batch_size, seed, 0)
    real = sum(int(lens[b].sum()) for b in batches)
    return sum(len(b) * int(lens[b].max()) for b in batches) / max(real, 1)


# ===================================================================== params
def paper_params(path: Path) -> dict:
    """params.yaml resolved at paper scale, without rehearsal caps (we project the real run)."""
    from compactbio.params import load_params, resolve

    raw = copy.deepcopy(load_params(path, validate=False))
    raw.pop("rehearsal", None)
    return resolve(raw, "paper")


# ===================================================================== datasets
def _arrow_lengths(arr) -> list[int]:
    return [int(x) for x in arr.value_lengths().to_numpy(zero_copy_only=False)]


def build_tokenizer(real: Path, tmp: Path):
    """A cased WordPiece (28,996 target tokens, BioBERT's vocabulary size) trained on the PubMed sample
    by the project's own prepare + tokenizer stages."""
    from compactbio.data import prepare, tokenize, tokenizer

    params = {"datasets": {"pubmed": {"format": "corpus", "path": "."}},
              "pretrain": {"base": {"wp": {"hub": None, "tokenizer": {"lowercase": False, "vocab_size": 28996}}}}}
    prepare.run(params, "pubmed", real / "pubmed", tmp / "pubmed")
    tokenizer.run(params, "wp", tmp / "pubmed", tmp / "tok")
    tok, _ = tokenize.load_tokenizer(tmp / "tok")
    return tok, tmp / "pubmed" / "corpus.txt"


def measure_lengths(params: dict, real: Path, tok) -> dict:
    """Token lengths per split of every grid dataset present under ``real``, via the repo's readers and
    tokenize functions at the paper's max lengths."""
    from compactbio.data import tokenize
    from compactbio.data.readers import reader_for
    from compactbio.workflow.graph import finetune_datasets

    tcfg = params["tokenize"]
    out = {}
    for name in finetune_datasets(params):
        ds = params["datasets"][name]
        folder = real / ds["source"] / ds.get("path", ".")
        if not folder.is_dir():
            logger.info("%s: %s not found, sized from the paper's Table 1 (proxy)", name, folder)
            continue
        t0 = time.perf_counter()
        prep = reader_for(ds["format"])(folder, ds, name)
        label_ids = {lab: i for i, lab in enumerate(prep.labels)}
        lens = {}
        for split in ("train", "validation", "test"):
            rows = prep.splits[split]
            if prep.task == "ner":
                cols = tokenize.ner_rows(tok, rows, label_ids, int(tcfg["max_length"]), 1000, name)
            elif prep.task == "re":
                cols = tokenize.re_rows(tok, rows, label_ids, int(tcfg["max_length"]), 1000, name)
            else:
                cols = tokenize.qa_rows(tok, rows, int(tcfg["qa_max_length"]), int(tcfg["qa_stride"]), 1000, name)
            lens[split] = _arrow_lengths(cols["input_ids"])
        out[name] = {"task": prep.task, "lengths": lens, "examples": {s: len(r) for s, r in prep.splits.items()},
                     "source": f"measured: {folder} (project reader + tokenize, PubMed-sample WordPiece)"}
        logger.info("%s: %s rows, %.1fs", name, {s: len(v) for s, v in lens.items()}, time.perf_counter() - t0)
    return out


def corpus_stats(tok, corpus_txt: Path, max_length: int) -> dict:
    """PubMed sample: one abstract per row padded to ``max_length`` vs packed rows (what we train on)."""
    docs = [ln.rstrip("\n") for ln in open(corpus_txt, encoding="utf-8") if ln.strip()]
    lens = [len(e.ids) for e in tok.encode_batch(docs, add_special_tokens=True)]
    body = max_length - 2
    content = sum(n - 2 for n in lens)
    kept = sum(min(n, max_length) for n in lens)
    return {"documents": len(docs), "tokens_per_abstract_median": float(statistics.median(lens)),
            "abstracts_over_max_length": sum(n > max_length for n in lens),
            "packed_rows": content // body, "packed_padding_factor": 1.0,
            "per_abstract_padded_tokens": len(lens) * max_length, "per_abstract_real_tokens": kept,
            "per_abstract_padding_factor": len(lens) * max_length / max(kept, 1)}


def grid_lengths(params: dict, measured: dict, seed: int = 0) -> dict:
    """Lengths per split for every grid dataset: measured, or a stated proxy."""
    from compactbio.data.readers.common import seeded_pick
    from compactbio.workflow.graph import finetune_datasets, task_of

    tcfg = params["tokenize"]
    rng = np.random.default_rng(seed)
    pool = {s: [n for d in measured.values() if d["task"] == "ner" for n in d["lengths"][s]]
            for s in ("train", "validation", "test")}
    ner_measured = [d for d in measured.values() if d["task"] == "ner"]
    if ner_measured:
        tot = {s: sum(len(d["lengths"][s]) for d in ner_measured) for s in pool}
        share_src = "split shares of the measured NER sets"
    else:  # README's NER table
        ner_counts = [c for d, c in README_COUNTS.items() if d in params["grid"]["ner"]]
        tot = {s: sum(c[i] for c in ner_counts) for i, s in enumerate(pool)}
        share_src = "split shares of the README's NER table"
    share = {s: tot[s] / sum(tot.values()) for s in pool}
    out = {}
    for name in finetune_datasets(params):
        task = task_of(params, name)
        maxlen = int(tcfg["qa_max_length"] if task == "qa" else tcfg["max_length"])
        if name in measured:
            out[name] = dict(measured[name], measured_lengths=True, max_length=maxlen)
            continue
        if name in README_COUNTS:
            counts = dict(zip(("train", "validation", "test"), README_COUNTS[name]))
            src = "rows: /work/shared/data/README.md table"
        elif name == "gad":
            split = {"test_fraction": 0.1, "validation_fraction": 0.1, "seed": 13,
                     **(params["datasets"][name].get("split") or {})}
            test = len(seeded_pick(list(range(README_GAD_POOL)), split["test_fraction"], split["seed"]))
            val = len(seeded_pick(list(range(README_GAD_POOL - test)), split["validation_fraction"], split["seed"] + 1))
            counts = {"train": README_GAD_POOL - test - val, "validation": val, "test": test}
            src = "rows: README (5330 pooled), split by datasets.gad.split as the GAD reader does"
        elif name == "bioasq7b":
            val = round(0.1 * README_BIOASQ[0])
            counts = {"train": README_BIOASQ[0] - val, "validation": val, "test": README_BIOASQ[1]}
            src = "rows: README entries, 1 window each, validation ~10% of entries"
        else:
            total = PAPER_TABLE1[name]
            counts = {s: round(total * share[s]) for s in share}
            src = f"rows: paper Table 1 total x {share_src}"
        if task == "ner" and pool["train"]:
            lens = {s: rng.choice(pool[s], counts[s]).tolist() for s in counts}
            src += "; lengths: resampled from the measured NER sets (proxy)"
            ml = True
        else:
            lens = {s: [maxlen] * counts[s] for s in counts}
            src += "; lengths: not measured, every row at max length (upper bound)"
            ml = False
        out[name] = {"task": task, "lengths": lens, "source": src, "measured_lengths": ml, "max_length": maxlen}
    return out


# ===================================================================== models
def _family(kind: str):
    import transformers

    return {"bert": "Bert", "distilbert": "DistilBert", "mobilebert": "MobileBert"}[kind], transformers


def build(kind: str, config: dict, head: str, attn: str | None = None, **extra):
    """A random-weight ``<Family><head>`` from an architecture's paper config (no hub)."""
    prefix, tf = _family(kind)
    cfg = getattr(tf, f"{prefix}Config")(**config, **extra)
    if attn:
        cfg._attn_implementation = attn
    torch.manual_seed(0)
    return getattr(tf, f"{prefix}{head}")(cfg)


def pretrain_batch(rows: int, length: int, vocab: int, mask_probability: float, seed: int = 0) -> dict:
    """Packed corpus rows ([CLS] ... [SEP], all ``length`` long) with exactly the expected masked
    count per row, so a micro-batch's FLOPs scale exactly to a global batch."""
    from compactbio.pretrain.data import collate

    g = np.random.default_rng(seed)
    k = round(mask_probability * (length - 2))
    low = 1000 if vocab > 2000 else MASK + 1  # ordinary tokens: past the special ids
    out = []
    for _ in range(rows):
        ids = np.concatenate([[CLS], g.integers(low, vocab, length - 2), [SEP]]).astype(np.int64)
        pos = 1 + g.choice(length - 2, k, replace=False)
        labels = np.full(length, -100, dtype=np.int64)
        labels[pos] = ids[pos]
        ids[pos] = MASK
        out.append((ids, labels))
    return collate(out, pad_id=0)


def time_step(step, repeats: int, budget_s: float = 8.0) -> list[float]:
    """Up to ``repeats`` timed steps, but no new one once ``budget_s`` is spent (always at least one):
    cheap steps get a median, expensive ones are not repeated on a shared 2-core machine."""
    out = []
    while len(out) < max(1, repeats) and (not out or sum(out) < budget_s):
        t0 = time.perf_counter()
        step()
        out.append(time.perf_counter() - t0)
    return out


def matmul_peak(n: int = 2048, reps: int = 5) -> float:
    """This CPU's fp32 matmul FLOP/s right now (shared machine: a moving target)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.matmul(a, b)
    t0 = time.perf_counter()
    for _ in range(reps):
        torch.matmul(a, b)
    return 2 * n ** 3 * reps / (time.perf_counter() - t0)


def naive_distill_loss(task, batch):
    """Trainer-style distillation: stock ``*ForMaskedLM`` forward of student and teacher (full-vocabulary
    logits at every position), teacher under ``no_grad``, the same loss terms."""
    from compactbio.distill import losses

    r, student, teacher = task.recipe, task.student, task.teacher
    ids, am, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    kw = dict(output_hidden_states=r.needs_hidden, output_attentions=r.needs_attentions)
    with torch.no_grad():
        t = teacher(input_ids=ids, attention_mask=am, **kw)
    s = student(input_ids=ids, attention_mask=am, **kw)
    mask = labels != -100
    total = 0.0
    for term in r.terms:
        if term.loss == "mlm":
            v = torch.nn.functional.cross_entropy(s.logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
        elif term.loss == "output_kl":
            v = losses.output_kl(s.logits, t.logits, mask, r.temperature, term.direction)
        elif term.loss == "output_soft_ce":
            v = losses.output_soft_ce(s.logits, t.logits, mask, r.temperature)
        else:
            v = 0.0
            for a, b in zip(term.student_layers, term.teacher_layers):
                if term.loss in ("hidden_cosine", "hidden_mse", "embedding_mse"):
                    h = task.projection(s.hidden_states[a]) if term.projection else s.hidden_states[a]
                    v = v + getattr(losses, term.loss)(h, t.hidden_states[b], am)
                else:
                    v = v + getattr(losses, term.loss)(s.attentions[a - 1], t.attentions[b - 1], am)
        total = total + term.weight * v
    return total


def _optimizer_step(params, opt):
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)


def architecture_of(params: dict, model: str) -> str:
    """The ``efficiency.architectures`` entry of ``model``; a base model without one (e.g. the teacher
    BioBERT v1.2 beside the grid's v1.1) takes that of the base model with the same family and the
    same hub name up to its version suffix (``dmis-lab/biobert-base-cased-v1.x``): same config."""
    archs = params["efficiency"]["architectures"]
    if model in archs:
        return archs[model]
    base = params["pretrain"]["base"]
    me = base.get(model) or {}
    stem = str(me.get("hub") or "").rsplit("-v", 1)[0]
    for other, arch in archs.items():
        o = base.get(other) or {}
        if stem and o.get("arch") == me.get("arch") and str(o.get("hub") or "").rsplit("-v", 1)[0] == stem:
            logger.info("%s: no efficiency.architectures entry; using %s's (%s, hub %s)", model, other, arch, o["hub"])
            return arch
    raise ValueError(f"{model}: no efficiency.architectures entry and no base model of the same family and hub")


def measure_distill(params: dict, name: str, rows: int, length: int, repeats: int, budget_s: float) -> dict:
    from compactbio.bench.architectures import get
    from compactbio.distill.recipe import parse
    from compactbio.distill.task import DistillTask
    from compactbio.models.student import make_student

    cfg = params["pretrain"]["distill"][name]
    recipe = parse(cfg["recipe"], f"pretrain.distill.{name}.recipe")
    attn = "eager" if recipe.needs_attentions else None  # as distill/stage.py loads them
    teacher_arch = get(architecture_of(params, cfg["teacher"]))
    teacher = build(teacher_arch.kind, teacher_arch.config("paper"), "ForMaskedLM", attn).eval()
    student = make_student(teacher, cfg["student"], 0, attn)
    task = DistillTask(student, teacher, recipe, f"pretrain.distill.{name}").train()
    batch = pretrain_batch(rows, length, teacher.config.vocab_size, params["pretrain"]["engine"]["mask_probability"])
    n_masked = int((batch["labels"] != -100).sum())
    norms = task.norms(n_masked, batch["attention_mask"].sum(1).tolist())
    opt = torch.optim.AdamW(task.parameters(), lr=1e-4)

    def ours():
        loss, _ = task(batch, norms)
        loss.backward()
        return loss

    _, flops = count_flops(ours)  # also the warm-up
    opt.zero_grad(set_to_none=True)

    def step():
        ours()
        _optimizer_step(task.parameters(), opt)

    times = time_step(step, repeats, budget_s)
    one = {k: v[:1] for k, v in batch.items()}  # FLOPs are exactly linear in rows: count the naive step on one

    def naive():
        loss = naive_distill_loss(task, one)
        loss.backward()
        return loss

    _, naive_one = count_flops(naive)
    naive_flops = naive_one * rows
    opt.zero_grad(set_to_none=True)
    ts, tt = encoder_shape(student), encoder_shape(teacher)
    proj = sum(len(t.student_layers) for t in task.recipe.terms if t.projection)
    proj_flops = 3.0 * 2 * ts["hidden"] * tt["hidden"] * rows * length * proj
    head = n_masked if recipe.needs_logits else 0
    analytic = (analytic_forward(tt, rows, length) + analytic_mlm_head(tt, head)
                + analytic_train(ts, rows, length, head) + proj_flops)
    analytic_naive = analytic + (analytic_mlm_head(tt, rows * length - head) if recipe.needs_logits else 0) \
        + (3 * analytic_mlm_head(ts, rows * length - head) if recipe.needs_logits else 0)
    return {"job": f"distill {name}", "model": name, "kind": "distill",
            "shape": f"{rows}x{length}, {n_masked} masked", "attention": attn or "sdpa",
            "cpu_s": times, "flops": flops, "analytic": analytic, "naive_flops": naive_flops,
            "naive_analytic": analytic_naive, "rows": rows,
            "steps": int(cfg["train"]["steps"]), "global_batch": int(cfg["train"]["batch_size"]),
            "student_params": sum(p.numel() for p in student.parameters())}


def measure_continual(params: dict, name: str, rows: int, length: int, repeats: int, budget_s: float) -> dict:
    from compactbio.bench.architectures import get
    from compactbio.pretrain.mlm import MLMTask

    cfg = params["pretrain"]["continual"][name]
    arch = get(architecture_of(params, cfg["init"]))
    net = build(arch.kind, arch.config("paper"), "ForMaskedLM")
    task = MLMTask(net).train()
    batch = pretrain_batch(rows, length, net.config.vocab_size, params["pretrain"]["engine"]["mask_probability"])
    n_masked = int((batch["labels"] != -100).sum())
    norms = task.norms(n_masked, batch["attention_mask"].sum(1).tolist())
    opt = torch.optim.AdamW(task.parameters(), lr=1e-4)

    def ours():
        loss, _ = task(batch, norms)
        loss.backward()

    _, flops = count_flops(ours)
    opt.zero_grad(set_to_none=True)

    def step():
        ours()
        _optimizer_step(task.parameters(), opt)

    times = time_step(step, repeats, budget_s)
    one = {k: v[:1] for k, v in batch.items()}  # FLOPs are exactly linear in rows: count the naive step on one

    def naive():  # stock forward: full-vocabulary logits at every position
        net(input_ids=one["input_ids"], attention_mask=one["attention_mask"], labels=one["labels"]).loss.backward()

    _, naive_one = count_flops(naive)
    naive_flops = naive_one * rows
    opt.zero_grad(set_to_none=True)
    s = encoder_shape(net)
    return {"job": f"continual {name}", "model": name, "kind": "continual", "arch": arch.name,
            "shape": f"{rows}x{length}, {n_masked} masked", "attention": "sdpa", "cpu_s": times,
            "flops": flops, "analytic": analytic_train(s, rows, length, n_masked), "naive_flops": naive_flops,
            "naive_analytic": analytic_train(s, rows, length, rows * length), "rows": rows,
            "steps": int(cfg["train"]["steps"]), "global_batch": int(cfg["train"]["batch_size"])}


HEADS = {"ner": "ForTokenClassification", "re": "ForSequenceClassification", "qa": "ForQuestionAnswering"}


def _ft_batch(task: str, rows: int, width: int, lengths: list[int], n_labels: int, accepted: set[str]) -> dict:
    from compactbio.finetune.loop import collate

    g = np.random.default_rng(0)
    feats = []
    for n in lengths[:rows]:
        f = {"input_ids": [CLS] + g.integers(1000, 28000, max(n - 2, 0)).tolist() + [SEP]}
        if task == "qa":
            f["token_type_ids"] = [0] * (n // 2) + [1] * (n - n // 2)
            f["start_positions"] = f["end_positions"] = int(n // 2)
        elif task == "ner":
            f["labels"] = g.integers(0, n_labels, n).tolist()
        else:
            f["labels"] = int(g.integers(0, n_labels))
        feats.append(f)
    batch = collate(feats, 0, accepted)
    if batch["input_ids"].shape[1] < width:  # pad to the batch's longest row, as collate does for the full batch
        extra = width - batch["input_ids"].shape[1]
        for k in list(batch):
            if batch[k].dim() == 2:
                fill = -100 if k == "labels" else 0
                batch[k] = torch.nn.functional.pad(batch[k], (0, extra), value=fill)
    return batch


def measure_finetune(arch_name: str, task: str, n_labels: int, rows: int, width: int, lengths: list[int],
                     repeats: int, budget_s: float, max_length: int) -> dict:
    """One fine-tuning step at a real-length batch shape, and the exact F(B, W) of training and evaluation."""
    from compactbio.bench.architectures import get
    from compactbio.finetune.modeling import accepted_inputs

    arch = get(arch_name)
    extra = {"num_labels": n_labels} if task != "qa" else {}
    t0 = time.perf_counter()
    net = build(arch.kind, arch.config("paper"), HEADS[task], **extra).train()
    accepted = accepted_inputs(net)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-5)

    def counts(b, w):
        """(forward, forward + backward) FLOPs of one step: the counter read after each half.
        Dropout costs no FLOPs, so the train-mode forward counts what evaluation does."""
        batch = _ft_batch(task, b, w, [w] * b, n_labels, accepted)
        with flop_counter_mode() as fc:
            loss = net(**batch).loss
            fwd = fc.get_total_flops()
            loss.backward()
        opt.zero_grad(set_to_none=True)
        return int(fwd), int(fc.get_total_flops())

    t1 = time.perf_counter()
    points = {(1, w): counts(1, w) for w in (8, 16, 32)}
    train_fit = StepFlops.fit([(b, w, f[1]) for (b, w), f in points.items()])
    fwd_fit = StepFlops.fit([(b, w, f[0]) for (b, w), f in points.items()])
    t2 = time.perf_counter()
    batch = _ft_batch(task, rows, width, lengths, n_labels, accepted)

    def ours():
        return net(**batch).loss

    with flop_counter_mode() as fc:  # the measured step (and the warm-up); also checks both fits
        loss = ours()
        fwd_counted = int(fc.get_total_flops())
        loss.backward()
    flops = int(fc.get_total_flops())
    opt.zero_grad(set_to_none=True)
    fit_err = max(abs(train_fit(rows, width) - flops) / flops, abs(fwd_fit(rows, width) - fwd_counted) / fwd_counted)

    def step():
        ours().backward()
        _optimizer_step(net.parameters(), opt)

    times = time_step(step, repeats, budget_s)
    logger.info("  build %.1fs, F(B, W) fits %.1fs, counted + %d timed steps %.1fs", t1 - t0, t2 - t1, len(times),
                time.perf_counter() - t2)
    shape = encoder_shape(net)
    d = shape["hidden"]
    head = 3 * 2 * d * (n_labels if task == "ner" else 2) * rows * width if task != "re" \
        else 3 * 2 * (d * d + d * n_labels) * rows
    return {"job": f"finetune {arch_name} {task}", "arch": arch_name, "task": task, "kind": "finetune",
            "shape": f"{rows}x{width}", "attention": "sdpa", "cpu_s": times, "flops": flops,
            "analytic": 3 * analytic_forward(shape, rows, width) + head,
            "naive_flops": train_fit(rows, max_length), "naive_shape": f"{rows}x{max_length}",
            "fit_vs_count": fit_err,
            "train_fit": vars(train_fit), "forward_fit": vars(fwd_fit), "rows": rows,
            "_train": train_fit, "_forward": fwd_fit}


# ===================================================================== report
def _median_batch(lengths: list[int], bs: int, seed: int) -> tuple[int, list[int]]:
    """Width and row lengths of the median-width training batch of epoch 1 (our loop's order)."""
    gen = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(len(lengths), generator=gen).numpy()
    lens = np.asarray(lengths)
    chunks = [lens[perm[s:s + bs]] for s in range(0, len(perm), bs)]
    widths = [int(c.max()) for c in chunks]
    k = int(np.argsort(widths)[len(widths) // 2])
    return widths[k], sorted(chunks[k].tolist(), reverse=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", type=Path, default=Path(__file__).resolve().parents[1] / "params.yaml")
    ap.add_argument("--peak-tflops", type=float, default=H100_BF16_DENSE / 1e12,
                    help="accelerator peak, TFLOP/s (default: H100 SXM dense bf16, 989)")
    ap.add_argument("--utilisation", type=float, default=0.4, help="sustained fraction of peak (default 0.4)")
    ap.add_argument("--micro-batch", type=int, default=2,
                    help="rows of the timed pre-training step (FLOPs scale exactly to the global batch)")
    ap.add_argument("--ft-rows", type=int, default=2, help="rows of the timed fine-tuning step (of a batch of 16)")
    ap.add_argument("--repeats", type=int, default=3, help="at most this many timed steps after the counted warm-up")
    ap.add_argument("--time-budget", type=float, default=5.0,
                    help="seconds of timing per step: no further repeat once spent (default 5)")
    ap.add_argument("--skip", nargs="*", default=[], choices=["distill", "continual", "finetune"])
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    import pandas as pd

    from compactbio.finetune.hparams import hyperparameters

    peak = args.peak_tflops * 1e12
    params = paper_params(args.params)
    grid = params["grid"]
    seeds = list(grid["seeds"])
    tcfg = params["tokenize"]
    load0 = os.getloadavg()
    cpu_peak = matmul_peak()

    # ------------------------------------------------------------- data
    real = os.environ.get("COMPACTBIO_REAL_DATA")
    measured, corpus = {}, None
    tok_note = "no real data: COMPACTBIO_REAL_DATA unset"
    if real and Path(real).is_dir():
        with tempfile.TemporaryDirectory(prefix="paper_cost-") as tmp:
            tok, corpus_txt = build_tokenizer(Path(real), Path(tmp))
            tok_note = (f"WordPiece ({tok.get_vocab_size()} tokens, cased) trained on {Path(real) / 'pubmed'} "
                        "by the project's tokenizer stage; no real BERT vocabulary offline: lengths are estimates")
            measured = measure_lengths(params, Path(real), tok)
            corpus = corpus_stats(tok, corpus_txt, int(tcfg["corpus_max_length"]))
    data = grid_lengths(params, measured)

    # ------------------------------------------------------------- measured steps
    L = int(tcfg["corpus_max_length"])
    steps = []
    if "distill" not in args.skip:
        for name in params["pretrain"]["distill"]:
            logger.info("distill %s ...", name)
            steps.append(measure_distill(params, name, args.micro_batch, L, args.repeats, args.time_budget))
    if "continual" not in args.skip:
        for name in params["pretrain"]["continual"]:
            logger.info("continual %s ...", name)
            steps.append(measure_continual(params, name, args.micro_batch, L, args.repeats, args.time_budget))
    archs = {m: architecture_of(params, m) for m in grid["models"]}
    ft = {}
    if "finetune" not in args.skip:
        for task in TASKS:
            ds_task = [d for d in data if data[d]["task"] == task]
            lens = [n for d in ds_task for n in data[d]["lengths"]["train"]]
            hp = hyperparameters(params, task, grid["models"][0])
            width, row_lens = _median_batch(lens, int(hp["batch_size"]), seeds[0])
            n_labels = 3 if task == "ner" else max(len(params["datasets"][d].get("labels") or [0, 1]) for d in ds_task)
            for arch in dict.fromkeys(archs[m] for m in grid["models"]):
                logger.info("finetune %s %s ...", arch, task)
                maxlen = int(tcfg["qa_max_length"] if task == "qa" else tcfg["max_length"])
                r = measure_finetune(arch, task, n_labels, args.ft_rows, width, row_lens, args.repeats,
                                     args.time_budget, maxlen)
                ft[(arch, task)] = r
                steps.append(r)

    # ------------------------------------------------------------- projection
    jobs = []
    for s in steps:
        if s["kind"] in ("distill", "continual"):
            ours = pretrain_job(s["flops"], s["rows"], s["global_batch"], s["steps"])
            naive = pretrain_job(s["naive_flops"], s["rows"], s["global_batch"], s["steps"])
            jobs.append({"stage": s["job"], "jobs": 1, "work": f"{s['steps']} steps x {s['global_batch']} x {L}",
                         "ours": ours, "naive": naive})
    ft_detail = []
    if ft:
        for task in TASKS:
            tot = {"ours": 0.0, "naive": 0.0, "jobs": 0, "steps": 0}
            for model in grid["models"]:
                hp = hyperparameters(params, task, model)
                r = ft[(archs[model], task)]
                for d, info in data.items():
                    if info["task"] != task:
                        continue
                    for seed in seeds:
                        j = finetune_job(info["lengths"], hp, seed, info["max_length"], r["_train"], r["_forward"])
                        ft_detail.append({"model": model, "arch": archs[model], "dataset": d, "seed": seed, **j})
                        tot["ours"] += j["ours"]
                        tot["naive"] += j["naive"]
                        tot["jobs"] += 1
                        tot["steps"] += j["train_steps"]
            hp = hyperparameters(params, task, grid["models"][0])
            jobs.append({"stage": f"finetune {task}", "jobs": tot["jobs"],
                         "work": f"{tot['steps']} steps, {hp['epochs']} ep x bs {hp['batch_size']} + eval",
                         "ours": tot["ours"], "naive": tot["naive"]})
    total = {"stage": "TOTAL", "jobs": sum(j["jobs"] for j in jobs), "work": "",
             "ours": sum(j["ours"] for j in jobs), "naive": sum(j["naive"] for j in jobs)}
    jobs.append(total)
    for j in jobs:
        j["gpu_h_ours"] = gpu_hours(j["ours"], peak, args.utilisation)
        j["gpu_h_naive"] = gpu_hours(j["naive"], peak, args.utilisation)
        j["ours/naive"] = j["ours"] / j["naive"] if j["naive"] else float("nan")

    cpu_peak = max(cpu_peak, matmul_peak())  # best of start and end: the least-disturbed measurement
    # ------------------------------------------------------------- print
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    print(f"\n# paper-scale cost of all_tables ({args.params})")
    print(f"CPU: {torch.get_num_threads()} threads, fp32; matmul peak {cpu_peak / 1e9:.0f} GFLOP/s (best of start/end); "
          f"load average {load0[0]:.1f} at start, {os.getloadavg()[0]:.1f} at end (shared machine: timings are noisy)")
    print(f"projection: {args.peak_tflops:g} TFLOP/s peak (H100 SXM, dense bf16) x {args.utilisation:.0%} utilisation "
          f"= {args.peak_tflops * args.utilisation:g} TFLOP/s sustained on one H100")
    print(f"inputs (params.yaml at scale: paper): pre-training steps and global batch from pretrain.distill.<m>.train "
          f"and pretrain.continual.<m>.train, rows of {L} tokens (tokenize.corpus_max_length), "
          f"mask_probability {params['pretrain']['engine']['mask_probability']}; fine-tuning epochs / batch / eval "
          f"batch from finetune.<task> + finetune.common; {len(grid['models'])} models x grid datasets x seeds {seeds}")
    print("\n## measured steps (FLOPs: FlopCounterMode incl. CPU SDPA; analytic: 6N tokens + attention + heads)")
    print("cpu s: median of the timed runs (after one counted warm-up); naive: pre-training counted on 1 row x rows, "
          "fine-tuning the same rows at max length from the exact F(B, W) fit")
    rows = []
    for s in steps:
        med = statistics.median(s["cpu_s"])
        rows.append({"step": s["job"], "shape": s["shape"], "attn": s["attention"],
                     "cpu s (median)": round(med, 2), "runs": len(s["cpu_s"]),
                     "GFLOP counted": round(s["flops"] / 1e9, 1), "GFLOP analytic": round(s["analytic"] / 1e9, 1),
                     "analytic/counted": round(s["analytic"] / s["flops"], 3),
                     "naive GFLOP": round(s["naive_flops"] / 1e9, 1),
                     "ours/naive": round(s["flops"] / s["naive_flops"], 3),
                     "CPU GFLOP/s": round(s["flops"] / med / 1e9, 1),
                     "of CPU peak": round(s["flops"] / med / cpu_peak, 2)})
    print(pd.DataFrame(rows).to_string(index=False))
    if ft:
        worst = max(r["fit_vs_count"] for r in ft.values())
        print(f"fine-tuning F(B, W) = B (a W + b W^2 + c), training and evaluation, fit on 3 counted shapes (1 x 8/16/32): "
              f"worst relative error against the counted step above {worst:.1e}")

    print(f"\n## datasets (tokenizer: {tok_note})")
    drows = []
    for d, info in data.items():
        lens = info["lengths"]
        hp = hyperparameters(params, info["task"], grid["models"][0])
        ps = padding_stats(lens["train"], int(hp["batch_size"]), seeds[0], info["max_length"])
        drows.append({"dataset": d, "task": info["task"], "train": len(lens["train"]), "val": len(lens["validation"]),
                      "test": len(lens["test"]), "median len": int(np.median(lens["train"])),
                      "max len": info["max_length"], "real tok (train)": ps["real_tokens"],
                      "pad ours": round(ps["ours_factor"], 2), "pad naive": round(ps["naive_factor"], 2),
                      "pad grouped": round(ps["grouped_factor"], 2),
                      "source": info["source"]})
        info["padding"] = ps
    with pd.option_context("display.max_colwidth", 90):
        print(pd.DataFrame(drows).to_string(index=False))
    print("pad = padded positions / real tokens over one training epoch (ours: batch max, our loop's random "
          "batches of 16; naive: every row at max length; grouped: what a length-grouped sampler would give, "
          "not used in the projection)")
    if corpus:
        print(f"PubMed sample: {corpus['documents']} abstracts, median {corpus['tokens_per_abstract_median']:.0f} "
              f"tokens, {corpus['abstracts_over_max_length']} over {L}; packed rows pad 1.00 (what we and HF run_mlm "
              f"train on); one abstract per row padded to {L} would be {corpus['per_abstract_padding_factor']:.2f} "
              "(not counted as a difference: HF packs too)")

    print("\n## projection (PFLOP = 1e15 FLOPs; GPU-h on one H100 at the stated utilisation)")
    prow = [{"stage": j["stage"], "jobs": j["jobs"], "work": j["work"], "PFLOP ours": round(j["ours"] / 1e15, 1),
             "GPU-h ours": round(j["gpu_h_ours"], 2), "PFLOP naive": round(j["naive"] / 1e15, 1),
             "GPU-h naive": round(j["gpu_h_naive"], 2), "ours/naive": round(j["ours/naive"], 3)} for j in jobs]
    print(pd.DataFrame(prow).to_string(index=False))
    print("naive = stock *ForMaskedLM forward (full-vocabulary logits at every position, student and teacher) in "
          "pre-training; padding to max length in fine-tuning.  Same FLOPs, not counted: teacher no_grad vs "
          "inference_mode, eager vs SDPA, returned maps/hidden states, corpus packing.")
    if not any(i["measured_lengths"] for i in data.values()):
        print("WARNING: no measured lengths (COMPACTBIO_REAL_DATA unset): fine-tuning rows assumed at max length, "
              "so its ours/naive is 1 by construction")

    if args.out:
        clean = [{k: v for k, v in s.items() if not k.startswith("_")} for s in steps]
        doc = {"assumptions": {"peak_flops": peak, "utilisation": args.utilisation, "seeds": seeds,
                               "micro_batch": args.micro_batch, "ft_rows": args.ft_rows, "repeats": args.repeats,
                               "tokenizer": tok_note, "params": str(args.params)},
               "cpu": {"threads": torch.get_num_threads(), "matmul_peak": cpu_peak, "loadavg_start": load0[0],
                       "loadavg_end": os.getloadavg()[0]},
               "steps": clean, "projection": jobs, "finetune_jobs": ft_detail, "corpus": corpus,
               "datasets": {d: {k: v for k, v in i.items() if k != "lengths"} | {"rows": {s: len(x) for s, x in
                            i["lengths"].items()}} for d, i in data.items()}}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc, indent=2, default=float), encoding="utf-8")
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
