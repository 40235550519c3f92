"""Which cascade pairs params.yaml asks for, the rerun keys of their jobs, and refused settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from compactbio.cascade import plan
from compactbio.params import ParamsError, load_params
from compactbio.workflow.graph import stage_keys

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def raw():
    return yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


def test_compact_means_the_distilled_and_continual_models_of_the_grid(raw):
    assert plan.compact_models(raw) == ["distilbiobert", "compactbiobert", "tinybiobert",
                                        "biodistilbert", "biotinybert", "biomobilebert"]
    raw["grid"]["models"] = ["tinybiobert", "biobert", "distilbert"]
    assert plan.compact_models(raw) == ["tinybiobert"]
    raw["cascade"]["models"] = ["distilbert", "tinybiobert"]   # a list: as given, baselines allowed
    assert plan.pairs(raw)[:2] == [("distilbert", "ncbi-disease", 42), ("distilbert", "bc5cdr-disease", 42)]
    assert len(plan.pairs(raw)) == 2 * 11
    assert plan.table_files(raw)[0] == "results/cascade/cascade.tex"


def test_no_section_no_pairs(raw):
    del raw["cascade"]
    assert plan.pairs(raw) == [] and plan.table_files(raw) == []


@pytest.mark.parametrize("edit, message", [
    (lambda r: r["cascade"].__setitem__("fallback", "mobilebert") or r["grid"]["models"].remove("mobilebert"),
     "cascade.fallback 'mobilebert' is not in grid.models"),
    (lambda r: r["cascade"].__setitem__("models", ["biobert"]), "'biobert' is the fallback itself"),
    (lambda r: r["cascade"].__setitem__("models", ["tinybiobert"]) or r["grid"]["models"].remove("tinybiobert"),
     "cascade.models: 'tinybiobert' is not in grid.models"),
    (lambda r: r.pop("efficiency"), "needs the efficiency section"),
])
def test_settings_that_name_no_runs_are_refused(raw, edit, message):
    edit(raw)
    with pytest.raises(ValueError, match=message):
        plan.pairs(raw)


def test_a_pair_reruns_for_its_settings_not_for_the_list_of_models(raw):
    keys = stage_keys(raw, "cascade")
    assert "cascade.n_bootstrap" in keys and "cascade.targets" in keys and "scale" in keys
    assert "cascade.models" not in keys                       # that list says which pairs exist
    table = stage_keys(raw, "cascade_table")
    assert "cascade" in table and "models.tinybiobert" in table and "tables.style.dataset_names.gad" in table


@pytest.mark.parametrize("value, where", [({"targets": [1.5]}, "cascade.targets"),
                                          ({"models": "all"}, "cascade.models"),
                                          ({"ner_confidence": "mean"}, "cascade.ner_confidence"),
                                          ({"n_bootstrap": 0}, "cascade.n_bootstrap")])
def test_the_schema_refuses_bad_values(raw, tmp_path, value, where):
    raw["cascade"].update(value)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    with pytest.raises(ParamsError, match=where.replace(".", r"\.")):
        load_params(path)
