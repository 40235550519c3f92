"""A no-op plan in each front end: `dvc status` beside `snakemake -n all` on a finished workflow.

Target: `dvc status` on an unchanged finished demo under 5 s, and `dvc commit -f` (the README's
step after a Snakemake run) under 60 s.  Where DVC spent the time before (cProfile of
`dvc status`): parsing params.yaml once for every stage that declares params (ruamel's pure-Python
parser, ~0.13 s of CPU each, ~220 stages), then a dvc.lock twice as large to parse, and `dvc
commit` rewriting that lock once per stage.  Now one stage (`params`) reads params.yaml and each
stage depends on a small values file (runs/params/<stage>.json); with --compare, the benchmark
also times the per-stage `params:` layout on the same files.

    python benchmarks/bench_dvc_status.py --workdir /path/to/finished/demo   # a copy is measured
    python benchmarks/bench_dvc_status.py            # builds the full grid with the stand-in CLI
                                                     # (tests/fake_compactbio.py: no training, minutes)

CPU seconds (user + sys of the child processes) are printed beside wall seconds: on a shared
machine the CPU figures are the steadier comparison.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent   # this interpreter's snakemake and dvc, never a shim's


def timed(cmd: list[str], cwd: Path, env: dict) -> tuple[float, float, str]:
    """(wall s, CPU s of the child, stdout) of one command, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{proc.stdout}{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout + proc.stderr


def median_of(cmd, cwd, env, repeats) -> tuple[float, float, str]:
    runs = [timed(cmd, cwd, env) for _ in range(repeats)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs), runs[-1][2]


def fake_build(dest: Path, env: dict) -> None:
    """The full grid of params.yaml 'built' by the stand-in CLI (every declared output, tiny files)."""
    dest.mkdir(parents=True)
    for name in ("Snakefile", "workflow", "params.yaml", ".gitignore", ".dvcignore"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dest / name)
    bindir = dest / ".bin"
    bindir.mkdir()
    (bindir / "compactbio").write_text(
        f"#!/bin/sh\nexec {sys.executable} {ROOT / 'tests' / 'fake_compactbio.py'} \"$@\"\n")
    (bindir / "compactbio").chmod(0o755)
    env["PATH"] = f"{bindir}:{env['PATH']}"
    with open(dest / ".gitignore", "a") as f:
        f.write("/.bin/\n")
    print(f"building the full grid with the stand-in CLI in {dest} (Snakemake, a few minutes)", flush=True)
    timed(["compactbio", "dvc-yaml"], dest, env)
    timed(["git", "init", "-q"], dest, env)
    timed(["dvc", "init", "-q"], dest, env)
    timed([str(BIN / "snakemake"), "--cores", "2", "all", "-q"], dest, env)


def per_stage_params_yaml(raw: dict) -> str:
    """The former layout, for --compare: every stage declares its keys against params.yaml."""
    from compactbio.workflow import graph

    doc = graph.dvc_stages(raw)
    doc["stages"].pop(graph.PARAMS_STAGE)
    for job in graph.jobs(raw):
        st = doc["stages"][graph.dvc_name(job)]
        st["deps"] = st["deps"][1:]
        st["params"] = list(job.params)
    return yaml.dump(doc, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False, width=200)


def measure(work: Path, env: dict, repeats: int, label: str) -> dict:
    commit_wall, commit_cpu, _ = timed([str(BIN / "dvc"), "commit", "-f", "-q"], work, env)
    status_wall, status_cpu, out = median_of([str(BIN / "dvc"), "status"], work, env, repeats)
    if "up to date" not in out:
        raise SystemExit(f"{label}: `dvc status` is not clean after `dvc commit -f`:\n{out[:2000]}")
    lock_lines = sum(1 for _ in open(work / "dvc.lock"))
    return {"label": label, "commit": (commit_wall, commit_cpu), "status": (status_wall, status_cpu),
            "lock_lines": lock_lines}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, help="a finished workflow (measured on a copy); default: a stand-in build")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--compare", action="store_true", help="also time the per-stage `params:` layout")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = ap.parse_args()

    from compactbio.params import load_params
    from compactbio.workflow import graph

    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    scratch = Path(tempfile.mkdtemp(prefix="bench_dvc_status-"))
    work = scratch / "wf"
    try:
        if args.workdir:
            print(f"copying {args.workdir} to {work}", flush=True)
            shutil.copytree(args.workdir, work, symlinks=True,
                            ignore=shutil.ignore_patterns(".snakemake_timestamp"))
            if not (work / ".dvcignore").exists():
                shutil.copy2(ROOT / ".dvcignore", work / ".dvcignore")
            if not (work / ".git").exists():
                timed(["git", "init", "-q"], work, env)
            if not (work / ".dvc").exists():
                timed([str(BIN / "dvc"), "init", "-q"], work, env)
            (work / "dvc.lock").unlink(missing_ok=True)
            timed(["compactbio", "dvc-yaml"], work, env)
            timed(["compactbio", "dvc-yaml", "--check", "--values", graph.VALUES_DIR], work, env)
        else:
            fake_build(work, env)
        raw = load_params(work / "params.yaml")
        n_stages = len(graph.jobs(raw)) + 1
        snake_wall, snake_cpu, out = median_of([str(BIN / "snakemake"), "-n", "--cores", "1", "all"],
                                               work, env, args.repeats)
        if "Nothing to be done" not in out:
            raise SystemExit(f"the workflow in {work} is not finished: `snakemake -n all` plans jobs")
        results = [measure(work, env, args.repeats, "params stage + values files")]
        if args.compare:
            (work / "dvc.yaml").write_text(per_stage_params_yaml(raw))
            (work / "dvc.lock").unlink()
            results.append(measure(work, env, args.repeats, "params: on every stage (before)"))
            timed(["compactbio", "dvc-yaml"], work, env)
        print(f"\n{n_stages} DVC stages; `snakemake -n all`: {snake_wall:.1f} s wall, {snake_cpu:.1f} s CPU "
              f"(median of {args.repeats})")
        print(f"{'layout':<34}{'dvc status':>20}{'vs snakemake -n':>17}{'dvc commit -f':>20}{'dvc.lock':>12}")
        for r in results:
            (sw, sc), (cw, cc) = r["status"], r["commit"]
            print(f"{r['label']:<34}{sw:>7.1f} s ({sc:>5.1f} CPU){sc / snake_cpu:>12.2f} CPU"
                  f"{cw:>8.1f} s ({cc:>5.1f} CPU){r['lock_lines']:>8} lines")
        if len(results) == 2:
            print(f"speed-up of `dvc status` (CPU): {results[1]['status'][1] / results[0]['status'][1]:.1f}x; "
                  f"of `dvc commit -f`: {results[1]['commit'][1] / results[0]['commit'][1]:.1f}x")
    finally:
        if args.keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
