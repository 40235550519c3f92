# One job per (model, dataset, seed) and task: NER, relation extraction, QA.


def finetune_inputs(w):
    return {
        "model": graph.model_dir(w.model),
        "data": graph.tokenized_dir(graph.family_of(PARAMS, w.model), w.dataset),
        "prepared": graph.prepared_dir(w.dataset),
    }


for _task in ("ner", "re", "qa"):

    rule:
        name:
            f"finetune_{_task}"
        input:
            unpack(finetune_inputs),
        output:
            metrics="runs/finetune/{model}/{dataset}/seed{seed}/metrics.json",
            scores="runs/finetune/{model}/{dataset}/seed{seed}/scores.json",   # DVC's metric: test scores only
            per_example="runs/finetune/{model}/{dataset}/seed{seed}/per_example.jsonl",
            # the selected model's validation records (empty without a validation split): cascade thresholds
            per_example_validation="runs/finetune/{model}/{dataset}/seed{seed}/per_example_validation.jsonl",
            predictions=f"runs/finetune/{{model}}/{{dataset}}/seed{{seed}}/{graph.PREDICTIONS[_task]}",
            curve="runs/finetune/{model}/{dataset}/seed{seed}/train_log.csv",
            # finetune.common.keep_model: the fine-tuned model too (declared only when kept)
            **({"model": directory("runs/finetune/{model}/{dataset}/seed{seed}/model")}
               if graph.keeps_models(PARAMS) else {}),
        params:
            # this model's override (learning_rate_by_model), not the other models'
            values=lambda w, rule=f"finetune_{_task}": values(rule, model=w.model),
            out=lambda w: graph.run_dir(w.model, w.dataset, w.seed),
        log:
            "logs/finetune/{model}/{dataset}/seed{seed}.log",
        wildcard_constraints:
            model=alternation(GRID["models"]),
            dataset=alternation(datasets_of(_task)),
        conda:
            ENV
        shell:
            "compactbio --log {log:q} finetune --model {wildcards.model:q} --dataset {wildcards.dataset:q}"
            " --seed {wildcards.seed:q} --model-dir {input.model:q} --data {input.data:q}"
            " --prepared {input.prepared:q} --out {params.out:q}"
