"""``compactbio prefetch``: everything a run downloads, fetched once on the login node.

Compute nodes of many clusters have no internet, yet at paper scale the
``tokenizer`` and ``base_model`` jobs call ``from_pretrained(hub_id, revision)``
and the ``fetch`` jobs download datasets.  This command does both downloads up
front, where the network is, so that the SLURM jobs find everything on disk:

* every hub model named under ``pretrain.base.<model>.hub`` is downloaded with
  ``huggingface_hub.snapshot_download`` into the *normal* HF cache (``HF_HOME``,
  which must be on the shared file system), config, tokenizer and weight files
  only.  ``snapshot_download`` also writes ``refs/<revision>``, so a later
  ``from_pretrained(hub_id, revision=...)`` under ``HF_HUB_OFFLINE=1`` resolves
  the same commit from the cache;
* every raw source the grid uses is fetched into ``data/raw/<source>`` by the
  fetch stage itself (:func:`compactbio.data.fetch.run`), the exact output of
  the ``fetch`` rule and DVC stage, so the front ends see it as built.

At demo scale the hub ids are null: the synthetic sources are generated and
nothing is downloaded.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .data import fetch
from .workflow import graph

logger = logging.getLogger(__name__)

# Tokenizer files beyond the ones the model loader asks for (added tokens, BPE and
# sentencepiece vocabularies).  Flax/TF/ONNX weights and READMEs are never fetched.
TOKENIZER_PATTERNS = ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                      "added_tokens.json", "vocab.txt", "vocab.json", "merges.txt", "spiece.model"]


def hub_patterns() -> list[str]:
    """The files to snapshot: at least every pattern the jobs' own ``snapshot_download`` asks for.

    A job under ``HF_HUB_OFFLINE=1`` checks the cached snapshot against *its* patterns
    (``IncompleteSnapshotError`` when a matching file is missing), so prefetching a smaller set,
    e.g. only one of two weight formats, would fail the job.  Hence the loader's list is reused,
    not copied (imported here, late: it pulls in torch, which the Snakefile must not).
    """
    from .models.build import HUB_FILES

    return list(dict.fromkeys([*HUB_FILES, *TOKENIZER_PATTERNS]))


def hub_models(params: dict) -> list[tuple[str, str | None]]:
    """(hub id, revision) of every base model fetched from the hub, without duplicates.

    ``hub`` may also name a local folder, which needs no download; null (demo) means a
    tiny model built locally.
    """
    out: dict[tuple[str, str | None], None] = {}
    for model, cfg in params["pretrain"]["base"].items():
        hub = cfg.get("hub")
        if not hub:
            continue
        if Path(str(hub)).expanduser().is_dir():
            logger.info("pretrain.base.%s.hub is the local folder %s: nothing to download", model, hub)
            continue
        out[(str(hub), cfg.get("revision"))] = None
    return list(out)


def raw_sources(params: dict) -> list[str]:
    """The sources the grid fetches: exactly the fetch jobs of both front ends."""
    return [job.name.split("@", 1)[1] for job in graph.jobs(params) if job.rule == "fetch"]


def download_model(repo_id: str, revision: str | None) -> Path:
    """Snapshot one hub model into the HF cache and check that it resolves from the cache alone."""
    from huggingface_hub import snapshot_download

    patterns = hub_patterns()
    try:
        folder = Path(snapshot_download(repo_id, revision=revision, allow_patterns=patterns))
    except Exception as exc:  # hub, HTTP and connection errors alike: one line naming the model
        raise ValueError(f"hub model {repo_id} (revision {revision}): download failed: "
                         f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
    got = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    if "config.json" not in got or not any(Path(f).suffix in (".safetensors", ".bin") for f in got):
        raise ValueError(f"hub model {repo_id} (revision {revision}): snapshot has no config.json or weights "
                         f"(got {', '.join(got) or 'no files'})")
    # What an offline job does: resolve (repo, revision) through refs/<revision> and check the
    # cached snapshot is complete for these patterns, without the network.
    try:
        snapshot_download(repo_id, revision=revision, allow_patterns=patterns, local_files_only=True)
    except Exception as exc:
        raise ValueError(f"hub model {repo_id} (revision {revision}): downloaded, but the cache does not serve "
                         f"it offline: {type(exc).__name__}: {exc}") from exc
    size = sum((folder / f).stat().st_size for f in got)
    logger.info("hub model %s (revision %s): commit %s, %d files, %.1f MB in %s",
                repo_id, revision, folder.name, len(got), size / 1e6, folder)
    return folder


def fetch_sources(params: dict, force: bool = False) -> list[str]:
    """Run the fetch stage for every raw source of the grid; return the ones fetched now."""
    done = []
    for source in raw_sources(params):
        out = Path(graph.raw_dir(source))
        if out.is_dir() and not force:
            logger.info("source %s: %s already present (--force fetches it again)", source, out)
            continue
        fetch.run(params, source=source, out=out)
        done.append(source)
    return done


def run(params: dict, skip_hub: bool = False, skip_data: bool = False, force: bool = False) -> None:
    from huggingface_hub import constants

    models = [] if skip_hub else hub_models(params)
    if models and constants.HF_HUB_OFFLINE:
        raise ValueError("HF_HUB_OFFLINE is set: prefetch downloads from the hub, so unset it on the login node")
    if not skip_hub and not models:
        logger.info("scale %s: no hub models to download", params["scale"])
    logger.info("HF cache: %s (the jobs must see the same folder: keep HF_HOME on a shared file system)",
                constants.HF_HUB_CACHE)
    for repo_id, revision in models:
        download_model(repo_id, revision)
    if not skip_data:
        fetched = fetch_sources(params, force)
        logger.info("raw sources fetched: %s", ", ".join(fetched) or "none (all present)")
