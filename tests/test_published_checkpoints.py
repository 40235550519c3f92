"""``pretrain.source: published``: fine-tune the authors' released checkpoints instead of training them.

One switch in params.yaml: the job graph loses every distill and continual
job, the six compact models are fetched like any hub base model (pinned
nlpie revisions), prefetch and the hub mirror list them, the tables say what
they hold, and a hub-layout mirror serves them offline as in the rehearsal.
"""

from __future__ import annotations

import json

import pytest
import yaml

from compactbio import checkpoints, prefetch
from compactbio.models import hub_mirror
from compactbio.params import ParamsError, load_params, lookup, resolve
from compactbio.workflow import graph

from workflow_tools import snakemake_jobs

COMPACT = ["distilbiobert", "tinybiobert", "compactbiobert", "biodistilbert", "biotinybert", "biomobilebert"]
# The authors' README ("Available Models"); BioDistilBERT is the -cased model (continued from distilbert-base-cased).
NLPIE = {"distilbiobert": "nlpie/distil-biobert", "compactbiobert": "nlpie/compact-biobert",
         "tinybiobert": "nlpie/tiny-biobert", "biodistilbert": "nlpie/bio-distilbert-cased",
         "biotinybert": "nlpie/bio-tinybert", "biomobilebert": "nlpie/bio-mobilebert"}


