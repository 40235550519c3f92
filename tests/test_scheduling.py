"""Local scheduling: the jobs on the longest chain (corpus -> tokenizers -> teacher -> students) go first.

Snakemake does not pass a job's priority to the jobs it waits for, so the rules carry it themselves
(workflow/rules/common.smk, pretraining_priority).  Without it the demo's teacher started 3.5 minutes
into a 7-minute run on two cores (benchmarks/bench_demo.py)."""

from __future__ import annotations

import re
import subprocess

from workflow_tools import copy_workflow


def planned_priorities(wf) -> dict[tuple[str, str], int]:
    """(rule, wildcards) -> priority of every job `snakemake -n all_tables` plans."""
    out = subprocess.run(["snakemake", "-n", "--cores", "1", "all_tables"], cwd=wf, capture_output=True,
                         text=True, check=True).stdout
    jobs, rule, wildcards = {}, None, ""
    for line in out.splitlines():
        if m := re.match(r"^(?:local)?rule (\S+):$", line.strip()):
            rule, wildcards = m.group(1), ""
        elif m := re.match(r"^    wildcards: (.*)$", line):
            wildcards = m.group(1)
        elif (m := re.match(r"^    priority: (-?\d+)$", line)) and rule:
            jobs[rule, wildcards] = int(m.group(1))
    return jobs


def test_the_corpus_jobs_and_the_teacher_go_first(tmp_path):
    jobs = planned_priorities(copy_workflow(tmp_path / "wf"))
    assert jobs["fetch", "source=pubmed"] == jobs["prepare", "dataset=pubmed"] == 40
    assert jobs["tokenize", "base=biobert_v12, dataset=pubmed"] == 40
    assert {p for (rule, _), p in jobs.items() if rule == "tokenizer"} == {40}
    # v1.2 (the teacher) and v1.1 (which it continues) before the other base models, then the students
    assert jobs["base_model", "model=biobert_v12"] == jobs["base_model", "model=biobert"] == 35
    assert jobs["base_model", "model=distilbert"] == 30
    assert jobs["distill", "model=tinybiobert"] == 20 and jobs["continual", "model=biotinybert"] == 10
    # the rest keeps Snakemake's default
    assert ("fetch", "source=biobert") not in jobs and ("tokenize", "base=biobert, dataset=gad") not in jobs
    assert not any(rule.startswith("finetune") for rule, _ in jobs)
