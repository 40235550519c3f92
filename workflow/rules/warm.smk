# A warm worker for local runs: it imports torch and transformers once and forks one child per
# `compactbio` job, so ~120 training jobs do not each pay ~5 s of imports (src/compactbio/workflow/warm.py).
# Not started for cluster executors (--profile slurm), dry runs, or COMPACTBIO_WORKER=off; stopped
# when Snakemake exits.  Snakemake keeps one onstart handler: add to this one rather than defining another.

from compactbio.workflow import warm


onstart:
    warm.snakemake_start(workflow)
