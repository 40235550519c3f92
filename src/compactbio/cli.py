"""The ``compactbio`` command: one subcommand per pipeline stage.

Snakemake and DVC call exactly these commands, so each takes explicit input
and output paths and nothing is discovered implicitly.  Heavy libraries
(torch, transformers) are imported only inside the stage that needs them,
which keeps start-up cheap for the many small jobs of the demo.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from pathlib import Path

from . import launch
from .logs import setup_logging
from .params import ParamsError, load_resolved
from .cascade.cli_stages import CASCADE_STAGES
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
        "Tokenize a prepared dataset or corpus with a fast tokenizer into a `datasets` folder (save_to_disk; labels aligned to sub-words).",
        [("--tokenizer", dict(required=True, type=P, help="folder holding tokenizer.json (a tokenizer or model folder)")),
         ("--dataset", dict(required=True, type=P, help="prepared dataset folder")),
         ("--out", dict(required=True, type=P, help="e.g. data/tokenized/biobert/ncbi-disease"))],
    ),
    "base-model": (
        "compactbio.pretrain.base",
        "Obtain a teacher or baseline: a hub snapshot (paper) or a tiny model of the same architecture "
        "briefly MLM-trained on the corpus (demo).",
        [("--model", dict(required=True, help="base model id under `pretrain.base`")),
         ("--tokenizer", dict(required=True, type=P, help="its tokenizer folder")),
         ("--corpus", dict(required=True, type=P, help="tokenized corpus for the demo MLM training")),
         ("--init", dict(type=P, default=None, help="folder of the base model this one continues "
                                                    "(`pretrain.base.<model>.init`; v1.2 continues v1.1)")),
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
        "Render one table of the paper (or an extra one) as LaTeX, Markdown, CSV and HTML.",
        [("--table", dict(required=True, help="table id under `tables`")),
         ("--runs", dict(required=True, type=P, help="fine-tuning runs root, e.g. runs/finetune")),
         ("--prepared", dict(required=True, type=P, help="prepared datasets root, e.g. data/prepared")),
         ("--models", dict(type=P, default=None, help="model folders root (default models): footnotes "
                                                      "citing {sizes} count the parameters there")),
         ("--out", dict(required=True, type=P, help="output folder, e.g. results/tables"))],
    ),
    "results": (
        "compactbio.report.results",
        "Write every fine-tuning score of the grid as one tidy table (runs.csv, runs.parquet: model x dataset "
        "x seed x split x metric), the efficiency figures in long form and a learning-curve plot per dataset.",
        [("--runs", dict(required=True, type=P, help="fine-tuning runs root, e.g. runs/finetune")),
         ("--efficiency", dict(type=P, default=None, help="efficiency output folder, e.g. results/efficiency "
                                                          "(omit to skip efficiency.csv)")),
         ("--out", dict(required=True, type=P, help="e.g. results"))],
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
STAGES.update(CASCADE_STAGES)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="compactbio",
        description="Pipeline stages for compact biomedical transformers. "
                    "Usually run through Snakemake or DVC; see README.md.",
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file (default params.yaml)")
    parser.add_argument("--log", default=None, help="also write the log to this file")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--debug", action="store_true",
                        help="on failure, show the Python traceback instead of the one-line message")
    sub = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for name, (_, help_text, options) in STAGES.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        for flag, kwargs in options:
            sp.add_argument(flag, **kwargs)
    sub.add_parser("check-params", help="Validate params.yaml and exit.",
                   description="Validate params.yaml against the schema and cross-references.")
    sp = sub.add_parser("worker", help="Run a command (e.g. `dvc repro`) with a warm worker that imports torch and "
                                       "transformers once for all its compactbio jobs.",
                        description="Start a warm worker, run COMMAND with COMPACTBIO_WORKER pointing at it, stop it; "
                                    "exit with COMMAND's status. Snakemake starts one by itself for local runs.")
    sp.add_argument("command", nargs=argparse.REMAINDER, help="e.g. -- dvc repro")
    sp = sub.add_parser("dvc-yaml", help="Render dvc.yaml from params.yaml (the DVC front end).",
                        description="Render dvc.yaml from the job graph of params.yaml. DVC's templating "
                                    "cannot express per-table dependency lists, so the file is generated.")
    sp.add_argument("--out", type=Path, default=Path("dvc.yaml"))
    sp.add_argument("--check", action="store_true", help="exit 1 if --out differs from a fresh render")
    sp.add_argument("--values", type=Path, default=None, metavar="DIR",
                    help="with --check: when it passes, write each stage's resolved params values to "
                         "DIR/<stage>.json (the `params` stage of dvc.yaml; DIR must be runs/params)")
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


def _dvc_yaml(params_path: Path, out: Path, check: bool, values: Path | None = None) -> int:
    from .io import atomic_write_text
    from .params import load_params
    from .workflow.graph import VALUES_DIR, dvc_yaml_difference, render_dvc_yaml, write_values

    raw = load_params(params_path)
    text = render_dvc_yaml(raw)
    if check:
        current = out.read_text(encoding="utf-8") if out.exists() else ""
        if current != text:
            # One line, as DVC shows it when the dvc_yaml_check stage fails.
            log.error("%s is stale for %s (%s): run `compactbio dvc-yaml`, then the DVC command again "
                      "(`dvc exp run -S` can change values, not which jobs exist or which keys they read)",
                      out, params_path, dvc_yaml_difference(current, raw))
            return 1
        log.info("%s is up to date", out)
        if values is not None:
            # dvc.yaml names runs/params/<stage>.json; the files go where it says, beside --out.
            if values.as_posix().rstrip("/") != VALUES_DIR:
                log.error("--values: the stages of dvc.yaml read %s, not %s", VALUES_DIR, values)
                return 1
            log.info("%d values files written or removed in %s", write_values(raw, out.parent), VALUES_DIR)
        return 0
    atomic_write_text(out, text)
    log.info("wrote %s", out)
    return 0


# ------------------------------------------------------------------ one error path
# Every failure a user can cause ends in ONE line: the file (and line or record
# where there is one), the problem, what to do; exit status 1 (2 for params);
# no traceback unless --debug.  Stages raise ValueError (DataError) with the file
# already in the text; what they do not catch is classified here.
DISK_FULL = ("no space left on device", "storagefull", "disk quota exceeded", "file write failed",
             "errno 28", "os error 28", "code: 28")
INPUT_FLAGS = ("params", "source", "raw", "dataset", "tokenizer", "corpus", "teacher", "init", "model_dir", "data",
               "prepared", "runs", "models", "efficiency", "workdir", "compact", "fallback")
MODEL_DIRS = ("tokenizer", "model_dir", "teacher", "init")
CHECKPOINT_DIR = "checkpoint"   # pretrain.engine.CHECKPOINT (not imported: that pulls in torch)


class InputError(ValueError):
    """An input file that a stage would fail on deep inside a library, found before the stage runs."""


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _inputs(args) -> str:
    given = [f"{_flag(k)} {v}" for k in INPUT_FLAGS if (v := getattr(args, k, None)) is not None and k != "params"]
    return ", ".join(given)


def _is_disk_full(exc: BaseException) -> bool:
    import errno

    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc).lower()
    if type(exc).__name__ == "RuntimeError" and "inline_container" in text and \
            ("unexpected pos" in text or "writing" in text):
        return True  # torch.save on a full disk: "PytorchStreamWriter failed writing" / "unexpected pos N vs M"
    return type(exc).__name__ in ("SafetensorError", "RuntimeError", "OSError") and any(m in text for m in DISK_FULL)


def _hub_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("huggingface_hub")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def describe_failure(stage: str, exc: BaseException, args) -> str:
    """The one line a failed stage ends with."""
    out = getattr(args, "out", None)
    name = type(exc).__name__
    if _is_disk_full(exc):
        where = getattr(exc, "filename", None) or out or "the output folder"
        return (f"{stage} failed: {where}: no space left on device ({name}: {_one_line(exc)}); free disk space "
                f"or point --out at another disk, and rerun (the unfinished output was removed)")
    if stage == "rehearsal" and isinstance(exc, RuntimeError):
        return f"{stage} failed: {_one_line(exc)}"
    if isinstance(exc, (NotADirectoryError, FileExistsError)):
        where = exc.filename or out
        return (f"{stage} failed: {where}: a part of this path is a file, not a folder; choose an --out "
                "whose parent folders are folders")
    if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)) and exc.filename:
        return f"{stage} failed: {exc.filename}: {exc.strerror}; check the path (inputs: {_inputs(args)})"
    if _hub_error(exc):
        return (f"{stage} failed: Hugging Face hub: {name}: {_one_line(exc)}; check the `hub` id and `revision` "
                "in params.yaml (pretrain.base), the network, and HF_HUB_OFFLINE (run `compactbio prefetch` "
                "on a machine with network access first)")
    if isinstance(exc, (ValueError, FileNotFoundError, KeyError)):
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        text = _one_line(msg) if not isinstance(exc, ParamsError) else str(msg)
        return f"{stage} failed: {text}"
    return (f"{stage} failed: {name}: {_one_line(exc)} (while reading {_inputs(args) or 'its inputs'}; "
            f"this looks like malformed input: check those files, or rerun with --debug for the traceback)")


def _bad(path: Path, problem: str, fix: str) -> InputError:
    return InputError(f"{path}: {problem}; {fix}")


def _check_safetensors(path: Path, fix: str) -> None:
    import struct

    try:
        with open(path, "rb") as f:
            head = f.read(8)
            size = path.stat().st_size
            if len(head) < 8:
                raise _bad(path, "truncated safetensors file (no header)", fix)
            (n,) = struct.unpack("<Q", head)
            if n > min(size - 8, 100 << 20):
                raise _bad(path, f"corrupt safetensors header (claims {n} bytes in a {size}-byte file)", fix)
            header = json.loads(f.read(n))
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
    except InputError:
        raise
    except (ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError) as exc:
        raise _bad(path, f"corrupt safetensors header ({_one_line(exc)})", fix) from None
    if 8 + n + end > size:
        raise _bad(path, f"truncated safetensors file ({size} bytes, its header needs {8 + n + end})", fix)


def _check_json(path: Path, fix: str) -> None:
    try:
        json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        line = f":{exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise InputError(f"{path}{line}: corrupt or truncated JSON ({_one_line(getattr(exc, 'msg', exc))}); "
                         f"{fix}") from None


def _check_torch_zip(path: Path, fix: str) -> None:
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:  # reads the central directory only
            if not any(n.endswith("data.pkl") for n in zf.namelist()):
                raise _bad(path, "not a torch.save file (no data.pkl)", fix)
    except zipfile.BadZipFile as exc:
        raise _bad(path, f"corrupt or truncated torch checkpoint ({exc})", fix) from None


def check_inputs(args) -> None:
    """Open the model-side files a stage hands to torch / safetensors / tokenizers, whose own errors name no
    file: tokenizer.json, config.json, model.safetensors, and a checkpoint's state.pt.  Cheap: headers only."""
    for key in MODEL_DIRS:
        folder = getattr(args, key, None)
        if folder is None or not Path(folder).is_dir():
            continue
        folder = Path(folder)
        fix = f"rebuild it: delete {folder} and rerun the job that makes it"
        for name in ("tokenizer.json", "config.json"):
            if (folder / name).is_file():
                _check_json(folder / name, fix)
        if (folder / "model.safetensors").is_file():
            _check_safetensors(folder / "model.safetensors", fix)
    workdir = getattr(args, "workdir", None)
    ckpt = Path(workdir) / CHECKPOINT_DIR if workdir is not None else None
    if ckpt is not None and ckpt.is_dir():
        fix = f"delete {ckpt} to start this pre-training from its beginning (or restore a good copy)"
        if (ckpt / "model.safetensors").is_file():
            _check_safetensors(ckpt / "model.safetensors", fix)
        if (ckpt / "state.pt").is_file():
            _check_torch_zip(ckpt / "state.pt", fix)
        if (ckpt / "meta.json").is_file():
            _check_json(ckpt / "meta.json", fix)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Pre-training stages that see several GPUs re-exec themselves under torchrun (one process per GPU).
    args.log = launch.torchrun_if_multi_gpu(args.stage, args.log, argv)
    setup_logging(args.log, logging.DEBUG if args.verbose else logging.INFO)
    try:
        return _main(args)
    except ParamsError as exc:
        if args.debug:
            raise
        log.error("%s", exc)
        return 2
    except Exception as exc:  # the last resort: one line, never a traceback (unless --debug)
        if args.debug:
            raise
        log.error("%s", describe_failure(args.stage, exc, args))
        return 1


