"""The ``compactbio`` command: one subcommand per pipeline stage.

Snakemake and DVC call exactly these commands, so each takes explicit input
and output paths and nothing is discovered implicitly.  Heavy libraries
(torch, transformers) are imported only inside the stage that needs them,
which keeps start-up cheap for the many small jobs of the demo.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from pathlib import Path

from . import launch
from .logs import setup_logging
from .params import ParamsError, load_resolved
from .taskdistill.cli_stages import TASK_STAGES

log = logging.getLogger("compactbio")

# stage name -> (module, help text, [(flag, kwargs)...])
P = Path
STAGES: dict[str, tuple[str, str, list[tuple[str, dict]]]] = {
    "fetch": (
        "compactbio.data.fetch",
        "Obtain one raw source (download and verify, local path, hub dataset, or the synthetic demo set).",
        [("--source", dict(required=True, help="source id under `sources` in params.yaml")),
         ("--out", dict(required=True, type=P, help="folder for the raw files, e.g. data/raw/biobert"))],
    ),
    "prepare": (
        "compactbio.data.prepare",
        "Read one dataset from its raw format into canonical train/validation/test JSON lines.",
        [("--dataset", dict(required=True, help="dataset id under `datasets`")),
         ("--raw", dict(required=True, type=P, help="the source's raw folder (output of fetch)")),
         ("--out", dict(required=True, type=P, help="e.g. data/prepared/ncbi-disease"))],
    ),
    "tokenizer": (
        "compactbio.data.tokenizer",
        "Build a base model's tokenizer: train WordPiece on the corpus (demo) or take the hub model's (paper).",
        [("--model", dict(required=True, help="base model id under `pretrain.base`")),
         ("--corpus", dict(required=True, type=P, help="prepared corpus folder, e.g. data/prepared/pubmed")),
         ("--out", dict(required=True, type=P, help="e.g. models/tokenizers/biobert"))],
    ),
    "tokenize": (
        "compactbio.data.tokenize",
        "Tokenize a prepared dataset or corpus with a fast tokenizer into Arrow files (labels aligned to sub-words).",
        [("--tokenizer", dict(required=True, type=P, help="folder holding tokenizer.json (a tokenizer or model folder)")),
         ("--dataset", dict(required=True, type=P, help="prepared dataset folder")),
         ("--out", dict(required=True, type=P, help="e.g. data/tokenized/biobert/ncbi-disease"))],
    ),
    "base-model": (
        "compactbio.models.base",
        "Obtain a teacher or baseline: a hub snapshot (paper) or a tiny model of the same architecture "
        "briefly MLM-trained on the corpus (demo).",
        [("--model", dict(required=True, help="base model id under `pretrain.base`")),
         ("--tokenizer", dict(required=True, type=P, help="its tokenizer folder")),
         ("--corpus", dict(required=True, type=P, help="tokenized corpus for the demo MLM training")),
         ("--out", dict(required=True, type=P, help="e.g. models/biobert")),
         ("--workdir", dict(type=P, default=None, help="checkpoint folder (default runs/pretrain/<model>)"))],
    ),
    "distill": (
        "compactbio.distill.stage",
        "Distil a compact student from the teacher with the recipe under `pretrain.distill.<model>`.",
        [("--model", dict(required=True, help="student id under `pretrain.distill`")),
         ("--teacher", dict(required=True, type=P, help="teacher model folder")),
         ("--corpus", dict(required=True, type=P, help="corpus tokenized with the teacher's tokenizer")),
         ("--out", dict(required=True, type=P, help="e.g. models/distilbiobert")),
         ("--workdir", dict(type=P, default=None, help="checkpoint folder (default runs/pretrain/<model>)"))],
    ),
    "continual": (
        "compactbio.pretrain.continual",
        "Continue MLM pre-training of a compact general-domain model on the biomedical corpus.",
        [("--model", dict(required=True, help="model id under `pretrain.continual`")),
         ("--init", dict(required=True, type=P, help="folder of the model to start from")),
         ("--corpus", dict(required=True, type=P, help="corpus tokenized with that model's tokenizer")),
         ("--out", dict(required=True, type=P, help="e.g. models/biodistilbert")),
         ("--workdir", dict(type=P, default=None, help="checkpoint folder (default runs/pretrain/<model>)"))],
    ),
    "finetune": (
        "compactbio.finetune.stage",
        "Fine-tune one model on one dataset with one seed; select on validation, score the test split once.",
        [("--model", dict(required=True, help="model id (selects its hyperparameters)")),
         ("--dataset", dict(required=True, help="dataset id")),
         ("--seed", dict(required=True, type=int)),
         ("--model-dir", dict(required=True, type=P, help="pre-trained model folder")),
         ("--data", dict(required=True, type=P, help="tokenized dataset folder")),
         ("--prepared", dict(required=True, type=P, help="prepared dataset folder (gold words, golden answers)")),
         ("--out", dict(required=True, type=P, help="e.g. runs/finetune/biobert/ncbi-disease/seed42"))],
    ),
    "table": (
        "compactbio.report.stage",
        "Render one table of the paper (or an extra one) as LaTeX, Markdown and CSV.",
        [("--table", dict(required=True, help="table id under `tables`")),
         ("--runs", dict(required=True, type=P, help="fine-tuning runs root, e.g. runs/finetune")),
         ("--prepared", dict(required=True, type=P, help="prepared datasets root, e.g. data/prepared")),
         ("--out", dict(required=True, type=P, help="output folder, e.g. results/tables"))],
    ),
    "efficiency": (
        "compactbio.bench.efficiency",
        "Measure parameters, latency, throughput and peak memory of every architecture of the grid "
        "(the paper's Fig. 2), built from configs at the size `efficiency.size` selects.",
        [("--out", dict(required=True, type=P, help="e.g. results/efficiency"))],
    ),
    "score-cost": (
        "compactbio.bench.score_cost",
        "Each compact model's share of the reference's score against its share of the reference's latency.",
        [("--efficiency", dict(required=True, type=P, help="efficiency output folder")),
         ("--runs", dict(required=True, type=P, help="fine-tuning runs root, e.g. runs/finetune")),
         ("--out", dict(required=True, type=P, help="e.g. results/score_cost"))],
    ),
    "prefetch": (
        "compactbio.prefetch",
        "On the login node: download the scale's hub models into the HF cache and fetch every raw source "
        "into data/raw, so cluster jobs run offline (HF_HUB_OFFLINE=1).",
        [("--skip-hub", dict(action="store_true", help="do not download hub models")),
         ("--skip-data", dict(action="store_true", help="do not fetch raw sources")),
         ("--force", dict(action="store_true", help="fetch raw sources again even if data/raw/<source> exists"))],
    ),
}
STAGES.update(TASK_STAGES)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="compactbio",
        description="Pipeline stages for compact biomedical transformers. "
                    "Usually run through Snakemake or DVC; see README.md.",
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file (default params.yaml)")
    parser.add_argument("--log", default=None, help="also write the log to this file")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for name, (_, help_text, options) in STAGES.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        for flag, kwargs in options:
            sp.add_argument(flag, **kwargs)
    sub.add_parser("check-params", help="Validate params.yaml and exit.",
                   description="Validate params.yaml against the schema and cross-references.")
    sp = sub.add_parser("dvc-yaml", help="Render dvc.yaml from params.yaml (the DVC front end).",
                        description="Render dvc.yaml from the job graph of params.yaml. DVC's templating "
                                    "cannot express per-table dependency lists, so the file is generated.")
    sp.add_argument("--out", type=Path, default=Path("dvc.yaml"))
    sp.add_argument("--check", action="store_true", help="exit 1 if --out differs from a fresh render")
    sp = sub.add_parser("rehearsal", help="Rehearse scale: paper offline: paper-size models, real local data, "
                                          "capped work (params.yaml `rehearsal`).",
                        description="Write a work folder with params.yaml at scale: paper and the rehearsal on, "
                                    "sources from --data, a hub-layout mirror of every hub model, and run "
                                    "Snakemake on it with HF_HUB_OFFLINE=1. Reports wall time and peak memory.")
    sp.add_argument("targets", nargs="*", default=["all"], help="Snakemake targets (default: all, the whole grid)")
    sp.add_argument("--data", type=Path, required=True, help="local copies of the raw sources (biobert/, chemprot/, pubmed/)")
    sp.add_argument("--work", type=Path, required=True, help="work folder (created; rerunning resumes)")
    sp.add_argument("--cores", type=int, default=2)
    sp.add_argument("--size", choices=("paper", "tiny"), default="paper", help="dimensions of the mirrored hub models")
    sp.add_argument("--dry-run", action="store_true", help="plan the jobs only (snakemake -n)")
    sp = sub.add_parser("hub-mirror", help="Write an offline hub cache (RANDOM weights) to rehearse paper scale.",
                        description="Write hub repositories in the hub cache's own layout (blobs, refs, snapshots) "
                                    "with their real file sets and config keys but RANDOM weights and a stand-in "
                                    "vocabulary; use with HF_HUB_CACHE=DIR HF_HUB_OFFLINE=1.")
    sp.add_argument("repos", nargs="*", metavar="REPO_ID", help="default: every pretrain.base.*.hub at paper scale")
    sp.add_argument("--cache", type=Path, required=True, help="an empty folder (never a real hub cache)")
    sp.add_argument("--size", choices=("paper", "tiny"), default="paper", help="model dimensions")
    sp.add_argument("--vocab-text", type=Path, nargs="+", action="extend", default=[],
                    help="text files for the stand-in vocabulary (give REPO_IDs before this option)")
    return parser


def _dvc_yaml(params_path: Path, out: Path, check: bool) -> int:
    from .io import atomic_write_text
    from .params import load_params
    from .workflow.graph import render_dvc_yaml

    text = render_dvc_yaml(load_params(params_path))
    if check:
        current = out.read_text(encoding="utf-8") if out.exists() else ""
        if current != text:
            log.error("%s is stale: run `compactbio dvc-yaml` after changing the grid or tables", out)
            return 1
        log.info("%s is up to date", out)
        return 0
    atomic_write_text(out, text)
    log.info("wrote %s", out)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Pre-training stages that see several GPUs re-exec themselves under torchrun (one process per GPU).
    args.log = launch.torchrun_if_multi_gpu(args.stage, args.log, argv)
    setup_logging(args.log, logging.DEBUG if args.verbose else logging.INFO)
    try:
        params = load_resolved(args.params)
    except ParamsError as exc:
        log.error("%s", exc)
        return 2
    if args.stage == "check-params":
        log.info("%s is valid (scale: %s)", args.params, params["scale"])
        return 0
    if args.stage == "dvc-yaml":
        return _dvc_yaml(args.params, args.out, args.check)
    if args.stage == "hub-mirror":
        from .models.hub_mirror import run_cli

        return run_cli(args.params, args.cache, args.size, args.vocab_text, args.repos)
    if args.stage == "rehearsal":
        from .workflow import rehearsal

        try:
            rehearsal.run(params, args.data, args.work, args.targets, args.cores, args.size, args.params,
                          dry_run=args.dry_run)
        except (ValueError, FileNotFoundError, RuntimeError) as exc:
            log.error("rehearsal failed: %s", exc)
            return 1
        return 0
    module = importlib.import_module(STAGES[args.stage][0])
    kwargs = {k: v for k, v in vars(args).items() if k not in ("params", "log", "verbose", "stage")}
    if "workdir" in kwargs and kwargs["workdir"] is None:
        kwargs["workdir"] = Path("runs/pretrain") / kwargs["model"]
    try:
        module.run(params, **kwargs)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        # Input errors (bad files, missing folders) end with a clear message and exit 1;
        # the stage's atomic writes have already removed partial outputs.
        log.error("%s failed: %s", args.stage, exc)
        if args.verbose:
            raise
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
