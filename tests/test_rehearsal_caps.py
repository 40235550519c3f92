"""The rehearsal switch: paper scale with only the amount of work capped."""

from __future__ import annotations

import copy

import pytest
import yaml

from compactbio.params import ParamsError, apply_caps, load_params, resolve
from compactbio.workflow import graph


def write(tmp_path, params):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def test_caps_take_the_minimum_fill_nulls_and_leave_other_values():
    p = {"a": {"x": {"steps": 100, "lr": 0.5, "on": True, "name": "s"}, "y": {"steps": 1}},
         "b": {"rows": None, "eval": 3.0}}
    apply_caps(p, {"a.*.steps": 2, "b.rows": 16, "b.eval": 1, "a.*.on": 0, "a.*.name": 1})
    assert p == {"a": {"x": {"steps": 2, "lr": 0.5, "on": True, "name": "s"}, "y": {"steps": 1}},
                 "b": {"rows": 16, "eval": 1.0}}
    assert isinstance(p["b"]["eval"], float) and isinstance(p["a"]["x"]["steps"], int)


def test_rehearsal_applies_only_at_paper_scale_and_only_when_enabled(raw_params):
    raw = copy.deepcopy(raw_params)
    demo = resolve(raw)
    raw["scale"] = "paper"
    paper = resolve(raw)
    raw["rehearsal"]["enabled"] = True
    rehearsal = resolve(raw)
    raw["scale"] = "demo"
    assert {k: v for k, v in resolve(raw).items() if k != "rehearsal"} == \
        {k: v for k, v in demo.items() if k != "rehearsal"}          # ignored at demo scale
    assert paper["pretrain"]["distill"]["distilbiobert"]["train"]["steps"] == 100000
    cut = rehearsal["pretrain"]["distill"]["distilbiobert"]
    assert cut["train"]["steps"] == 2 and cut["train"]["batch_size"] == 4
    # everything that is not an amount of work stays the paper's
    assert cut["recipe"] == paper["pretrain"]["distill"]["distilbiobert"]["recipe"]
    assert rehearsal["pretrain"]["base"] == {
        m: {**cfg, "mlm": {**cfg["mlm"], "steps": 0, "batch_size": 4}} for m, cfg in paper["pretrain"]["base"].items()}
    assert rehearsal["tokenize"] == paper["tokenize"]
    assert rehearsal["finetune"]["common"]["max_train_rows"] == 16
    assert paper["finetune"]["common"]["max_train_rows"] is None
    assert rehearsal["finetune"]["ner"]["learning_rate"] == paper["finetune"]["ner"]["learning_rate"]


def test_a_cap_that_names_nothing_or_no_amount_is_an_error(tmp_path, raw_params):
    raw_params["rehearsal"]["caps"]["pretrain.distill.*.train.stpes"] = 2
    load_params(write(tmp_path, raw_params))    # checked only when the rehearsal is on
    raw_params["rehearsal"]["enabled"] = True
    with pytest.raises(ParamsError, match=r"rehearsal\.caps\.pretrain\.distill\.\*\.train\.stpes': matches no key"):
        load_params(write(tmp_path, raw_params))
    del raw_params["rehearsal"]["caps"]["pretrain.distill.*.train.stpes"]
    raw_params["rehearsal"]["caps"]["pretrain.base.*.hub"] = 1
    with pytest.raises(ParamsError, match=r"rehearsal\.caps\.pretrain\.base\.\*\.hub': names a value that is not"):
        load_params(write(tmp_path, raw_params))


def test_every_job_that_reads_the_scale_reads_the_rehearsal(raw_params):
    for job in graph.jobs(raw_params):
        if "scale" in job.params:
            assert "rehearsal" in job.params, job.name


WILDCARD = {"fetch": "source", "prepare": "dataset", "tokenizer": "base", "base_model": "model",
            "distill": "model", "continual": "model"}


def _values(raw):
    """Snakemake's params trigger of every fetch, prepare, tokenizer, pre-training and fine-tuning job."""
    out = {}
    for job in graph.jobs(raw):
        kind, _, rest = job.name.partition("@")
        if kind.startswith("finetune_"):
            out[job.name] = graph.stage_values(raw, job.rule)
        elif kind in WILDCARD:
            out[job.name] = graph.stage_values(raw, job.rule, **{WILDCARD[kind]: rest})
    return out


def test_a_cap_change_reruns_exactly_the_jobs_it_caps(raw_params):
    raw = copy.deepcopy(raw_params)
    raw["scale"] = "paper"
    raw["rehearsal"]["enabled"] = True
    before = _values(raw)
    raw["rehearsal"]["caps"]["finetune.*.epochs"] = 2
    after = _values(raw)
    changed = {n for n in before if before[n] != after[n]}
    assert changed == {n for n in before if n.startswith("finetune_")}
