"""benchmarks/task_distill_bc2gm.py writes valid params for its teacher and students (the run itself is ~35 min)."""

from __future__ import annotations

import argparse
import importlib.util

from compactbio.params import load_params, resolve

from workflow_tools import ROOT  # noqa: E402  (tests/ is on sys.path)


def load_script():
    spec = importlib.util.spec_from_file_location("task_distill_bc2gm", ROOT / "benchmarks" / "task_distill_bc2gm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_study_params_are_valid_and_read_real_data(tmp_path):
    script = load_script()
    args = argparse.Namespace(steps=123, augment=3, alpha=0.9, temperature=1.5, mlm_steps=50, teacher_epochs=4)
    real, corpus = tmp_path / "real", tmp_path / "corpus"
    params = script.study_params(real, corpus, args)
    teacher = script.teacher_params(params, args)
    for name, raw in (("students", params), ("teacher", teacher)):
        res = resolve(load_params(script.write_params(tmp_path / f"{name}.yaml", raw)))
        assert res["sources"]["biobert"] == {"path": {"path": str(real / "biobert"), "link": True}}
        assert res["sources"]["pubmed"] == {"path": str(corpus)}
        assert res["pretrain"]["base"]["biobert"]["mlm"]["steps"] == 50
    res = resolve(params)["task_distill"]
    assert res["loss"] == {"alpha": 0.9, "temperature": 1.5} and res["augment_sizes"] == [3]
    assert res["models"]["bilstm"]["training"]["max_steps"] == 123
    assert res["models"]["bilstm"]["hidden_size"] == 300
    assert resolve(teacher)["task_distill"]["models"]["bilstm"]["training"]["epochs"] == 4
    assert resolve(teacher)["task_distill"]["models"]["bilstm"]["training"]["max_steps"] is None
