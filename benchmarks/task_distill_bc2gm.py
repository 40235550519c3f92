"""Task distillation on the real BC2GM: the distilled BiLSTM against the same BiLSTM without the teacher.

A short CPU run of the study's own stages on real data.  Each pair of
students is the paper-size BiLSTM (embedding 300, 2 x 300 bidirectional,
classifier 256) on the same N-fold augmented training set, with the same
seed, batches and number of optimizer steps; only the loss differs
(``alpha * T^2 KL + (1 - alpha) CE`` against CE alone).  Prints the
word-level test F1 of the teacher and of each pair, with a paired bootstrap
of the difference over test sentences, and writes
``summary.json`` to the work folder.

The study's teacher is a fine-tuned BioBERT, which cannot be had offline.
``--teacher bert`` runs the pipeline's own teacher rule on the grid's
``biobert`` at demo size, MLM-trained on the text at hand (the PubMed sample
plus the BC2GM *training* sentences, labels dropped); trained from scratch on
a CPU it tags worse than the BiLSTM itself.  ``--teacher bilstm`` (the
default) is the same BiLSTM trained for whole epochs on the original training
set: a trained student folder, which the student stage accepts as
``--teacher``.

    COMPACTBIO_REAL_DATA=/work/shared/data python benchmarks/task_distill_bc2gm.py --work /tmp/td-bc2gm

About 35 minutes on 2 CPU cores with the defaults, plus 15 per extra seed.
A rerun with the same work folder reuses the data, the teacher and the
finished students.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from compactbio.data.readers.ner import read_tsv
from compactbio.io import read_jsonl
from compactbio.metrics.bootstrap import paired_bootstrap

ROOT = Path(__file__).resolve().parents[1]
RUNS = "runs/task_distill/bc2gm"
logger = logging.getLogger("task_distill_bc2gm")


def merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def write_corpus(real: Path, dest: Path) -> None:
    """The tokenizer's (and the BERT teacher's MLM) text: the PubMed sample and BC2GM's training sentences."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(real / "pubmed" / "PubMedAbstract_1MB.txt", dest / "PubMedAbstract_1MB.txt")
    train = real / "biobert" / "datasets" / "NER" / "BC2GM" / "train.tsv"
    lines = [" ".join(sentence["tokens"]) for sentence in read_tsv(train, None, "train")]
    (dest / "bc2gm_train_text.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    logger.info("corpus: PubMed sample + %d BC2GM training sentences in %s", len(lines), dest)


def bilstm_training(**over) -> dict:
    return {"epochs": 1000, "batch_size": 32, "learning_rate": 1.0e-3, "warmup_fraction": 0.0, "weight_decay": 0.01,
            "max_grad_norm": 1.0, "eval_batch_size": 64, "num_threads": 1, "max_steps": None, **over}


def study_params(real: Path, corpus: Path, args) -> dict:
    """The repository's params.yaml on real data, with the study's short-run settings."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["sources"]["biobert"]["demo"] = {"path": {"path": str(real / "biobert"), "link": True}}
    raw["sources"]["pubmed"]["demo"] = {"path": str(corpus)}
    return merge(raw, {
        "scale": "demo",
        "pretrain": {"base": {"biobert": {"mlm": {"steps": {"demo": args.mlm_steps}}}}},
        "task_distill": {
            "dataset": "bc2gm", "students": ["bilstm"], "distill": [False, True], "augment_sizes": [args.augment],
            "loss": {"alpha": args.alpha, "temperature": args.temperature},
            "teacher_training": {"epochs": {"demo": args.teacher_epochs}, "learning_rate": {"demo": 5.0e-4},
                                 "batch_size": {"demo": 32}, "num_threads": {"demo": 2}},
            "models": {"bilstm": {"embedding_size": 300, "hidden_size": 300, "classifier_size": 256,
                                  "training": bilstm_training(max_steps=args.steps)}},   # both students stop here
            "latency": {"sentences": 100}}})


def teacher_params(params: dict, args) -> dict:
    """The BiLSTM teacher: the students' settings, trained for whole epochs on the original set (no step cap)."""
    return merge(params, {"task_distill": {"models": {"bilstm": {
        "training": bilstm_training(epochs=args.teacher_epochs, num_threads=2)}}}})


def write_params(path: Path, params: dict) -> Path:
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return path


def student_cmd(params: Path, mode: str, augment: int, out: str, teacher: str | None) -> list[str]:
    cmd = ["compactbio", "--params", str(params), "--log", out.replace("runs/", "logs/", 1) + ".log",
           "task-student", "--student", "bilstm", "--mode", mode, "--augment", str(augment),
           "--vocab", "models/biobert", "--data", "data/tokenized/biobert/bc2gm", "--prepared", "data/prepared/bc2gm",
           "--out", out]
    return cmd + (["--teacher", teacher] if teacher else [])


def run_all(cmds: list[list[str]], work: Path) -> None:
    """Run the commands side by side (one core each); raise if any fails."""
    procs = [subprocess.Popen(c, cwd=work, stdout=subprocess.DEVNULL) for c in cmds]
    failed = [" ".join(c) for c, p in zip(cmds, procs) if p.wait() != 0]
    if failed:
        raise RuntimeError(f"failed (logs under {work / 'logs'}): {failed}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, required=True, help="work folder (created; reused by a rerun)")
    ap.add_argument("--teacher", choices=["bilstm", "bert"], default="bilstm")
    ap.add_argument("--teacher-epochs", type=int, default=6, help="epochs of the teacher on the original set")
    ap.add_argument("--steps", type=int, default=1200, help="optimizer steps of each student (batch 32)")
    ap.add_argument("--augment", type=int, default=3, help="augmentation size N of the students' training set")
    ap.add_argument("--seeds", type=int, nargs="+", default=[42], help="student seeds (each a plain/distilled pair)")
    ap.add_argument("--alpha", type=float, default=0.5, help="weight of the soft (teacher) loss")
    ap.add_argument("--temperature", type=float, default=2.0)
    ap.add_argument("--mlm-steps", type=int, default=400, help="MLM steps of the BERT teacher's base model")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    real = Path(os.environ.get("COMPACTBIO_REAL_DATA", ""))
    if not (real / "biobert" / "datasets" / "NER" / "BC2GM").is_dir():
        logger.error("set COMPACTBIO_REAL_DATA to the real data folder (with biobert/datasets/NER/BC2GM)")
        return 2
    work = args.work.resolve()
    write_corpus(real, work / "corpus")
    params = study_params(real, work / "corpus", args)
    students_yaml = write_params(work / "params.yaml", params)
    teacher = f"{RUNS}/teacher" if args.teacher == "bert" else f"{RUNS}/teacher-bilstm"
    targets = ["models/biobert", "data/prepared/bc2gm", "data/tokenized/biobert/bc2gm"]
    targets += [teacher] if args.teacher == "bert" else []
    snakemake = ["snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(work), "--cores", "2", *targets]
    if subprocess.run(snakemake).returncode:
        logger.error("snakemake failed; see the logs under %s/logs", work)
        return 1
    if args.teacher == "bilstm" and not (work / teacher).is_dir():
        teacher_yaml = write_params(work / "params-teacher.yaml", teacher_params(params, args))
        run_all([student_cmd(teacher_yaml, "base", 1, teacher, None)], work)
    names = [f"bilstm-base-n{args.augment}", f"bilstm-kd-n{args.augment}"]
    todo = []
    for seed in args.seeds:
        seed_yaml = write_params(work / f"params-seed{seed}.yaml", merge(params, {"task_distill": {"seed": seed}}))
        todo += [student_cmd(seed_yaml, n.split("-")[1], args.augment, f"{RUNS}/seed{seed}/{n}",
                             teacher if "-kd-" in n else None)
                 for n in names if not (work / RUNS / f"seed{seed}" / n).is_dir()]
    for k in range(0, len(todo), 2):   # two at a time, one core each
        run_all(todo[k:k + 2], work)

    def score(run: str, seed: int | None = None) -> dict:
        m = json.loads((work / run / "metrics.json").read_text())
        if seed is not None:   # a reused student must have been made with these settings
            loss = [m["loss"]["alpha"], m["loss"]["temperature"]] if m["loss"] else None
            made = (m["seed"], m["augment"], m["steps"], loss)
            want = (seed, args.augment, args.steps, [args.alpha, args.temperature] if m["distill"] else None)
            if made != want:
                raise SystemExit(f"{work / run}: made with (seed, augment, steps, [alpha, T]) {made}, not {want}; "
                                 f"use a new --work")
        return {"test_f1": m["test"]["f1"], "steps": m["steps"], "parameters": m["parameters"]}

    def compare(seed: int) -> dict:
        """Paired bootstrap over test sentences: distilled against plain, same seed."""
        base, kd = (read_jsonl(work / RUNS / f"seed{seed}" / n / "per_example.jsonl") for n in names)
        return paired_bootstrap(kd, base, "ner")

    summary = {"teacher": {"kind": args.teacher, **score(teacher)}, "augment": args.augment, "alpha": args.alpha,
               "temperature": args.temperature,
               "seeds": {seed: {**{n: score(f"{RUNS}/seed{seed}/{n}", seed) for n in names}, "bootstrap": compare(seed)}
                         for seed in args.seeds}}
    (work / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"real BC2GM: {args.teacher} teacher, test F1 {100 * summary['teacher']['test_f1']:.2f}; "
          f"BiLSTM students on x{args.augment} augmented data, alpha {args.alpha}, T {args.temperature}")
    print(f"{'seed':>6}{'steps':>8}{'plain F1':>10}{'distilled F1':>14}{'difference':>12}{'95% CI':>16}{'p':>8}")
    for seed, runs in summary["seeds"].items():
        base, kd, boot = runs[names[0]], runs[names[1]], runs["bootstrap"]
        assert base["steps"] == kd["steps"]
        ci = f"[{100 * boot['ci_low']:+.2f}, {100 * boot['ci_high']:+.2f}]"
        print(f"{seed:>6}{kd['steps']:>8}{100 * base['test_f1']:>10.2f}{100 * kd['test_f1']:>14.2f}"
              f"{100 * (kd['test_f1'] - base['test_f1']):>+12.2f}{ci:>16}{boot['p_value']:>8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
