"""finetune.common.keep_model: the run keeps a complete, loadable task model with a Hub card of its scores."""

import json
import shutil

import pytest

import ft_helpers as H
from compactbio.finetune import stage

FILES = ["README.md", "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt"]


def keep(p, on=True):
    p["finetune"]["common"]["keep_model"] = on
    return p


def card_meta(folder):
    from huggingface_hub import ModelCard

    return ModelCard.load(folder / "README.md").data


def rescore(folder, task_name, data, prepared, hp):
    """Score the kept folder again from disk, as a user would load it: must give the run's test scores."""
    import transformers as T

    from compactbio.finetune import ner, qa, re
    from compactbio.finetune.inputs import load_inputs
    from compactbio.finetune.loop import predict
    from compactbio.finetune.modeling import accepted_inputs, pad_id

    auto = {"ner": T.AutoModelForTokenClassification, "re": T.AutoModelForSequenceClassification,
            "qa": T.AutoModelForQuestionAnswering}[task_name]
    task = {"ner": ner, "re": re, "qa": qa}[task_name]
    net = auto.from_pretrained(str(folder)).eval()
    inp = load_inputs(data, prepared)
    feats = task.features(inp, "test", train=False)
    return task.evaluate(inp, "test", predict(net, feats, 64, pad_id(net), accepted_inputs(net), "cpu"), hp).scores, net


def test_ner_run_keeps_its_selected_model(tmp_path, bert_dir, ner_data):
    prepared, data = ner_data
    out = tmp_path / "run"
    m = stage.run(keep(H.params(epochs=3, lr=2e-2)), "tiny", "toy-ner", 42, bert_dir, data, prepared, out)
    kept = out / "model"
    assert sorted(p.name for p in kept.iterdir()) == FILES   # nothing stray (no logs, temps, lock files)
    from compactbio.finetune.hparams import hyperparameters

    scores, net = rescore(kept, "ner", data, prepared, hyperparameters(H.params(), "ner", "tiny"))
    assert scores == m["test"]                       # the best epoch's weights, not the last epoch's
    assert list(net.config.id2label.values()) == ["B", "I", "O"]
    assert "_attn_implementation" not in json.loads((kept / "config.json").read_text())
    # tokenizer files byte for byte those of the model folder it was fine-tuned from
    assert (kept / "tokenizer.json").read_bytes() == (bert_dir / "tokenizer.json").read_bytes()
    from transformers import AutoTokenizer, BertTokenizer

    vocab = (kept / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert vocab == [t for t, _ in sorted(AutoTokenizer.from_pretrained(str(kept)).get_vocab().items(),
                                          key=lambda kv: kv[1])]
    legacy = BertTokenizer(vocab=str(kept / "vocab.txt"), do_lower_case=False)
    assert legacy.convert_tokens_to_ids(vocab) == list(range(len(vocab)))

    data_ = card_meta(kept)
    assert data_.pipeline_tag == "token-classification" and data_.library_name == "transformers"
    assert data_.base_model is None and data_.license is None   # the toy model folder has no card of ours
    assert "demo" in data_.tags and "ner" in data_.tags
    results = {r.metric_type: r.metric_value for r in data_.eval_results}
    assert results == pytest.approx(m["test"], abs=1e-6)
    assert {r.dataset_type for r in data_.eval_results} == {"toy-ner"}
    assert {r.dataset_split for r in data_.eval_results} == {"test"}
    assert data_.model_name == "tiny-toy-ner-seed42"
    assert "@article{" in (kept / "README.md").read_text() and "btad103" in (kept / "README.md").read_text()


def test_lineage_comes_from_the_model_folders_card(tmp_path, bert_dir, ner_data):
    """A run from a hub snapshot names the snapshot's hub id as base_model and inherits its license."""
    from compactbio.models import card

    prepared, data = ner_data
    snap = tmp_path / "biobert"
    shutil.copytree(bert_dir, snap)
    card.write(card.pretrained_card(model="biobert", title="t", made_by="hub snapshot", summary="s", arch="bert",
                                    scale="paper", license="apache-2.0", base_model="dmis-lab/biobert-base-cased-v1.1",
                                    hub_id="dmis-lab/biobert-base-cased-v1.1"), snap)
    p = keep(H.params(epochs=1))
    p["scale"] = "paper"
    stage.run(p, "biobert", "toy-ner", 1, snap, data, prepared, tmp_path / "run")
    meta = card_meta(tmp_path / "run" / "model")
    assert meta.base_model == "dmis-lab/biobert-base-cased-v1.1" and meta.license == "apache-2.0"
    assert meta.datasets == ["toy-ner"] and "demo" not in meta.tags
    # A model made here (its card has no hub id) is never named by a path.
    own = tmp_path / "distilbiobert"
    shutil.copytree(bert_dir, own)
    card.write(card.pretrained_card(model="distilbiobert", title="t", made_by="knowledge distillation",
                                    summary="s", arch="bert", scale="paper", license="mit",
                                    base_model="dmis-lab/biobert-base-cased-v1.2"), own)
    stage.run(p, "distilbiobert", "toy-ner", 1, own, data, prepared, tmp_path / "run2")
    meta = card_meta(tmp_path / "run2" / "model")
    assert meta.base_model is None and meta.license == "mit"
    assert str(tmp_path) not in (tmp_path / "run2" / "model" / "README.md").read_text()


def test_off_keeps_no_model(tmp_path, bert_dir, ner_data):
    prepared, data = ner_data
    stage.run(keep(H.params(epochs=1), on=False), "tiny", "toy-ner", 1, bert_dir, data, prepared, tmp_path / "run")
    assert not (tmp_path / "run" / "model").exists()


@pytest.mark.parametrize("task_name,pipeline", [("re", "text-classification"), ("qa", "question-answering")])
def test_re_and_qa_runs_keep_loadable_models(tmp_path, tok, task_name, pipeline):
    from compactbio.finetune.hparams import hyperparameters

    model_dir = H.build_model(tmp_path / "m", tok, "distilbert")
    prepared, data = H.make_dataset(tmp_path / "d", task_name, tok, sizes=(48, 16, 16))
    p = keep(H.params(epochs=1))
    m = stage.run(p, "tiny", f"toy-{task_name}", 3, model_dir, data, prepared, tmp_path / "run")
    kept = tmp_path / "run" / "model"
    assert sorted(x.name for x in kept.iterdir()) == FILES
    scores, _ = rescore(kept, task_name, data, prepared, hyperparameters(p, task_name, "tiny"))
    assert scores == m["test"]
    meta = card_meta(kept)
    assert meta.pipeline_tag == pipeline and "distilbert" in meta.tags
    assert {r.metric_type: r.metric_value for r in meta.eval_results} == pytest.approx(
        {k: v for k, v in m["test"].items() if isinstance(v, float)}, abs=1e-6)
