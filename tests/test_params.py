"""params.yaml validation: bad input stops everything before any job starts."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from compactbio.params import ParamsError, is_scaled, load_params, resolve
from compactbio.workflow.graph import render_dvc_yaml


def write(tmp_path, params):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def test_committed_params_are_valid(root):
    raw = load_params(root / "params.yaml")
    assert raw["scale"] in ("demo", "paper")


def test_resolve_picks_the_scale():
    raw = {"scale": "paper", "a": {"demo": 1, "paper": 2}, "b": [{"demo": "x", "paper": "y"}], "c": {"d": 3}}
    assert resolve(raw) == {"scale": "paper", "a": 2, "b": ["y"], "c": {"d": 3}}
    assert resolve(raw, "demo")["a"] == 1
    assert is_scaled({"demo": 1}) and not is_scaled({"demo": 1, "x": 2}) and not is_scaled({})


def test_typo_names_key_and_line(tmp_path, raw_params):
    raw_params["finetune"]["ner"]["learnig_rate"] = raw_params["finetune"]["ner"].pop("learning_rate")
    path = write(tmp_path, raw_params)
    with pytest.raises(ParamsError) as err:
        load_params(path)
    msg = str(err.value)
    assert "unknown key 'finetune.ner.learnig_rate'" in msg
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "learnig_rate" in text)
    assert f"{path}:{line}:" in msg


def test_wrong_type_names_key(tmp_path, raw_params):
    raw_params["finetune"]["re"]["batch_size"] = "sixteen"
    with pytest.raises(ParamsError, match=r"'finetune\.re\.batch_size': 'sixteen' is not of type 'integer'"):
        load_params(write(tmp_path, raw_params))


def test_unknown_dataset_in_grid(tmp_path, raw_params):
    raw_params["grid"]["ner"].append("no-such-set")
    with pytest.raises(ParamsError, match=r"'grid\.ner\[8\]': unknown dataset 'no-such-set'"):
        load_params(write(tmp_path, raw_params))


def test_table_with_unknown_model(tmp_path, raw_params):
    raw_params["tables"]["table4"]["models"].append("bogusbert")
    with pytest.raises(ParamsError, match=r"'tables\.table4\.models\[5\]': unknown model 'bogusbert'"):
        load_params(write(tmp_path, raw_params))


@pytest.mark.parametrize("mutate", [
    lambda p: p["finetune"]["ner"].__setitem__("learnig_rate", 1),
    lambda p: p["grid"]["ner"].append("no-such-set"),
    lambda p: p["tables"]["table2"]["models"].append("bogusbert"),
])
def test_both_front_ends_refuse_before_any_job(tmp_path, raw_params, mutate, copy_workflow):
    """Snakemake and the CLI stop with the error; nothing is written."""
    mutate(raw_params)
    wf = copy_workflow(tmp_path / "wf", raw_params)
    before = sorted(p.relative_to(wf) for p in wf.rglob("*"))
    snake = subprocess.run(["snakemake", "--cores", "1", "all_tables"], cwd=wf, capture_output=True, text=True)
    assert snake.returncode != 0
    assert "invalid parameters" in snake.stdout + snake.stderr
    cli = subprocess.run(["compactbio", "check-params"], cwd=wf, capture_output=True, text=True)
    assert cli.returncode == 2 and "invalid parameters" in cli.stderr
    after = sorted(p.relative_to(wf) for p in wf.rglob("*") if ".snakemake" not in p.parts)
    assert after == before


def test_dvc_yaml_is_current(root):
    """dvc.yaml is rendered from params.yaml; a stale copy would run a different grid."""
    assert (root / "dvc.yaml").read_text() == render_dvc_yaml(load_params(root / "params.yaml"))
