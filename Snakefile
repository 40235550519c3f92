# compactbio: the paper's experiments as one Snakemake workflow.
#
#   snakemake --cores 2 all_tables           # everything the tables need, demo scale by default
#   snakemake --cores 2 table4               # just what Table 4 needs
#   snakemake --profile slurm all_tables     # on a SLURM cluster
#
# params.yaml is the only configuration; it is validated before any job starts.


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/efficiency.smk"
include: "workflow/rules/cascade.smk"
include: "workflow/rules/task_distill.smk"
include: "workflow/rules/warm.smk"  # the onstart handler: a warm worker for local runs


# Snakemake marks every finished directory() output with an empty .snakemake_timestamp inside it;
# when the run ends, that mark becomes the folder's own mtime (what Snakemake reads without it), so
# model folders hold nothing stray (Hub uploads, DVC hashes).  compactbio.io.settle_snakemake_timestamp
# Snakemake keeps one onsuccess and one onerror handler: add to these rather than defining others.
import compactbio.io


onsuccess:
    compactbio.io.settle_snakemake_timestamps(o for job in graph.jobs(PARAMS) for o in job.outs)


onerror:
    compactbio.io.settle_snakemake_timestamps(o for job in graph.jobs(PARAMS) for o in job.outs)


rule all:
    """Every job of the grid (what `dvc repro` builds): fine-tunes, tables, results, efficiency and cascade studies."""
    default_target: True
    input:
        rules.all_tables.input,
        rules.results.output,
        rules.efficiency_study.input,
        CASCADE_TABLE,  # the cascade study's table and figure (none without a cascade section)
        rules.task_distill_table.input,
        [
            graph.finetune_outputs(PARAMS, m, d, s)["metrics"]
            for m in GRID["models"]
            for d in graph.finetune_datasets(PARAMS)
            for s in GRID["seeds"]
        ],
