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
include: "workflow/rules/task_distill.smk"


rule all:
    """Every job of the grid (what `dvc repro` builds): fine-tunes, tables, efficiency study."""
    default_target: True
    input:
        rules.all_tables.input,
        rules.efficiency_study.input,
        rules.task_distill_table.input,
        [
            graph.finetune_outputs(PARAMS, m, d, s)["metrics"]
            for m in GRID["models"]
            for d in graph.finetune_datasets(PARAMS)
            for s in GRID["seeds"]
        ],
