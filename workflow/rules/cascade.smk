# The cascade study (issue 19): each compact model answers first and hands its least confident
# examples to the fallback (BioBERT).  One job per (compact model, dataset, seed) pair, then the
# summary table and figure.  Pairs, commands and rerun keys come from compactbio.cascade.plan and
# compactbio.workflow.graph, which also give dvc.yaml the same jobs.
#
#   snakemake --cores 2 cascade_table


CASCADE_PAIRS = cascade_plan.pairs(PARAMS)
CASCADE_TABLE = cascade_plan.table_files(PARAMS)   # empty without pairs: `all` then asks for nothing


if CASCADE_PAIRS:

    rule cascade:
        """One compact model routing to the fallback on one dataset and seed: runs/cascade/<model>/<dataset>/seed<s>."""
        input:
            unpack(cascade_inputs),
        output:
            json=f"{cascade_plan.RUNS}/{{model}}/{{dataset}}/seed{{seed}}/cascade.json",
            csv=f"{cascade_plan.RUNS}/{{model}}/{{dataset}}/seed{{seed}}/cascade.csv",
        params:
            values=lambda w: values("cascade"),
            compact=lambda w: graph.run_dir(w.model, w.dataset, w.seed),
            fallback=lambda w: graph.run_dir(cascade_plan.fallback(PARAMS), w.dataset, w.seed),
            out=lambda w: cascade_plan.pair_dir(w.model, w.dataset, w.seed),
        log:
            "logs/cascade/{model}/{dataset}/seed{seed}.log",
        wildcard_constraints:
            model=alternation(sorted({m for m, _, _ in CASCADE_PAIRS})),
            dataset=alternation(sorted({d for _, d, _ in CASCADE_PAIRS})),
        conda:
            ENV
        shell:
            "compactbio --log {log:q} cascade --model {wildcards.model:q} --dataset {wildcards.dataset:q}"
            " --seed {wildcards.seed:q} --compact {params.compact:q} --fallback {params.fallback:q}"
            " --prepared {input.prepared:q} --efficiency {input.efficiency:q} --out {params.out:q}"

    rule cascade_table:
        """The cascade study's table and figure: results/cascade/cascade.{tex,md,csv,png,pdf}."""
        input:
            [cascade_plan.pair_files(*p)[0] for p in CASCADE_PAIRS],
        output:
            tex=f"{cascade_plan.RESULTS}/{cascade_plan.NAME}.tex",
            md=f"{cascade_plan.RESULTS}/{cascade_plan.NAME}.md",
            csv=f"{cascade_plan.RESULTS}/{cascade_plan.NAME}.csv",
            png=report(
                f"{cascade_plan.RESULTS}/{cascade_plan.NAME}.png",
                caption="../report/cascade.rst",
                category="Cascade",
            ),
            pdf=f"{cascade_plan.RESULTS}/{cascade_plan.NAME}.pdf",
        params:
            values=lambda w: values("cascade_table"),
        log:
            "logs/cascade/cascade_table.log",
        conda:
            ENV
        shell:
            f"compactbio --log {{log:q}} cascade-table --runs {cascade_plan.RUNS} --out {cascade_plan.RESULTS}"