def write(tmp_path, raw, name="params.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture
def published(tmp_path, raw_params):
    """(file dict, loaded raw dict) of the project's params with the switch on."""
    raw_params["pretrain"]["source"] = "published"
    return raw_params, load_params(write(tmp_path, raw_params))


def test_the_default_trains_and_the_switch_is_off(root):
    raw = load_params(root / "params.yaml")
    assert raw["pretrain"]["source"] == "train" and set(raw["pretrain"]["published"]) == set(COMPACT)
    rules = {j.rule for j in graph.jobs(raw)}
    assert {"distill", "continual"} <= rules
    assert not any(j.name in {f"base_model@{m}" for m in COMPACT} for j in graph.jobs(raw))


def test_switch_turns_the_compact_models_into_hub_base_models(published):
    file, raw = published
    jobs = graph.jobs(raw)
    assert not any(j.rule in ("distill", "continual") for j in jobs)
    by_name = {j.name: j for j in jobs}
    for m in COMPACT:
        job = by_name[f"base_model@{m}"]
        assert job.outs == [graph.model_dir(m)]
        assert job.deps == [graph.tokenizer_dir(m), graph.tokenized_dir(m, raw["grid"]["corpus"])]
        # its own tokenizer (the checkpoint's), and fine-tunes on data tokenized by it
        assert graph.family_of(raw, m) == m
        ft = [j for j in jobs if j.rule.startswith("finetune_") and f"--model {m} " in j.cmd]
        assert len(ft) == 11 * len(raw["grid"]["seeds"])
        assert all(j.deps[:2] == [graph.model_dir(m), graph.tokenized_dir(m, j.cmd.split("--dataset ")[1].split()[0])]
                   for j in ft)
    # the teacher and the baselines are untouched
    assert {"base_model@biobert", "base_model@biobert_v12", "base_model@tinybert"} <= set(by_name)
    paper = resolve(raw, "paper")
    for m, hub in NLPIE.items():
        entry = paper["pretrain"]["base"][m]
        assert entry["hub"] == hub and len(entry["revision"]) == 40 and entry["mlm"]["steps"] == 0


def test_declared_keys_exist_in_the_file_and_in_the_resolved_params(published, tmp_path):
    """DVC reads a stage's params from params.yaml itself; Snakemake looks them up in the resolved dict."""
    file, raw = published
    res = resolve(raw)
    for job in graph.jobs(raw):
        if job.rule in ("tokenizer", "base_model", "table"):
            for key in job.params:
                if key != "rehearsal":
                    lookup(file, key)     # KeyError: DVC would stop with "missing params"
                    lookup(res, key)
    keys = {j.name: j.params for j in graph.jobs(raw)}
    assert keys["base_model@tinybiobert"][:4] == ["scale", "rehearsal", "pretrain.engine", "pretrain.source"]
    assert "pretrain.published.tinybiobert" in keys["base_model@tinybiobert"]
    assert "pretrain.published.tinybiobert.revision" in keys["tokenizer@tinybiobert"]
    assert "pretrain.base.biobert" in keys["base_model@biobert"]          # a real base model: as before
    assert {"pretrain.source", "pretrain.published.tinybiobert"} <= set(keys["table@table2"])
    assert "pretrain.source" not in keys["table@table1"]                  # the datasets table shows no model
    # with the switch off, no table declares it (the committed dvc.yaml stays as it was)
    assert not any("pretrain.source" in j.params for j in graph.jobs(load_params(write_default(file, tmp_path))))


def write_default(file, tmp_path):
    """``file`` with the switch back to ``train``, written beside the other."""
    file = json.loads(json.dumps(file))
    file["pretrain"]["source"] = "train"
    return write(tmp_path, file, "params-train.yaml")


def test_prefetch_and_the_hub_mirror_list_the_nlpie_ids(published):
    _, raw = published
    hub = dict(prefetch.hub_models(resolve(raw, "paper")))
    for m, repo in NLPIE.items():
        assert hub[repo] == raw["pretrain"]["published"][m]["revision"]["paper"]
    assert "dmis-lab/biobert-base-cased-v1.1" in hub                   # the reference is still fetched
    assert prefetch.hub_models(resolve(raw, "demo")) == []             # demo: stand-ins built locally
    repos = hub_mirror.default_repos(raw)
    assert set(NLPIE.values()) <= set(repos)
    for m, repo in NLPIE.items():                    # the mirror writes each at the commit params.yaml pins
        assert hub_mirror.REGISTRY[repo].commit == raw["pretrain"]["published"][m]["revision"]["paper"]


def test_tokenizer_casing_and_vocabularies_match_the_checkpoints(raw_params):
    """BioBERT's cased vocabulary for the distilled ones and BioDistilBERT-cased; uncased for TinyBERT and
    MobileBERT's continuations."""
    pub = raw_params["pretrain"]["published"]
    cased = {m: not pub[m]["tokenizer"]["lowercase"] for m in COMPACT}
    assert cased == {"distilbiobert": True, "compactbiobert": True, "tinybiobert": True, "biodistilbert": True,
                     "biotinybert": False, "biomobilebert": False}
    for m, repo in NLPIE.items():
        spec = hub_mirror.REGISTRY[repo]
        assert spec.cased == cased[m] and spec.arch == pub[m]["arch"]
        assert spec.config["vocab_size"] == (28996 if cased[m] else 30522)
        # the base entry of what each model continues from or is distilled from has the same casing
    base = raw_params["pretrain"]["base"]
    for m, start in {"biodistilbert": "distilbert", "biotinybert": "tinybert", "biomobilebert": "mobilebert"}.items():
        assert pub[m]["tokenizer"]["lowercase"] == base[start]["tokenizer"]["lowercase"]
        assert pub[m]["arch"] == base[start]["arch"]


@pytest.mark.parametrize("change,message", [
    (lambda p: p["pretrain"]["published"].pop("biotinybert"),
     r"'pretrain\.continual\.biotinybert': pretrain\.source is published but pretrain\.published has no entry"),
    (lambda p: p["pretrain"]["published"].update(biobert=p["pretrain"]["published"]["tinybiobert"]),
     r"'pretrain\.published\.biobert': not a model of pretrain\.distill or pretrain\.continual"),
    (lambda p: p["pretrain"].update(source="hub"), r"'pretrain\.source': 'hub' is not one of"),
    (lambda p: p["pretrain"]["published"]["tinybiobert"].update(arch="gpt"), r"pretrain\.published\.tinybiobert\.arch"),
])
def test_bad_published_params_name_the_key_and_line(tmp_path, raw_params, change, message):
    raw_params["pretrain"]["source"] = "published"
    change(raw_params)
    path = write(tmp_path, raw_params)
    with pytest.raises(ParamsError, match=message) as err:
        load_params(path)
    assert f"{path}:" in str(err.value) and f"{path}:?" not in str(err.value)


def test_with_the_switch_off_published_entries_are_inert(tmp_path, raw_params):
    """Dropping a distilled model from the pipeline does not require deleting its checkpoint entry."""
    raw_params["pretrain"]["distill"].pop("compactbiobert")
    raw_params["grid"]["models"].remove("compactbiobert")
    for t in raw_params["tables"].values():
        if isinstance(t.get("models"), list) and "compactbiobert" in t["models"]:
            t["models"].remove("compactbiobert")
    raw_params["models"].pop("compactbiobert")
    for section in raw_params["finetune"].values():
        (section.get("learning_rate_by_model") or {}).pop("compactbiobert", None)
    raw_params["efficiency"]["architectures"].pop("compactbiobert")
    raw = load_params(write(tmp_path, raw_params))
    assert "compactbiobert" not in raw["pretrain"]["base"] and "compactbiobert" in raw["pretrain"]["published"]
    raw_params["pretrain"]["source"] = "published"
    with pytest.raises(ParamsError, match=r"'pretrain\.published\.compactbiobert': not a model"):
        load_params(write(tmp_path, raw_params))


def test_switched_params_written_back_stay_valid_and_mean_the_same(tmp_path, published):
    """`compactbio rehearsal` writes the loaded params to its work folder and loads them again."""
    _, raw = published
    again = load_params(write(tmp_path, raw, "written.yaml"))
    assert again == raw
    assert sorted(j.name for j in graph.jobs(again)) == sorted(j.name for j in graph.jobs(raw))


def test_resolve_applies_the_switch_as_it_applies_the_rehearsal_caps(raw_params):
    """Stages read resolved params; a dict that never went through load_params is switched too."""
    raw_params["pretrain"]["source"] = "published"
    raw_params["scale"] = "paper"
    raw_params["rehearsal"]["enabled"] = True
    res = resolve(raw_params)
    assert res["pretrain"]["distill"] == {} and res["pretrain"]["continual"] == {}
    assert res["pretrain"]["base"]["tinybiobert"]["hub"] == "nlpie/tiny-biobert"
    assert res["pretrain"]["base"]["tinybiobert"]["mlm"]["steps"] == 0          # min(0, cap)
    assert resolve(res) == res and checkpoints.apply(res) == res                # idempotent
    demo = resolve(raw_params, "demo")["pretrain"]["base"]["tinybiobert"]
    assert demo["hub"] is None and demo["config"]["hidden_size"] == 48 and demo["mlm"]["steps"] == 200


def test_tables_say_they_hold_published_checkpoints(published, tmp_path):
    from compactbio.report import stage
    from compactbio.report.table import Table

    _, raw = published
    paper = {**resolve(raw, "paper"), "scale": "paper"}
    caption, note = checkpoints.table_label(paper, "table2")
    assert caption == "compact models: published nlpie checkpoints"
    assert "DistilBioBERT: nlpie/distil-biobert at da32b62" in note and "TinyBioBERT: nlpie/tiny-biobert" in note
    assert "BioTinyBERT" not in note                                # not a model of Table 2
    assert "BioTinyBERT: nlpie/bio-tinybert" in checkpoints.table_label(paper, "reported")[1]
    assert checkpoints.table_label(paper, "table1") is None           # the datasets table
    demo_caption, demo_note = checkpoints.table_label(resolve(raw, "demo"), "table3")
    assert "demo stand-ins" in demo_caption and "BioMobileBERT" in demo_note
    tab = Table("table2", "Test results", ["Model"], ["l"], notes=["a footnote"])
    out, _, _ = stage.labelled(paper, tab, [])
    assert out.caption == "Test results (compact models: published nlpie checkpoints)"
    assert out.notes == ["a footnote", note]
    trained = {**resolve(load_params(write_default(published[0], tmp_path)), "paper"), "scale": "paper"}
    assert checkpoints.table_label(trained, "table2") is None
    assert stage.labelled(trained, tab, [])[0].caption == "Test results"


def test_snakemake_plans_fetches_not_distillation(tmp_path, published, copy_workflow):
    """The Snakemake front end reads the same switch: Table 4's plan fetches DistilBioBERT, distils nothing."""
    file, _ = published
    file["scale"] = "paper"
    wf = copy_workflow(tmp_path / "wf", file)
    planned = snakemake_jobs(wf, "table4", extra=("--forceall",))
    rules = {j["rule"] for j in planned}
    assert "distill" not in rules and "continual" not in rules
    fetched = {j["output"][0] for j in planned if j["rule"] == "base_model"}
    assert {"models/distilbiobert", "models/compactbiobert", "models/tinybiobert"} <= fetched
    tok = next(j for j in planned if j["rule"] == "tokenizer" and j["output"] == ["models/tokenizers/tinybiobert"])
    assert "--model tinybiobert" in tok["cmd"]


def test_a_published_checkpoint_loads_offline_from_a_hub_layout_mirror(tmp_path, published, monkeypatch):
    """The rehearsal's path: mirror the pinned commits, go offline, run the tokenizer and base-model stages."""
    import huggingface_hub.constants as c
    from transformers import AutoModelForTokenClassification

    from compactbio.data import tokenizer
    from compactbio.pretrain import base

    _, raw = published
    params = resolve(raw, "paper")
    text = tmp_path / "text.txt"
    text.write_text("Gene expression of BRCA1 in breast cancer patients was measured .\n" * 20)
    cache = tmp_path / "hub"
    hub_mirror.mirror(cache, ["nlpie/tiny-biobert", "nlpie/bio-mobilebert"], size="tiny", vocab_texts=[text])
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    for m, vocab, uncased in (("tinybiobert", 28996, False), ("biomobilebert", 30522, True)):
        tok, out = tmp_path / "tokenizers" / m, tmp_path / "models" / m
        tokenizer.run(params, m, tmp_path / "no-corpus", tok)
        base.run(params, m, tok, tmp_path / "no-corpus", out, tmp_path / "work" / m)
        cfg = json.loads((out / "config.json").read_text())
        assert cfg["vocab_size"] == vocab
        card = (out / "README.md").read_text()
        assert NLPIE[m] in card and raw["pretrain"]["published"][m]["revision"]["paper"] in card
        AutoModelForTokenClassification.from_pretrained(out, num_labels=3)   # what fine-tuning loads
        from transformers import AutoTokenizer

        ids = AutoTokenizer.from_pretrained(out)("Gene", add_special_tokens=False)["input_ids"]
        assert (ids == AutoTokenizer.from_pretrained(out)("gene", add_special_tokens=False)["input_ids"]) == uncased
