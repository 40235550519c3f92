"""Model cards with Hub metadata (compactbio.models.card) and vocab.txt in model folders (compactbio.models.folder)."""

from __future__ import annotations

import pytest

from compactbio.models import card, folder

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "Gene", "gene", "BR", "##CA", "##1", "the", "cancer"]
TEXT = "Gene BRCA1 the cancer gene BRCA"


def load(path):
    from huggingface_hub import ModelCard

    return ModelCard.load(path / "README.md")


# ------------------------------------------------------------------ vocab.txt
def _families():
    """The fast tokenizers of the four families the pipeline uses, built from a vocabulary as transformers 5 does."""
    from transformers import BertTokenizer, DistilBertTokenizer, MobileBertTokenizer

    vocab = {t: i for i, t in enumerate(VOCAB)}
    return {"bert": BertTokenizer(vocab=dict(vocab), do_lower_case=False),            # also TinyBERT
            "distilbert": DistilBertTokenizer(vocab=dict(vocab), do_lower_case=False),
            "mobilebert": MobileBertTokenizer(vocab=dict(vocab), do_lower_case=False)}


@pytest.mark.parametrize("family", ["bert", "distilbert", "mobilebert"])
def test_vocab_txt_is_written_and_reads_back_as_the_same_tokenizer(tmp_path, family):
    from transformers import AutoTokenizer, BertTokenizer

    tok = _families()[family]
    tok.save_pretrained(str(tmp_path / "plain"))
    assert not (tmp_path / "plain" / "vocab.txt").exists()   # why folder.write_vocab exists (transformers 5)
    folder.save_tokenizer(tok, tmp_path / "saved")
    lines = (tmp_path / "saved" / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert lines == VOCAB                                    # line i is the token of id i
    fast = AutoTokenizer.from_pretrained(str(tmp_path / "saved"))
    legacy = BertTokenizer(vocab=str(tmp_path / "saved" / "vocab.txt"), do_lower_case=False)
    assert legacy(TEXT)["input_ids"] == fast(TEXT)["input_ids"] == tok(TEXT)["input_ids"]
    assert tok(TEXT, add_special_tokens=False)["input_ids"] == [5, 7, 8, 9, 10, 11, 6, 7, 8]


def test_vocab_with_gaps_is_refused_and_bpe_gets_none(tmp_path):
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    gappy = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordPiece(
        {"[UNK]": 0, "a": 1, "b": 5}, unk_token="[UNK]")), unk_token="[UNK]")
    with pytest.raises(ValueError, match="without gaps"):
        folder.write_vocab(gappy, tmp_path)
    assert not (tmp_path / "vocab.txt").exists()
    bpe = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.BPE({"a": 0, "b": 1, "ab": 2}, [("a", "b")])))
    assert folder.write_vocab(bpe, tmp_path) is None and not (tmp_path / "vocab.txt").exists()


def test_copy_tokenizer_is_byte_exact_and_adds_vocab(tmp_path):
    tok = _families()["bert"]
    tok.save_pretrained(str(tmp_path / "src"))
    (tmp_path / "dest").mkdir()
    folder.copy_tokenizer(tmp_path / "src", tmp_path / "dest")
    assert (tmp_path / "dest/tokenizer.json").read_bytes() == (tmp_path / "src/tokenizer.json").read_bytes()
    assert (tmp_path / "dest/vocab.txt").read_text().splitlines() == VOCAB


