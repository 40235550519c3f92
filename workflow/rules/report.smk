# Tables 1-7 of the paper plus the extra ones, and a target per table.

TABLE_FORMATS = graph.TABLE_FORMATS


rule table:
    input:
        lambda w: graph.table_inputs(PARAMS, w.table),
    output:
        tex="results/tables/{table}.tex",
        md="results/tables/{table}.md",
        csv=report(
            "results/tables/{table}.csv",
            caption="../report/table.rst",
            category="Tables",
            labels={"table": "{table}"},
        ),
    params:
        values=lambda w: values("table", table=w.table),
    log:
        "logs/table/{table}.log",
    conda:
        ENV
    shell:
        "compactbio --log {log:q} table --table {wildcards.table:q} --runs runs/finetune"
        " --prepared data/prepared --out results/tables"


for _t in TABLES:

    rule:
        name:
            _t
        input:
            expand("results/tables/{table}.{ext}", table=_t, ext=TABLE_FORMATS),


rule all_tables:
    input:
        expand("results/tables/{table}.{ext}", table=TABLES, ext=TABLE_FORMATS),
