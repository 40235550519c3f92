# Task-specific distillation for NER (the "BioBERT Distillation" study):
# the teacher fine-tuned on one NER set, BiLSTM and TinyBERT students with and
# without it on N-fold augmented data, and their table.  Jobs, commands and
# rerun keys come from compactbio.taskdistill.jobs, which also gives dvc.yaml
# the same jobs.
#
#   snakemake --cores 2 task_distill_table

import shlex

from compactbio.taskdistill import jobs as taskdistill

TD = PARAMS["task_distill"]
TD_RUNS = taskdistill.runs_dir(PARAMS)
TD_LOGS = f"logs/task_distill/{TD['dataset']}"


rule task_teacher:
    """The task-distillation teacher: the base model fine-tuned on task_distill.dataset."""
    input:
        **taskdistill.teacher_inputs(PARAMS),
    output:
        directory(taskdistill.teacher_dir(PARAMS)),
    params:
        values=taskdistill.stage_values(PARAMS, "task_teacher"),
    log:
        f"{TD_LOGS}/teacher.log",
    conda:
        ENV
    shell:
        "compactbio --log {log:q} task-teacher --model-dir {input.model:q} --data {input.data:q}"
        " --prepared {input.prepared:q} --out {output:q}"


rule task_student:
    input:
        unpack(lambda w: taskdistill.student_inputs(PARAMS, w.student, w.mode == "kd")),
    output:
        directory(f"{TD_RUNS}/{{student}}-{{mode}}-n{{n}}"),
    params:
        values=lambda w: taskdistill.stage_values(PARAMS, "task_student", student=w.student, mode=w.mode),
        # the teacher (kd only) and a TinyBERT init, when params name one.  A flag that may be absent
        # cannot be a {x:q} field, so each path is shlex-quoted here; both are built only from ids
        # (task_distill.dataset, ...models.tinybert.init) that the params schema checks before any job.
        optional=lambda w, input: "".join(
            f" --{k} {shlex.quote(input[k])}" for k in ("teacher", "init") if k in input.keys()
        ),
    log:
        f"{TD_LOGS}/{{student}}-{{mode}}-n{{n}}.log",
    wildcard_constraints:
        student=alternation(TD["students"]),
        mode="kd|base",
        n=r"\d+",
    conda:
        ENV
    shell:
        "compactbio --log {log:q} task-student --student {wildcards.student:q} --mode {wildcards.mode:q}"
        " --augment {wildcards.n:q} --vocab {input.vocab:q}{params.optional} --data {input.data:q}"
        " --prepared {input.prepared:q} --out {output:q}"


rule task_table:
    """The task-distillation table (results/tables/task_distill.*) from the teacher and student runs."""
    input:
        taskdistill.table_job(PARAMS).deps,
    output:
        taskdistill.table_files(),
    params:
        values=taskdistill.stage_values(PARAMS, "task_table"),
        runs=lambda w, input: input[0].rsplit("/", 1)[0],   # the teacher run sits in the runs folder
    log:
        "logs/task_distill/table.log",
    conda:
        ENV
    shell:
        "compactbio --log {log:q} task-table --runs {params.runs:q} --out results/tables"


rule task_distill_table:
    """The whole task-distillation study: teacher, students and their table."""
    input:
        taskdistill.table_files(),