def _main(args) -> int:
    if args.stage == "worker":   # reads no params: the command it runs does
        from .workflow import warm

        return warm.run_command(args.command)
    params = load_resolved(args.params)
    if args.stage == "check-params":
        log.info("%s is valid (scale: %s)", args.params, params["scale"])
        return 0
    if args.stage == "dvc-yaml":
        return _dvc_yaml(args.params, args.out, args.check, args.values)
    if args.stage == "hub-mirror":
        from .models.hub_mirror import run_cli

        return run_cli(args.params, args.cache, args.size, args.vocab_text, args.repos)
    if args.stage == "rehearsal":
        from .workflow import rehearsal

        rehearsal.run(params, args.data, args.work, args.targets, args.cores, args.size, args.params,
                      dry_run=args.dry_run)
        return 0
    module = importlib.import_module(STAGES[args.stage][0])
    kwargs = {k: v for k, v in vars(args).items() if k not in ("params", "log", "verbose", "debug", "stage")}
    if "workdir" in kwargs and kwargs["workdir"] is None:
        kwargs["workdir"] = args.workdir = Path("runs/pretrain") / kwargs["model"]
    check_inputs(args)
    # Failures propagate to main(): one line and exit 1; the stage's atomic writes
    # have already removed partial outputs.
    module.run(params, **kwargs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
