"""params.yaml validation: bad input stops everything before any job starts."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from compactbio.params import ParamsError, is_scaled, load_params, resolve
from compactbio.workflow.graph import render_dvc_yaml

ROOT = Path(__file__).resolve().parents[1]


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


# ------------------------------------------------ issue 14, item 6: values the schema alone let through
def line_of(path, needle, nth=1):
    hits = [i for i, text in enumerate(path.read_text().splitlines(), 1) if needle in text]
    return hits[nth - 1]


@pytest.mark.parametrize("value, problem", [
    (0, "less than or equal to the minimum of 0"),
    (-1.0e-5, "less than or equal to the minimum of 0"),
    (float("nan"), "a learning rate must be a finite number > 0"),
    (float("inf"), "a learning rate must be a finite number > 0"),
    ({"demo": 2.0e-3, "paper": 0.0}, "less than or equal to the minimum of 0"),
])
def test_learning_rate_must_be_positive_and_finite(tmp_path, raw_params, value, problem):
    raw_params["finetune"]["ner"]["learning_rate"] = value
    path = write(tmp_path, raw_params)
    with pytest.raises(ParamsError) as err:
        load_params(path)
    msg = str(err.value)
    assert "finetune.ner.learning_rate" in msg and problem in msg
    assert re.search(rf"{re.escape(str(path))}:\d+: 'finetune\.ner\.learning_rate", msg)


def test_nan_learning_rate_by_model_names_its_line(tmp_path, raw_params):
    raw_params["finetune"]["re"]["learning_rate_by_model"]["mobilebert"] = float("nan")
    path = write(tmp_path, raw_params)
    with pytest.raises(ParamsError, match=r"finetune\.re\.learning_rate_by_model\.mobilebert.*finite number > 0"):
        load_params(path)


def test_duplicate_key_names_both_lines(tmp_path, root):
    text = (root / "params.yaml").read_text()
    assert "\n    learning_rate: {demo: 2.0e-3, paper: 5.0e-5}\n" in text
    text = text.replace("\n    learning_rate: {demo: 2.0e-3, paper: 5.0e-5}\n",
                        "\n    learning_rate: {demo: 2.0e-3, paper: 5.0e-5}\n    learning_rate: 1.0\n", 1)
    path = tmp_path / "params.yaml"
    path.write_text(text)
    first = line_of(path, "learning_rate: {demo: 2.0e-3, paper: 5.0e-5}")
    with pytest.raises(ParamsError) as err:
        load_params(path)
    msg = str(err.value)
    assert f"{path}:{first + 1}: duplicate key 'learning_rate' (first at line {first})" in msg


def test_duplicate_key_inside_a_flow_mapping(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("scale: demo\ngrid: {models: [a], models: [b]}\n")
    with pytest.raises(ParamsError, match=rf"{path}:2: duplicate key 'models'"):
        load_params(path)


def test_unknown_model_in_learning_rate_by_model(tmp_path, raw_params):
    raw_params["finetune"]["qa"]["learning_rate_by_model"]["tinybret"] = 1.0e-4
    path = write(tmp_path, raw_params)
    with pytest.raises(ParamsError) as err:
        load_params(path)
    assert (f"{path}:{line_of(path, 'tinybret')}: 'finetune.qa.learning_rate_by_model.tinybret': "
            "unknown model 'tinybret'") in str(err.value)


def test_unknown_dataset_in_dataset_names(tmp_path, raw_params):
    raw_params["tables"]["style"]["dataset_names"]["ncbi-disaese"] = "NCBI"
    path = write(tmp_path, raw_params)
    with pytest.raises(ParamsError) as err:
        load_params(path)
    assert (f"{path}:{line_of(path, 'ncbi-disaese')}: 'tables.style.dataset_names.ncbi-disaese': "
            "unknown dataset 'ncbi-disaese'") in str(err.value)


@pytest.mark.parametrize("where, value", [
    ("path", "/etc"), ("path", "../../secrets"), ("path", "datasets/../../x"), ("path", "~/data"),
    ("files", "../golden.json"),
])
def test_dataset_paths_stay_inside_the_raw_folder(tmp_path, raw_params, where, value):
    if where == "path":
        raw_params["datasets"]["ncbi-disease"]["path"] = value
        key = "datasets.ncbi-disease.path"
    else:
        raw_params["datasets"]["bioasq7b"]["files"]["golden"] = value
        key = "datasets.bioasq7b.files.golden"
    path = write(tmp_path, raw_params)
    with pytest.raises(ParamsError) as err:
        load_params(path)
    msg = str(err.value)
    assert f"'{key}': {value!r} leaves the source's raw folder" in msg and "`path:` source" in msg
    assert f"{path}:{line_of(path, value)}:" in msg


def test_file_urls_in_sources_are_refused(tmp_path, raw_params):
    raw_params["sources"]["biobert"]["paper"]["url"] = "file:///home/me/datasets.tar.gz"
    raw_params["sources"]["chemprot"]["paper"]["files"][1]["url"] = "file:///etc/passwd"
    path = write(tmp_path, raw_params)
    with pytest.raises(ParamsError) as err:
        load_params(path)
    msg = str(err.value)
    assert f"{path}:{line_of(path, 'datasets.tar.gz')}: 'sources.biobert.paper.url'" in msg
    assert "'sources.chemprot.paper.files[1].url': 'file:///etc/passwd': only http:// and https://" in msg
    assert msg.count("`path:` source") == 2


@pytest.mark.parametrize("init", ["biobert_v11", "biobert_v12", "chain"], ids=["unknown", "itself", "a chain"])
def test_a_base_init_must_name_another_base_model_that_starts_from_scratch(tmp_path, raw_params, init):
    base = raw_params["pretrain"]["base"]
    if init == "chain":   # biobert continuing v1.2, which continues biobert: no order to build them in
        base["biobert"]["init"] = "biobert_v12"
        init = base["biobert_v12"]["init"]
    else:
        base["biobert_v12"]["init"] = init
    path = write(tmp_path, raw_params)
    with pytest.raises(ParamsError, match=r"'pretrain\.base\.\w+\.init': unknown base model without an init"):
        load_params(path)


@pytest.mark.parametrize("key, value", [("finetune.re.epochs.demo", 7), ("tables.style.decimals", 1),
                                        ("sources.pubmed.paper.pubmed_baseline.count", 1)])
def test_dvc_exp_run_set_leaves_a_params_yaml_both_parsers_read(tmp_path, key, value):
    """`dvc exp run -S key=value` rewrites params.yaml with ruamel.yaml (reflowing every line); the result
    must read back, in DVC's parser and ours, as params.yaml with that one value changed.  (A URL inside
    a `{...}` mapping came back unquoted, which ruamel's own parser then refused: "YAML file structure is
    corrupted".)"""
    from dvc.utils.serialize import load_yaml, modify_yaml

    path = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", path)
    want = yaml.safe_load(path.read_text())
    *parents, last = key.split(".")
    with modify_yaml(str(path)) as doc:
        for node in (doc, want):
            for p in parents:
                node = node[p]
            node[last] = value
    assert json.loads(json.dumps(load_yaml(str(path)))) == want
    assert load_params(path, validate=False) == want
