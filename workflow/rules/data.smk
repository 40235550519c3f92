# Raw sources -> canonical datasets -> tokenizers -> Arrow token files.


rule fetch:
    output:
        directory("data/raw/{source}"),
    params:
        values=lambda w: values("fetch", source=w.source),
    log:
        "logs/fetch/{source}.log",
    conda:
        ENV
    shell:
        "compactbio --log {log} fetch --source {wildcards.source} --out {output}"


rule prepare:
    input:
        lambda w: graph.raw_dir(PARAMS["datasets"][w.dataset]["source"]),
    output:
        directory("data/prepared/{dataset}"),
    params:
        values=lambda w: values("prepare", dataset=w.dataset),
    log:
        "logs/prepare/{dataset}.log",
    conda:
        ENV
    shell:
        "compactbio --log {log} prepare --dataset {wildcards.dataset} --raw {input} --out {output}"


rule tokenizer:
    input:
        corpus=graph.prepared_dir(CORPUS),
    output:
        directory("models/tokenizers/{base}"),
    params:
        values=lambda w: values("tokenizer", base=w.base),
    log:
        "logs/tokenizer/{base}.log",
    conda:
        ENV
    shell:
        "compactbio --log {log} tokenizer --model {wildcards.base} --corpus {input.corpus} --out {output}"


rule tokenize:
    input:
        tokenizer="models/tokenizers/{base}",
        dataset="data/prepared/{dataset}",
    output:
        directory("data/tokenized/{base}/{dataset}"),
    params:
        values=lambda w: values("tokenize", dataset=w.dataset),
    log:
        "logs/tokenize/{base}/{dataset}.log",
    conda:
        ENV
    shell:
        "compactbio --log {log} tokenize --tokenizer {input.tokenizer} --dataset {input.dataset} --out {output}"
