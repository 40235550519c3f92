# The efficiency study (the paper's Fig. 2) and each compact model's score per cost.


rule efficiency:
    """Inference cost of every architecture of the grid (the paper's Fig. 2): results/efficiency."""
    output:
        report(
            directory(graph.EFFICIENCY_DIR),
            patterns=["{name}.png"],
            caption="../report/efficiency.rst",
            category="Efficiency",
        ),
    params:
        values=lambda w: values("efficiency"),
    log:
        "logs/efficiency/efficiency.log",
    conda:
        ENV
    shell:
        "compactbio --log {log:q} efficiency --out {output:q}"


rule score_cost:
    """Each compact model's score share against its latency share of BioBERT: results/score_cost."""
    input:
        efficiency=graph.EFFICIENCY_DIR,
        metrics=graph.score_cost_inputs(PARAMS),
    output:
        report(
            directory(graph.SCORE_COST_DIR),
            patterns=["{name}.png"],
            caption="../report/score_cost.rst",
            category="Efficiency",
        ),
    params:
        values=lambda w: values("score_cost"),
    log:
        "logs/score_cost/score_cost.log",
    conda:
        ENV
    shell:
        "compactbio --log {log:q} score-cost --efficiency {input.efficiency:q} --runs runs/finetune --out {output:q}"


rule efficiency_study:
    """The efficiency study: the cost measurements and the score-per-cost figure."""
    input:
        graph.EFFICIENCY_DIR,
        graph.SCORE_COST_DIR,
