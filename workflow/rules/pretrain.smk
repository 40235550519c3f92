# Teacher and baselines, then the six compact models: three distilled from
# the teacher and three continually MLM-trained.  Checkpoints live in
# runs/pretrain/<model> (not an output), so a rerun resumes.  Priorities put
# this critical path (teacher -> students -> their fine-tunes) first.

import shlex


rule base_model:
    input:
        unpack(base_model_inputs),
    output:
        directory("models/{model}"),
    params:
        values=lambda w: values("base_model", model=w.model),
        # --init, where params name one: a flag that may be absent cannot be a {x:q} field, so its path
        # (built from a schema-checked id) is shlex-quoted here
        init=lambda w, input: f" --init {shlex.quote(input.init)}" if "init" in input.keys() else "",
    log:
        "logs/base_model/{model}.log",
    priority: lambda w: pretraining_priority("base_model", model=w.model)
    wildcard_constraints:
        model=alternation(PRE["base"]),
    conda:
        ENV
    shell:
        "compactbio --log {log:q} base-model --model {wildcards.model:q} --tokenizer {input.tokenizer:q}"
        " --corpus {input.corpus:q}{params.init} --out {output:q}"


rule distill:
    input:
        teacher=lambda w: graph.model_dir(PRE["distill"][w.model]["teacher"]),
        corpus=lambda w: graph.tokenized_dir(PRE["distill"][w.model]["teacher"], CORPUS),
    output:
        directory("models/{model}"),
    params:
        values=lambda w: values("distill", model=w.model),
    log:
        "logs/distill/{model}.log",
    priority: 20
    wildcard_constraints:
        model=alternation(PRE["distill"]),
    conda:
        ENV
    shell:
        "compactbio --log {log:q} distill --model {wildcards.model:q} --teacher {input.teacher:q}"
        " --corpus {input.corpus:q} --out {output:q}"


rule continual:
    input:
        init=lambda w: graph.model_dir(PRE["continual"][w.model]["init"]),
        corpus=lambda w: graph.tokenized_dir(PRE["continual"][w.model]["init"], CORPUS),
    output:
        directory("models/{model}"),
    params:
        values=lambda w: values("continual", model=w.model),
    log:
        "logs/continual/{model}.log",
    priority: 10
    wildcard_constraints:
        model=alternation(PRE["continual"]),
    conda:
        ENV
    shell:
        "compactbio --log {log:q} continual --model {wildcards.model:q} --init {input.init:q}"
        " --corpus {input.corpus:q} --out {output:q}"
