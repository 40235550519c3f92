"""Wall time and peak memory of the whole demo, end to end, and what dominates it.

    python benchmarks/bench_demo.py [--cores 2] [--keep DIR] [--no-worker]

Runs `snakemake --cores N all_tables` in a fresh scratch copy of the workflow
(from nothing: synthetic data, tokenizers, models, fine-tunes, tables) while
sampling the memory of the whole process tree, then breaks the time down per
rule from the job logs, says how many jobs the warm worker served
(compactbio.workflow.warm; `--no-worker` runs every job as a fresh process,
COMPACTBIO_WORKER=off), and measures the fixed cost a fresh job pays:
interpreter start-up and imports.

Memory: the sum of RSS counts pages shared between processes once per
process (forked children share the worker's imported libraries; separate
processes share the libraries' code pages), so the proportional set size
(PSS, shared pages divided among their users) is reported too.
"""

from __future__ import annotations

import argparse
import logging
import os
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

from compactbio.workflow import warm  # noqa: E402

log = logging.getLogger("bench_demo")
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def _pss(pid: int) -> int:
    """Proportional set size in bytes (Linux smaps_rollup); 0 where it cannot be read."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_memory(proc: psutil.Process, with_pss: bool) -> tuple[int, int]:
    """(sum of RSS, sum of PSS or 0) over the process and all its descendants."""
    rss = pss = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            rss += p.memory_info().rss
        except psutil.Error:
            continue
        if with_pss:
            pss += _pss(p.pid)
    return rss, pss


# Sampling must not slow what it measures: RSS (/proc/<pid>/statm) every half second; PSS, for which the
# kernel walks every page table of every process (smaps_rollup), only every tenth sample.  At 0.2 s with
# PSS each time, the sampler alone took about a sixth of a core.
SAMPLE_S = 0.5
PSS_EVERY = 10


def run_demo(workdir: Path, cores: int, worker: bool) -> tuple[float, int, int, float]:
    start = time.perf_counter()
    env = dict(os.environ)
    env.pop(warm.ENV, None)
    if not worker:
        env[warm.ENV] = "off"
    # Snakemake's chatter goes to a file: an unread pipe would fill and stall every job writing to it.
    chatter = (workdir / "snakemake.out").open("w")
    cpu0 = time.process_time()
    proc = subprocess.Popen(["snakemake", "--cores", str(cores), "all_tables"], env=env,
                            cwd=workdir, stdout=chatter, stderr=subprocess.STDOUT, text=True)
    ps, peak_rss, peak_pss, n = psutil.Process(proc.pid), 0, 0, 0
    while proc.poll() is None:
        rss, pss = tree_memory(ps, with_pss=n % PSS_EVERY == 0)
        peak_rss, peak_pss, n = max(peak_rss, rss), max(peak_pss, pss), n + 1
        time.sleep(SAMPLE_S)
    wall = time.perf_counter() - start
    chatter.close()
    if proc.returncode:
        raise SystemExit(f"demo failed:\n{(workdir / 'snakemake.out').read_text()[-3000:]}")
    return wall, peak_rss, peak_pss, time.process_time() - cpu0


def worker_summary(workdir: Path) -> str:
    """Jobs the warm worker ran, and why it refused any (from its log)."""
    log = workdir / warm.LOG
    if not log.exists():
        return "warm worker: not started"
    text = log.read_text(encoding="utf-8", errors="replace")
    ready = re.search(r"ready in ([\d.]+) s", text)
    ended = len(re.findall(r"job \d+ ended: ", text))
    refused = re.findall(r"refused .*?: (.*)", text)
    reasons = ", ".join(f"{n}x {r}" for r, n in sorted({r: refused.count(r) for r in refused}.items()))
    return (f"warm worker: ready {ready.group(1) + ' s' if ready else 'never'} after its start, "
            f"served {ended} jobs, refused {len(refused)}{': ' + reasons if reasons else ''}")


def job_seconds(workdir: Path) -> dict[str, list[float]]:
    """Per rule, each job's seconds: from the warm worker's log (fork to exit) for the jobs it served,
    else from the job's first log line to the log's last write (a log of one line reads as 0 s)."""
    per_rule: dict[str, list[float]] = defaultdict(list)
    served: set[Path] = set()
    worker_log = workdir / warm.LOG
    if worker_log.exists():
        started: dict[str, str] = {}
        for line in worker_log.read_text(encoding="utf-8", errors="replace").splitlines():
            if m := re.search(r"job (\d+) started: --log (\S+)", line):
                started[m.group(1)] = m.group(2)
            elif (m := re.search(r"job (\d+) ended: .* after ([\d.]+) s", line)) and m.group(1) in started:
                log = Path(started.pop(m.group(1)))
                served.add(workdir / log)
                per_rule[log.parts[1]].append(float(m.group(2)))
    for logfile in (workdir / "logs").rglob("*.log"):
        if logfile == worker_log or logfile in served:
            continue
        first = logfile.open(encoding="utf-8", errors="replace").readline()
        m = STAMP.match(first)
        if not m:
            continue
        t0 = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        per_rule[logfile.relative_to(workdir / "logs").parts[0]].append(logfile.stat().st_mtime - t0)
    return per_rule


def job_timeline(workdir: Path) -> list[dict]:
    """Every job Snakemake ran: rule, inputs, outputs, start and end (its 1-s stamps), from its chatter."""
    stamp = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
    jobs, by_id, now, job = [], {}, None, None
    for line in (workdir / "snakemake.out").read_text(errors="replace").splitlines():
        if m := stamp.match(line):
            now, job = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y").timestamp(), None
        elif m := re.match(r"^(?:local)?rule (\S+):$", line):
            job = {"rule": m.group(1), "start": now, "end": None, "input": [], "output": []}
            jobs.append(job)
        elif job is not None and (m := re.match(r"^    (input|output|jobid): (.*)$", line)):
            if m.group(1) == "jobid":
                by_id[m.group(2).strip()] = job
            else:
                job[m.group(1)] = m.group(2).split(", ")
        elif m := re.match(r"^Finished jobid: (\d+)", line):
            if m.group(1) in by_id:
                by_id[m.group(1)]["end"] = now
    return [j for j in jobs if j["start"] is not None and j["end"] is not None]


def schedule_bounds(jobs: list[dict], cores: int) -> dict:
    """Idle core-time of this run, and the two lower bounds on any schedule of the same jobs:
    the critical path (longest chain of dependent jobs, at this run's durations) and work / cores."""
    if not jobs:
        return {}
    producer = {o: j for j in jobs for o in j["output"]}
    order = sorted(jobs, key=lambda j: j["start"])
    for j in order:
        deps = [producer[i] for i in j["input"] if i in producer and producer[i] is not j]
        j["cp"] = (j["end"] - j["start"]) + max((d["cp"] for d in deps), default=0.0)
        j["via"] = max(deps, key=lambda d: d["cp"], default=None)
    events = sorted([(j["start"], 1) for j in jobs] + [(j["end"], -1) for j in jobs])
    idle, running, last = 0.0, 0, events[0][0]
    for t, delta in events:
        idle += max(0, cores - running) * (t - last)
        running, last = running + delta, t
    tail = max(jobs, key=lambda j: j["cp"])
    chain = []
    while tail is not None:
        chain.append(tail["rule"])
        tail = tail["via"]
    return {"wall": events[-1][0] - events[0][0], "idle": idle, "critical": max(j["cp"] for j in jobs),
            "work": sum(j["end"] - j["start"] for j in jobs), "chain": list(reversed(chain))}


def startup_seconds(code: str, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def machine_gflops(seconds: float = 2.0) -> float:
    """Single-thread float32 matmul speed, in a fresh process, to compare runs made at different times on
    a shared machine: the same demo took 264 s and 312 s here an hour apart, with this figure lower
    in the slower run."""
    code = ("import time, torch; torch.set_num_threads(1); a = torch.randn(256, 256); n = 0; "
            f"t = time.perf_counter()\nwhile time.perf_counter() - t < {seconds}: a @ a; n += 1\n"
            "print(n * 2 * 256 ** 3 / (time.perf_counter() - t) / 1e9)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return float(out.split()[-1])


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="run in this folder (kept) instead of a temporary one")
    ap.add_argument("--no-worker", action="store_true", help="no warm worker: every job a fresh process")
    args = ap.parse_args()

    speed_before = machine_gflops()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = copy_workflow(args.keep or Path(tmp) / "wf")
        wall, peak, peak_pss, sampler_cpu = run_demo(workdir, args.cores, worker=not args.no_worker)
        per_rule = job_seconds(workdir)
        served = worker_summary(workdir)
        bounds = schedule_bounds(job_timeline(workdir), args.cores)

    speed_after = machine_gflops()
    n_jobs = sum(len(v) for v in per_rule.values())
    print(f"demo end to end: {wall:.1f} s wall, peak memory of the process tree {peak / 2**30:.2f} GiB RSS "
          f"(PSS sampled every {SAMPLE_S * PSS_EVERY:.0f} s: {peak_pss / 2**30:.2f} GiB), {n_jobs} jobs on "
          f"{args.cores} cores; this sampler used {sampler_cpu:.1f} CPU-s")
    print(f"machine: single-thread matmul {speed_before:.1f} GFLOP/s before the run, {speed_after:.1f} after")
    print(served)
    if bounds:
        b = bounds
        print(f"schedule: cores idle {b['idle']:.0f} core-s of {args.cores * b['wall']:.0f} "
              f"({100 * b['idle'] / (args.cores * b['wall']):.0f}%); no order of these jobs beats "
              f"max(critical path {b['critical']:.0f} s, work / cores {b['work'] / args.cores:.0f} s); "
              f"critical path: {' > '.join(b['chain'])}")
    print(f"{'rule':<14}{'jobs':>6}{'sum s':>9}{'mean s':>9}")
    for rule, secs in sorted(per_rule.items(), key=lambda kv: -sum(kv[1])):
        print(f"{rule:<14}{len(secs):>6}{sum(secs):>9.1f}{statistics.mean(secs):>9.2f}")
    bare = startup_seconds("pass")
    cli = startup_seconds("import compactbio.cli")
    # transformers imports its modeling stack lazily: build a one-layer model so the import is really paid.
    heavy = startup_seconds("from transformers import BertConfig, BertForTokenClassification; "
                            "BertForTokenClassification(BertConfig(hidden_size=8, num_hidden_layers=1, "
                            "num_attention_heads=1, intermediate_size=8, vocab_size=10))")
    print(f"start-up per fresh job: python {bare:.2f} s, compactbio CLI {cli:.2f} s, "
          f"torch+transformers with its modeling stack {heavy:.2f} s (paid by every training job the warm worker "
          "does not serve; benchmarks/bench_warm.py times a job both ways)")
    trainers = sum(len(per_rule.get(r, [])) for r in per_rule if r in
                   ("finetune", "base_model", "distill", "continual"))
    if args.no_worker:
        print(f"imports alone: ~{trainers * heavy:.0f} CPU-s over {trainers} training jobs "
              f"(~{trainers * heavy / args.cores:.0f} s of wall time on {args.cores} cores)")


if __name__ == "__main__":
    main()