# ------------------------------------------------------------------ cards
def test_pretrained_card_metadata_round_trips_through_model_card_load(tmp_path):
    c = card.pretrained_card(model="distilbiobert", title="distilbiobert (distilled)", made_by="knowledge distillation",
                             summary="A student.", arch="bert", scale="paper", license="mit",
                             base_model="dmis-lab/biobert-base-cased-v1.2", datasets=["pubmed"],
                             facts={"steps": 100000, "teacher": "biobert_v12 (dmis-lab/biobert-base-cased-v1.2)"},
                             recipe={"temperature": 2.0, "terms": [{"loss": "mlm", "weight": 2.0}]},
                             params_hash="abc123", tags=["distillation"])
    card.write(c, tmp_path)
    loaded = load(tmp_path)
    meta = loaded.data.to_dict()
    assert meta["base_model"] == "dmis-lab/biobert-base-cased-v1.2"
    assert meta["license"] == "mit" and meta["pipeline_tag"] == "fill-mask" and meta["datasets"] == ["pubmed"]
    assert meta["library_name"] == "transformers" and meta["language"] == "en"
    assert meta["tags"] == ["compactbio", "biomedical", "bert", "distillation"]
    assert meta["compactbio"] == {"model": "distilbiobert", "made_by": "knowledge distillation",
                                  "params_hash": "abc123"}
    assert "eval_results" not in meta and "model-index" not in meta   # pre-trained: no task scores of its own
    body = loaded.text
    assert "- **steps**: 100000" in body and "temperature: 2.0" in body
    assert "@article{rohanian2023compact" in body and "10.1093/bioinformatics/btad103" in body
    assert card.source_of(tmp_path) == card.Source(model="distilbiobert", hub_id=None, license="mit")


def test_demo_and_rehearsal_cards_say_so_and_list_no_data():
    demo = card.pretrained_card(model="biobert", title="t", made_by="demo base model", summary="s", arch="bert",
                                scale="demo", datasets=[])
    meta = card.metadata(demo)
    assert "demo" in meta["tags"] and "datasets" not in meta and "base_model" not in meta and "license" not in meta
    rehearsal = card.pretrained_card(model="biobert", title="t", made_by="hub snapshot", summary="s", arch="bert",
                                     scale="paper", rehearsal=True)
    assert "rehearsal" in card.metadata(rehearsal)["tags"]


def test_task_card_has_a_model_index_of_its_scores(tmp_path):
    scores = {"strict": 0.25, "lenient": 0.5, "mrr": 0.3333333333, "questions": 12, "flag": True}
    c = card.task_card(model="biobert", model_name="biobert-bioasq7b-seed42", title="t", summary="s", task="qa",
                       dataset="bioasq7b", dataset_name="BioASQ 7b", scores=scores, arch="bert", scale="paper",
                       license="apache-2.0", base_model="dmis-lab/biobert-base-cased-v1.1")
    card.write(c, tmp_path)
    data = load(tmp_path).data
    assert data.pipeline_tag == "question-answering" and data.model_name == "biobert-bioasq7b-seed42"
    got = {r.metric_type: r.metric_value for r in data.eval_results}
    assert got == {"strict": 0.25, "lenient": 0.5, "mrr": 0.333333, "questions": 12}   # bools are not scores
    assert {(r.task_type, r.dataset_type, r.dataset_name, r.dataset_split) for r in data.eval_results} == {
        ("question-answering", "bioasq7b", "BioASQ 7b", "test")}
    assert data.datasets == ["bioasq7b"] and data.base_model == "dmis-lab/biobert-base-cased-v1.1"


@pytest.mark.parametrize("task,tag", [("ner", "token-classification"), ("re", "text-classification"),
                                      ("qa", "question-answering")])
def test_task_pipeline_tags(task, tag):
    c = card.task_card(model="m", model_name="m-d", title="t", summary="s", task=task, dataset="d", dataset_name="D",
                       scores={"f1": 0.5}, arch="bert", scale="demo")
    assert card.metadata(c)["pipeline_tag"] == tag


def test_foreign_or_missing_cards(tmp_path):
    assert card.source_of(tmp_path) == card.Source()
    (tmp_path / "README.md").write_text("---\nlicense: apache-2.0\n---\n# Someone's model\n")
    assert card.source_of(tmp_path) == card.Source(license="apache-2.0")   # no hub id claimed for a foreign folder


def test_training_view_drops_card_only_keys():
    cfg = {"init": "distilbert", "license": "mit", "train": {"steps": 1}}
    assert card.training_view(cfg) == {"init": "distilbert", "train": {"steps": 1}}
    assert cfg["license"] == "mit"
