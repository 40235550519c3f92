# Raw sources -> canonical datasets -> tokenizers -> token ids (`datasets` folders).

from compactbio import prefetch as prefetch_mod


# Downloads need the internet, which compute nodes often lack: under the SLURM
# profile these run on the login node, where Snakemake itself runs.
localrules:
    fetch,
    prefetch,


rule prefetch:
    """Everything a run downloads, on the login node (docs/cluster.md): every raw source of the grid
    (the fetch jobs) and the scale's hub models into the shared HF cache, so that the cluster jobs
    run with HF_HUB_OFFLINE=1.  No output: the hub step re-checks the cache on every call."""
    input:
        [graph.raw_dir(s) for s in prefetch_mod.raw_sources(PARAMS)],
    log:
        "logs/prefetch/prefetch.log",
    conda:
        ENV
    shell:
        "compactbio --log {log:q} prefetch --skip-data"


rule fetch:
    output:
        directory("data/raw/{source}"),
    params:
        values=lambda w: values("fetch", source=w.source),
    priority: lambda w: pretraining_priority("fetch", source=w.source)
    log:
        "logs/fetch/{source}.log",
    conda:
        ENV
    shell:
        "compactbio --log {log:q} fetch --source {wildcards.source:q} --out {output:q}"


rule prepare:
    input:
        lambda w: graph.raw_dir(PARAMS["datasets"][w.dataset]["source"]),
    output:
        directory("data/prepared/{dataset}"),
    params:
        values=lambda w: values("prepare", dataset=w.dataset),
    priority: lambda w: pretraining_priority("prepare", dataset=w.dataset)
    log:
        "logs/prepare/{dataset}.log",
    conda:
        ENV
    shell:
        "compactbio --log {log:q} prepare --dataset {wildcards.dataset:q} --raw {input:q} --out {output:q}"


rule tokenizer:
    input:
        corpus=graph.prepared_dir(CORPUS),
    output:
        directory("models/tokenizers/{base}"),
    params:
        values=lambda w: values("tokenizer", base=w.base),
    priority: 40   # every tokenizer feeds a pre-training job (pretraining_priority)
    log:
        "logs/tokenizer/{base}.log",
    conda:
        ENV
    shell:
        "compactbio --log {log:q} tokenizer --model {wildcards.base:q} --corpus {input.corpus:q} --out {output:q}"


rule tokenize:
    input:
        tokenizer="models/tokenizers/{base}",
        dataset="data/prepared/{dataset}",
    output:
        directory("data/tokenized/{base}/{dataset}"),
    params:
        values=lambda w: values("tokenize", dataset=w.dataset),
    priority: lambda w: pretraining_priority("tokenize", dataset=w.dataset)
    log:
        "logs/tokenize/{base}/{dataset}.log",
    conda:
        ENV
    shell:
        "compactbio --log {log:q} tokenize --tokenizer {input.tokenizer:q} --dataset {input.dataset:q} --out {output:q}"
