"""``compactbio rehearsal``: run ``scale: paper`` offline, at paper dimensions, with the work capped.

The rehearsal is a params switch (``rehearsal.enabled`` in params.yaml, see
:func:`compactbio.params.apply_caps`): on a cluster a user flips it and runs
the usual ``snakemake --profile slurm all_tables``, with the real downloads.
This command is the same rehearsal for a machine without internet, such as
CI: it writes a work folder holding

* ``params.yaml``: the project's params at ``scale: paper`` with the
  rehearsal on, every raw source replaced by a local ``path:`` under
  ``--data`` (the layout of the extracted BioBERT archive, ``chemprot/``,
  ``pubmed/``), and the grid and tables cut down to the datasets found there;
* ``hub/``: a Hugging Face hub cache written by
  :mod:`compactbio.models.hub_mirror` for every hub model of the params, so
  ``from_pretrained(repo_id, revision=...)`` resolves as after a download
  (random weights at paper size, the repositories' real file sets);

and runs Snakemake on it with the project's own Snakefile
(``--directory`` the work folder), with ``HF_HUB_CACHE`` pointing at the
mirror and ``HF_HUB_OFFLINE=1``, as a compute node sees it after
``compactbio prefetch``.  Nothing in the stages knows it is rehearsing
beyond the capped values.  It reports the wall time, the peak memory of the
whole process tree and of the largest single job, and the job count, in
``<work>/rehearsal.json``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

from ..io import write_json
from ..params import cap_targets, load_params, resolve
from . import graph

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[3]


def available_datasets(raw: dict, data: Path) -> list[str]:
    """Dataset ids whose files exist under ``data/<source>/<path>``."""
    found = []
    for name, ds in raw["datasets"].items():
        where = data / ds["source"] / ds.get("path", ".")
        files = [where / f for f in (ds.get("files") or {}).values()] or [where]
        if all(f.exists() for f in files):
            found.append(name)
    return found


def rehearsal_params(raw: dict, data: Path, threads: int | None = 1) -> dict:
    """The project's params at paper scale, rehearsing on the local copies of the datasets in ``data``."""
    p = copy.deepcopy(raw)
    p["scale"] = "paper"
    p["rehearsal"]["enabled"] = True
    have = set(available_datasets(raw, data))
    corpus = p["grid"]["corpus"]
    if corpus not in have:
        raise FileNotFoundError(f"{data}: no copy of the pre-training corpus '{corpus}' "
                                f"({data / raw['datasets'][corpus]['source']})")
    for task in ("ner", "re", "qa"):
        p["grid"][task] = [d for d in p["grid"][task] if d in have]
    used = set(graph.finetune_datasets(p)) | {corpus}
    for source in {p["datasets"][d]["source"] for d in used}:
        p["sources"][source] = {"path": str((data / source).resolve())}
    for name in list(p["tables"]):
        spec = p["tables"][name]
        if name == "style" or "datasets" not in spec:
            continue
        spec["datasets"] = [d for d in spec["datasets"] if d in used]
        if not spec["datasets"]:
            del p["tables"][name]
    tables = set(p["tables"])
    for spec in p["tables"].values():
        if "tables" in spec:
            spec["tables"] = [t for t in spec["tables"] if t in tables]
    td = p.get("task_distill")
    if td and td["dataset"] not in used:
        raise FileNotFoundError(f"{data}: no copy of the task-distillation dataset '{td['dataset']}'")
    # Caps of what the local copies replace (a download's file count) have nothing left to cap.
    paper = resolve({k: v for k, v in p.items() if k != "rehearsal"}, "paper")
    p["rehearsal"]["caps"] = {k: v for k, v in p["rehearsal"]["caps"].items() if cap_targets(paper, k)}
    if threads:   # jobs share the machine's cores: one torch thread each, as at demo scale
        p["finetune"]["common"]["num_threads"] = threads
        if td:
            td["teacher_training"]["num_threads"] = threads
            for m in td["models"].values():
                m["training"]["num_threads"] = threads
    return p


def hub_models(params: dict) -> dict[str, str | None]:
    """Hub repository id -> revision of every base model, at the params' scale."""
    res = resolve(params)
    return {cfg["hub"]: cfg.get("revision") for cfg in res["pretrain"]["base"].values() if cfg.get("hub")}


