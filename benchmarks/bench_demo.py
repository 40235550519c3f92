"""Wall time and peak memory of the whole demo, end to end, and what dominates it.

    python benchmarks/bench_demo.py [--cores 2] [--keep DIR]

Runs `snakemake --cores N all_tables` in a fresh scratch copy of the workflow
(from nothing: synthetic data, tokenizers, models, fine-tunes, tables) while
sampling the resident memory of the whole process tree, then breaks the time
down per rule from the job logs and measures the fixed cost every job pays:
interpreter start-up and imports.
"""

from __future__ import annotations

import argparse
import logging
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from workflow_tools import copy_workflow  # noqa: E402

log = logging.getLogger("bench_demo")
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_demo(workdir: Path, cores: int) -> tuple[float, int]:
    start = time.perf_counter()
    # Snakemake's chatter goes to a file: an unread pipe would fill and stall every job writing to it.
    chatter = (workdir / "snakemake.out").open("w")
    proc = subprocess.Popen(["snakemake", "--cores", str(cores), "all_tables"],
                            cwd=workdir, stdout=chatter, stderr=subprocess.STDOUT, text=True)
    ps, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(ps))
        time.sleep(0.2)
    wall = time.perf_counter() - start
    chatter.close()
    if proc.returncode:
        raise SystemExit(f"demo failed:\n{(workdir / 'snakemake.out').read_text()[-3000:]}")
    return wall, peak


def job_seconds(workdir: Path) -> dict[str, list[float]]:
    """Per rule, each job's time from its first log line to the log's last write."""
    per_rule: dict[str, list[float]] = defaultdict(list)
    for logfile in (workdir / "logs").rglob("*.log"):
        first = logfile.open(encoding="utf-8", errors="replace").readline()
        m = STAMP.match(first)
        if not m:
            continue
        t0 = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        per_rule[logfile.relative_to(workdir / "logs").parts[0]].append(logfile.stat().st_mtime - t0)
    return per_rule


def startup_seconds(code: str, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="run in this folder (kept) instead of a temporary one")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = copy_workflow(args.keep or Path(tmp) / "wf")
        wall, peak = run_demo(workdir, args.cores)
        per_rule = job_seconds(workdir)

    n_jobs = sum(len(v) for v in per_rule.values())
    print(f"demo end to end: {wall:.1f} s wall, peak RSS of the process tree {peak / 2**30:.2f} GiB, "
          f"{n_jobs} jobs on {args.cores} cores")
    print(f"{'rule':<14}{'jobs':>6}{'sum s':>9}{'mean s':>9}")
    for rule, secs in sorted(per_rule.items(), key=lambda kv: -sum(kv[1])):
        print(f"{rule:<14}{len(secs):>6}{sum(secs):>9.1f}{statistics.mean(secs):>9.2f}")
    bare = startup_seconds("pass")
    cli = startup_seconds("import compactbio.cli")
    # transformers imports its modeling stack lazily: build a one-layer model so the import is really paid.
    heavy = startup_seconds("from transformers import BertConfig, BertForTokenClassification; "
                            "BertForTokenClassification(BertConfig(hidden_size=8, num_hidden_layers=1, "
                            "num_attention_heads=1, intermediate_size=8, vocab_size=10))")
    print(f"start-up per job: python {bare:.2f} s, compactbio CLI {cli:.2f} s, "
          f"torch+transformers with its modeling stack {heavy:.2f} s (paid by every training job)")
    trainers = sum(len(per_rule.get(r, [])) for r in per_rule if r in
                   ("finetune", "base_model", "distill", "continual"))
    print(f"imports alone: ~{trainers * heavy:.0f} CPU-s over {trainers} training jobs "
          f"(~{trainers * heavy / args.cores:.0f} s of wall time on {args.cores} cores)")


if __name__ == "__main__":
    main()
