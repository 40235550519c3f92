"""Student-training throughput of the pre-training engine vs a naive implementation.

For each paper recipe at a BERT-small teacher shape (4 layers x 512, 8 heads,
cased 28,996 vocabulary, sequences of 128) this times one optimizer step of

* the engine: ``DistillTask`` (teacher under inference_mode, encoder only, the
  vocabulary head at masked positions only, SDPA unless the recipe needs maps)
  + clipping + AdamW, exactly as ``compactbio.pretrain.engine.train`` runs it;
* a naive version: stock ``*ForMaskedLM`` forward of student and teacher with
  eager attention, hidden states and maps always returned, full-vocabulary
  logits at every position, teacher under ``no_grad``, the same loss terms.

It reports tokens/s (real tokens per second of student training), the
speed-up, and the engine's achieved FLOP/s -- the FLOPs it really performs,
counted by ``torch.utils.flop_counter`` over the teacher and student forward
and backward -- as a fraction of the machine's matmul peak in the same
precision (a large ``torch.matmul`` timed in this run).

    python benchmarks/bench_pretrain.py [--steps 3] [--batch 16] [--length 128]
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers import BertConfig, BertForMaskedLM

from compactbio.bench.flops import flop_counter_mode
from compactbio.distill import losses
from compactbio.distill.recipe import parse
from compactbio.distill.task import DistillTask
from compactbio.models.student import alternate_layers, random_bert
from compactbio.pretrain.data import Masker, collate

RECIPES = {
    "distilbiobert": ({"init": "alternate_layers"},
                      {"temperature": 2.0, "terms": [
                          {"loss": "output_kl", "weight": 5.0}, {"loss": "mlm", "weight": 2.0},
                          {"loss": "hidden_cosine", "weight": 1.0, "student_layers": [-1], "teacher_layers": [-1]}]}),
    "tinybiobert": ({"init": "random", "config": {"hidden_size": 256, "num_hidden_layers": 2,
                                                  "num_attention_heads": 8, "intermediate_size": 1024}},
                    {"temperature": 1.0, "terms": [
                        {"loss": "embedding_mse", "weight": 1.0, "projection": True},
                        {"loss": "hidden_mse", "weight": 1.0, "projection": True, "student_layers": [1, 2],
                         "teacher_layers": [2, 4]},
                        {"loss": "attention_mse", "weight": 1.0, "student_layers": [1, 2], "teacher_layers": [2, 4]},
                        {"loss": "output_soft_ce", "weight": 1.0}]}),
    "compactbiobert": ({"init": "alternate_layers"},
                       {"temperature": 2.0, "terms": [
                           {"loss": "mlm", "weight": 1.0},
                           {"loss": "hidden_cosine", "weight": 3.0, "student_layers": [1, 2], "teacher_layers": [2, 4]},
                           {"loss": "attention_kl", "weight": 3.0, "student_layers": [1, 2], "teacher_layers": [2, 4]},
                           {"loss": "output_kl", "weight": 5.0}]}),
}


def teacher_model(attn):
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=28996, hidden_size=512, num_hidden_layers=4, num_attention_heads=8,
                     intermediate_size=2048, attn_implementation=attn)
    return BertForMaskedLM(cfg).eval()


def make_batch(batch, length, vocab):
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(length // 2, length + 1, (batch,), generator=g).tolist()
    rows = [torch.cat([torch.tensor([101]), torch.randint(1000, vocab, (n - 2,), generator=g),
                       torch.tensor([102])]).numpy() for n in lengths]
    masker = Masker(mask_id=103, vocab_size=vocab, special_ids=(0, 100, 101, 102, 103))
    return collate(masker(rows, g), pad_id=0)


def naive_loss(student, teacher, projection, recipe, batch):
    """Stock HF forward everywhere: eager maps, all hidden states, full-vocabulary logits."""
    ids, am, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    with torch.no_grad():
        t = teacher(input_ids=ids, attention_mask=am, output_hidden_states=True, output_attentions=True)
    s = student(input_ids=ids, attention_mask=am, output_hidden_states=True, output_attentions=True)
    mask = labels != -100
    total = 0.0
    for term in recipe.terms:
        if term.loss == "mlm":
            v = torch.nn.functional.cross_entropy(s.logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
        elif term.loss == "output_kl":
            v = losses.output_kl(s.logits, t.logits, mask, recipe.temperature, term.direction)
        elif term.loss == "output_soft_ce":
            v = losses.output_soft_ce(s.logits, t.logits, mask, recipe.temperature)
        else:
            v = 0.0
            sl = [i if i >= 0 else len(s.hidden_states) + i for i in term.student_layers]
            tl = [i if i >= 0 else len(t.hidden_states) + i for i in term.teacher_layers]
            for a, b in zip(sl, tl):
                if term.loss in ("hidden_cosine", "hidden_mse", "embedding_mse"):
                    h = s.hidden_states[a]
                    h = projection(h) if term.projection else h
                    v = v + getattr(losses, term.loss)(h, t.hidden_states[b], am)
                else:
                    v = v + getattr(losses, term.loss)(s.attentions[a - 1], t.attentions[b - 1], am)
        total = total + term.weight * v
    return total


def build(name, attn_teacher, attn_student):
    spec, recipe_dict = RECIPES[name]
    recipe = parse(recipe_dict)
    teacher = teacher_model(attn_teacher)
    if spec["init"] == "alternate_layers":
        student = alternate_layers(teacher, attn_student)
    else:
        student = random_bert(teacher, spec["config"], 0, attn_student)
    return teacher, student, recipe


def time_steps(step, steps):
    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps


def matmul_peak(n=2048, reps=5):
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.matmul(a, b)
    t0 = time.perf_counter()
    for _ in range(reps):
        torch.matmul(a, b)
    return 2 * n ** 3 * reps / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--length", type=int, default=128)
    args = ap.parse_args()
    batch = make_batch(args.batch, args.length, 28996)
    tokens = int(batch["attention_mask"].sum())
    peak = matmul_peak()
    print(f"device: CPU, {torch.get_num_threads()} threads, fp32; matmul peak {peak / 1e9:.1f} GFLOP/s; "
          f"batch {args.batch} x <= {args.length} ({tokens} real tokens, "
          f"{int((batch['labels'] != -100).sum())} masked)")
    print(f"{'recipe':16s} {'engine tok/s':>13s} {'naive tok/s':>12s} {'speed-up':>9s} "
          f"{'engine GFLOP/s':>15s} {'of peak':>8s}")
    for name in RECIPES:
        needs_maps = parse(RECIPES[name][1]).needs_attentions
        attn = "eager" if needs_maps else "sdpa"
        teacher, student, recipe = build(name, attn, attn)
        task = DistillTask(student, teacher, recipe).train()
        opt = torch.optim.AdamW(task.parameters(), lr=1e-4)
        norms = task.norms(int((batch["labels"] != -100).sum()), batch["attention_mask"].sum(1).tolist())

        def engine_step():
            loss, _ = task(batch, norms)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(task.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)

        with flop_counter_mode() as fc:   # CPU attention counted too
            loss, _ = task(batch, norms)
            loss.backward()
        opt.zero_grad(set_to_none=True)
        flops = fc.get_total_flops()
        t_engine = time_steps(engine_step, args.steps)

        nteacher, nstudent, _ = build(name, "eager", "eager")
        proj = torch.nn.Linear(nstudent.config.hidden_size, 512)
        params = list(nstudent.parameters()) + list(proj.parameters())
        nopt = torch.optim.AdamW(params, lr=1e-4)
        nstudent.train()

        def naive_step():
            loss = naive_loss(nstudent, nteacher, proj, recipe, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            nopt.step()
            nopt.zero_grad(set_to_none=True)

        t_naive = time_steps(naive_step, args.steps)
        achieved = flops / t_engine
        print(f"{name:16s} {tokens / t_engine:13.0f} {tokens / t_naive:12.0f} {t_naive / t_engine:8.2f}x "
              f"{achieved / 1e9:15.1f} {achieved / peak:8.2f}", flush=True)


if __name__ == "__main__":
    main()
