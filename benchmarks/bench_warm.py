"""Per-job start-up with and without the warm worker, on a real (tiny) fine-tuning job.

    python benchmarks/bench_warm.py [--repeats 5]

Builds a tiny BERT and a tiny NER set (the fine-tuning tests' fixtures),
then runs the same `compactbio finetune` job `--repeats` times as a fresh
process (COMPACTBIO_WORKER=off) and `--repeats` times through one warm worker
(compactbio.workflow.warm), alternating, and prints the median wall time of
each, the time saved per job, and checks that every run wrote byte-identical
outputs.  Also times a no-op job (`compactbio check-params`) both ways.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "finetune"))
import ft_helpers as H  # noqa: E402

from compactbio.workflow import warm  # noqa: E402


def wait_ready(handle, timeout: float = 600) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if handle.proc.poll() is not None:
            raise SystemExit("the worker exited during start-up")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(handle.address)
            return time.perf_counter() - t0
        except OSError:
            time.sleep(0.05)
        finally:
            s.close()
    raise SystemExit("the worker did not start")


def timed(cmd, cwd, env) -> float:
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tok = H.build_tokenizer(tmp / "tok")
        model = H.build_model(tmp / "model", tok, "bert")
        prepared, data = H.make_dataset(tmp, "ner", tok, sizes=(48, 16, 16))
        (tmp / "params.yaml").write_text((ROOT / "params.yaml").read_text())
        base = warm.snakemake_job_env({k: v for k, v in __import__("os").environ.items() if k != warm.ENV})
        handle = warm.start(base, tmp / "worker.log")
        ready = wait_ready(handle)
        envs = {"fresh": {**base, warm.ENV: "off"}, "worker": {**base, warm.ENV: handle.address}}
        times = {(job, mode): [] for job in ("finetune", "no-op") for mode in envs}
        outputs = set()
        try:
            for i in range(args.repeats):
                for mode, env in envs.items():
                    out = f"runs/{mode}{i}"
                    cmd = ["compactbio", "finetune", "--model", "biobert", "--dataset", "ncbi-disease", "--seed",
                           "1", "--model-dir", str(model), "--data", str(data), "--prepared", str(prepared),
                           "--out", out]
                    times["finetune", mode].append(timed(cmd, tmp, env))
                    outputs.add(tuple((p.name, p.read_bytes()) for p in sorted((tmp / out).iterdir())))
                    times["no-op", mode].append(timed(["compactbio", "check-params"], tmp, env))
        finally:
            handle.stop()
        served = (tmp / "worker.log").read_text().count(" ended: exit 0")
    print(f"worker ready {ready:.1f} s after start; it served {served} of {2 * args.repeats} worker-mode jobs")
    for job in ("finetune", "no-op"):
        fresh, worker = (statistics.median(times[job, m]) for m in ("fresh", "worker"))
        print(f"{job:<9} median of {args.repeats}: fresh process {fresh:.2f} s, through the worker {worker:.2f} s: "
              f"{fresh - worker:.2f} s saved per job ({fresh / worker:.1f}x)")
    print("outputs of all fine-tuning runs identical:", "yes" if len(outputs) == 1 else f"NO ({len(outputs)} variants)")


if __name__ == "__main__":
    main()
