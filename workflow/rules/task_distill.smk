# Task-specific distillation for NER (seeds/biobert-task-distillation-README.md):
# the teacher fine-tuned on one NER set, BiLSTM and TinyBERT students with and
# without it on N-fold augmented data, and their table.  Jobs, commands and
# rerun keys come from compactbio.taskdistill.jobs, which also gives dvc.yaml
# the same jobs.
#
#   snakemake --cores 2 task_distill_table

from compactbio.taskdistill import jobs as taskdistill

TD = PARAMS["task_distill"]
TD_RUNS = taskdistill.runs_dir(PARAMS)
TD_LOGS = f"logs/task_distill/{TD['dataset']}"


rule task_teacher:
    input:
        **taskdistill.teacher_inputs(PARAMS),
    output:
        directory(taskdistill.teacher_dir(PARAMS)),
    params:
        values=taskdistill.stage_values(PARAMS, "task_teacher"),
        cmd=taskdistill.teacher_job(PARAMS).cmd,
    log:
        f"{TD_LOGS}/teacher.log",
    conda:
        ENV
    shell:
        "{params.cmd}"


rule task_student:
    input:
        unpack(lambda w: taskdistill.student_inputs(PARAMS, w.student, w.mode == "kd")),
    output:
        directory(f"{TD_RUNS}/{{student}}-{{mode}}-n{{n}}"),
    params:
        values=lambda w: taskdistill.stage_values(PARAMS, "task_student", student=w.student, mode=w.mode),
        cmd=lambda w: taskdistill.student_job(PARAMS, w.student, w.mode == "kd", int(w.n)).cmd,
    log:
        f"{TD_LOGS}/{{student}}-{{mode}}-n{{n}}.log",
    wildcard_constraints:
        student=alternation(TD["students"]),
        mode="kd|base",
        n=r"\d+",
    conda:
        ENV
    shell:
        "{params.cmd}"


rule task_table:
    input:
        taskdistill.table_job(PARAMS).deps,
    output:
        taskdistill.table_files(),
    params:
        values=taskdistill.stage_values(PARAMS, "task_table"),
        cmd=taskdistill.table_job(PARAMS).cmd,
    log:
        "logs/task_distill/table.log",
    conda:
        ENV
    shell:
        "{params.cmd}"


rule task_distill_table:
    input:
        taskdistill.table_files(),
