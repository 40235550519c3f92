# Tables 1-7 of the paper plus the extra ones, and a target per table.

import hashlib

from compactbio.report.table import table_label

TABLE_FORMATS = graph.TABLE_FORMATS


rule table:
    input:
        lambda w: graph.table_inputs(PARAMS, w.table),
    output:
        tex="results/tables/{table}.tex",
        md="results/tables/{table}.md",
        csv="results/tables/{table}.csv",
        # The report shows HTML inline (a CSV it can only offer as a download).
        html=report(
            "results/tables/{table}.html",
            caption="../report/table.rst",
            category="Tables",
            # Only the short name: Snakemake sizes its results list to the labels (the caption has the title).
            labels=lambda w: {"table": table_label(w.table)},
        ),
    params:
        # The rerun trigger: the resolved values of the params.yaml keys the table reads, hashed
        # (the report's "Job parameters" box shows this line, not a page of escaped JSON).
        reads=lambda w: ", ".join(graph.stage_keys(PARAMS, "table", table=w.table)),
        values_sha256=lambda w: hashlib.sha256(values("table", table=w.table).encode()).hexdigest()[:16],
    log:
        "logs/table/{table}.log",
    conda:
        ENV
    shell:
        "compactbio --log {log:q} table --table {wildcards.table:q} --runs runs/finetune"
        " --prepared data/prepared --models models --out results/tables"


for _t in TABLES:

    rule:
        name:
            _t
        input:
            expand("results/tables/{table}.{ext}", table=_t, ext=TABLE_FORMATS),

    # The target's description in `--list-target-rules` (a docstring literal could not name the table).
    workflow.get_rule(_t).docstring = f"{table_label(_t)}: {PARAMS['tables'][_t]['title']} (results/tables/{_t}.*)."


rule all_tables:
    """Every table of params.yaml `tables` (the paper's Tables 1-7 and the extra ones) in every format."""
    input:
        expand("results/tables/{table}.{ext}", table=TABLES, ext=TABLE_FORMATS),
        graph.results_outputs(PARAMS),


rule results:
    """The grid's scores as one tidy table (results/runs.csv, .parquet), efficiency.csv, learning curves."""
    input:
        graph.results_inputs(PARAMS),
    output:
        graph.results_outputs(PARAMS),
    params:
        values=lambda w: values("results"),
    log:
        "logs/results/results.log",
    conda:
        ENV
    shell:
        "compactbio --log {log:q} results --runs runs/finetune"
        + (f" --efficiency {graph.EFFICIENCY_DIR}" if "efficiency" in PARAMS else "")
        + f" --out {graph.RESULTS_DIR}"