def vocab_texts(params: dict, data: Path) -> list[Path]:
    """Real text for the mirror's vocabularies: the corpus and the NER training files."""
    files = sorted((data / params["datasets"][params["grid"]["corpus"]]["source"]).rglob("*.txt"))
    for d in params["grid"]["ner"]:
        ds = params["datasets"][d]
        train = data / ds["source"] / ds["path"] / "train.tsv"
        if train.is_file():
            files.append(train)
    return files


class PeakMemory:
    """Samples the resident memory of a process tree: peak of the sum, and of the largest process."""

    def __init__(self, pid: int, every: float = 0.5):
        self.pid, self.every = pid, every
        self.total = self.single = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.is_set():
            rss = []
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            for proc in procs:
                try:
                    rss.append(proc.memory_info().rss)
                except psutil.Error:
                    pass
            if rss:
                self.total, self.single = max(self.total, sum(rss)), max(self.single, max(rss))
            self._stop.wait(self.every)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _models_summary(work: Path) -> dict:
    out = {}
    for cfg in sorted((work / "models").glob("*/config.json")):
        c = json.loads(cfg.read_text(encoding="utf-8"))
        out[cfg.parent.name] = {k: c.get(k) for k in ("model_type", "hidden_size", "dim", "num_hidden_layers",
                                                     "n_layers", "vocab_size") if k in c}
    return out


def run(params: dict, data: Path, work: Path, targets: list[str], cores: int, size: str,
        params_path: Path = Path("params.yaml"), snakefile: Path | None = None,
        dry_run: bool = False) -> dict:
    """Write the work folder, mirror the hub models, run Snakemake; return the summary."""
    from ..models import hub_mirror

    data, work = Path(data).resolve(), Path(work).resolve()
    if not data.is_dir():
        raise FileNotFoundError(f"{data}: data folder not found (give --data, e.g. the real datasets' copy)")
    raw = load_params(params_path)
    reh = rehearsal_params(raw, data)
    work.mkdir(parents=True, exist_ok=True)
    (work / "params.yaml").write_text(
        "# Written by `compactbio rehearsal` from " + str(Path(params_path).resolve()) + "\n"
        + yaml.safe_dump(reh, sort_keys=False, width=120), encoding="utf-8")
    load_params(work / "params.yaml")   # the same validation every job does
    hub = work / "hub"
    models = hub_models(reh)
    started = time.perf_counter()
    hub_mirror.write_mirror(hub, models, size=size, vocab_text=vocab_texts(reh, data))
    mirror_s = time.perf_counter() - started
    logger.info("hub mirror of %d repositories in %s (%.0f s)", len(models), hub, mirror_s)
    env = {**os.environ, "HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cmd = ["snakemake", "--snakefile", str(snakefile or ROOT / "Snakefile"), "--directory", str(work),
           "--cores", str(cores), "--rerun-incomplete", *(["-n"] if dry_run else []), *targets]
    logger.info("running %s", " ".join(cmd))
    started = time.perf_counter()
    log_path = work / "rehearsal.log"
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
        with PeakMemory(proc.pid) as peak:
            rc = proc.wait()
    wall = time.perf_counter() - started
    text = log_path.read_text(encoding="utf-8", errors="replace")
    steps = re.findall(r"(\d+) of (\d+) steps \(100%\) done", text)
    summary = {"targets": targets, "cores": cores, "mirror_size": size, "returncode": rc,
               "wall_s": round(wall, 1), "mirror_s": round(mirror_s, 1),
               "jobs": int(steps[-1][1]) if steps else 0,
               "peak_rss_total_mib": round(peak.total / 2**20), "peak_rss_single_job_mib": round(peak.single / 2**20),
               "grid": {k: reh["grid"][k] for k in ("models", "ner", "re", "qa")},
               "tables": graph.table_names(reh), "models": _models_summary(work), "log": str(log_path),
               "python": sys.version.split()[0]}
    write_json(work / "rehearsal.json", summary)
    if rc != 0:
        tail = "\n".join(text.splitlines()[-30:])
        raise RuntimeError(f"rehearsal failed (snakemake exit {rc}); log {log_path}:\n{tail}")
    logger.info("rehearsal of %s: %d jobs in %.0f s, peak memory %d MiB (largest job %d MiB)",
                " ".join(targets), summary["jobs"], wall, summary["peak_rss_total_mib"],
                summary["peak_rss_single_job_mib"])
    return summary
