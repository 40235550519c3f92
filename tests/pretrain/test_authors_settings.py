"""The authors' pre-training settings (nlpie-research/Compact-Biomedical-Transformers), like for like.

* losses against torch's own reductions (``nn.KLDivLoss``, ``nn.CosineEmbeddingLoss``,
  ``nn.CrossEntropyLoss``) on hand-made inputs, computed the way the authors' scripts do;
* which teacher layers each student keeps, and a fresh MLM head;
* warm-up in steps and per-job weight decay;
* one corpus row per document, not packed;
* the teacher sanity gate (a random teacher fails, a trained one passes);
* params.yaml at paper scale holds the authors' values.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from compactbio.distill import gate, losses, stage
from compactbio.distill.recipe import parse
from compactbio.models.build import load_masked_lm
from compactbio.models.student import alternate_layers, kept_layers, make_student
from compactbio.params import load_params, resolve
from compactbio.pretrain.data import load_corpus
from compactbio.pretrain.engine import TrainConfig, linear_schedule

ROOT = Path(__file__).resolve().parents[2]
torch.manual_seed(0)


def maps(b, h, n, real=None):
    """Softmax maps [b, h, n, n]; with ``real`` lengths, pad keys get exactly zero probability."""
    scores = torch.randn(b, h, n, n) * 2
    if real is not None:
        am = torch.tensor([[1 if j < k else 0 for j in range(n)] for k in real])
        scores = scores.masked_fill(am[:, None, None, :] == 0, float("-inf"))
    return scores.softmax(-1)


# ------------------------------------------------------------------ losses vs torch
@pytest.mark.filterwarnings("ignore:reduction. .mean. divides:UserWarning")  # the authors used "mean" on purpose
def test_attention_kl_elements_is_torch_kldivloss_mean_teacher_as_target():
    """No padding: the authors' KLDivLoss(reduction="mean")(log s, t) over all map elements."""
    s, t = maps(2, 3, 5), maps(2, 3, 5)
    am = torch.ones(2, 5, dtype=torch.long)
    ref = nn.KLDivLoss(reduction="mean")(torch.log(s.reshape(-1, 5) + 1e-12), t.reshape(-1, 5) + 1e-12)
    got = losses.attention_kl(s, t, am)   # defaults: teacher_student, elements
    assert got.item() == pytest.approx(ref.item(), rel=1e-5)
    # the other direction is a different number (KL is not symmetric)
    other = losses.attention_kl(s, t, am, direction="student_teacher")
    ref_st = nn.KLDivLoss(reduction="mean")(torch.log(t.reshape(-1, 5)), s.reshape(-1, 5))
    assert other.item() == pytest.approx(ref_st.item(), rel=1e-5)
    assert abs(other.item() - got.item()) > 1e-4


def test_attention_kl_elements_with_padding_counts_real_rows_and_columns():
    lengths = [5, 3]
    s, t = maps(2, 2, 5, lengths), maps(2, 2, 5, lengths)
    am = torch.tensor([[1] * 5, [1, 1, 1, 0, 0]])
    total, n = 0.0, 0
    for b, k in enumerate(lengths):
        blk_s, blk_t = s[b, :, :k, :k].reshape(-1, k), t[b, :, :k, :k].reshape(-1, k)
        total += nn.KLDivLoss(reduction="sum")(torch.log(blk_s), blk_t).item()
        n += blk_s.numel()
    got = losses.attention_kl(s, t, am, "teacher_student", "elements")
    assert got.item() == pytest.approx(total / n, rel=1e-5)
    assert losses.count("attention_kl", 0, lengths, 2, 8, "elements") == n
    rows = losses.attention_kl(s, t, am, "teacher_student", "rows")
    assert rows.item() == pytest.approx(total / (2 * sum(lengths)), rel=1e-5)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_output_kl_is_torch_batchmean_kldivloss_times_t2(temperature):
    s, t = torch.randn(4, 6, 9) * 3, torch.randn(4, 6, 9) * 3
    mask = torch.rand(4, 6) < 0.5
    mask[0, 0] = True
    ref = nn.KLDivLoss(reduction="batchmean")(torch.log_softmax(s[mask] / temperature, -1),
                                               torch.softmax(t[mask] / temperature, -1)) * temperature ** 2
    assert losses.output_kl(s, t, mask, temperature).item() == pytest.approx(ref.item(), rel=1e-5)


def test_hidden_cosine_is_torch_cosine_embedding_loss_over_real_tokens():
    hs, ht = torch.randn(3, 5, 4), torch.randn(3, 5, 4)
    am = torch.tensor([[1] * 5, [1, 1, 0, 0, 0], [1, 1, 1, 1, 0]])
    keep = am.bool()
    ref = nn.CosineEmbeddingLoss(reduction="mean")(hs[keep], ht[keep], torch.ones(int(keep.sum())))
    assert losses.hidden_cosine(hs, ht, am).item() == pytest.approx(ref.item(), rel=1e-5)


def test_output_soft_ce_is_torch_cross_entropy_with_soft_targets():
    s, t = torch.randn(3, 4, 7), torch.randn(3, 4, 7)
    mask = torch.rand(3, 4) < 0.6
    mask[1, 1] = True
    ref = nn.CrossEntropyLoss()(s[mask], torch.softmax(t[mask], -1))
    assert losses.output_soft_ce(s, t, mask).item() == pytest.approx(ref.item(), rel=1e-5)


def test_recipe_defaults_are_the_authors_and_options_are_checked():
    r = parse({"terms": [{"loss": "output_kl", "weight": 1}, {"loss": "attention_kl", "weight": 1}]})
    assert [(t.direction, t.normalize) for t in r.terms] == [("teacher_student", "elements")] * 2
    r = parse({"terms": [{"loss": "attention_kl", "weight": 1, "direction": "student_teacher", "normalize": "rows"}]})
    assert (r.terms[0].direction, r.terms[0].normalize) == ("student_teacher", "rows")
    with pytest.raises(ValueError, match="normalize"):
        parse({"terms": [{"loss": "attention_kl", "weight": 1, "normalize": "heads"}]})
    with pytest.raises(ValueError, match="only attention_kl"):
        parse({"terms": [{"loss": "attention_mse", "weight": 1, "normalize": "rows"}]})
    with pytest.raises(ValueError, match="direction"):
        parse({"terms": [{"loss": "hidden_mse", "weight": 1, "direction": "teacher_student"}]})


# ------------------------------------------------------------------ student initialisation
def test_kept_layers_even_odd_and_lists():
    assert kept_layers(12, "even") == [0, 2, 4, 6, 8, 10]      # DistilBioBERT: layer[2*index]
    assert kept_layers(12, "odd") == [1, 3, 5, 7, 9, 11]       # CompactBioBERT: layer[2*index + 1]
    assert kept_layers(4, [0, 3]) == [0, 3]
    for bad in ("every", [3, 1], [0, 0], [0, 12]):
        with pytest.raises(ValueError):
            kept_layers(12, bad)


@pytest.mark.parametrize("layers,want", [("even", [0, 2]), ("odd", [1, 3]), ([0, 3], [0, 3])])
def test_alternate_layers_copies_the_chosen_teacher_layers(assets, layers, want):
    teacher = load_masked_lm(assets["teacher"])
    student = make_student(teacher, {"init": "alternate_layers", "layers": layers}, 0)
    assert student.config.num_hidden_layers == len(want)
    for i, j in enumerate(want):
        s, t = student.bert.encoder.layer[i].state_dict(), teacher.bert.encoder.layer[j].state_dict()
        assert all(torch.equal(s[k], t[k]) for k in s), (layers, i, j)
    assert torch.equal(student.bert.embeddings.word_embeddings.weight,
                       teacher.bert.embeddings.word_embeddings.weight)


def test_fresh_mlm_head_keeps_only_the_tied_decoder(assets):
    teacher = load_masked_lm(assets["teacher"])
    with torch.no_grad():
        teacher.cls.predictions.bias.fill_(0.5)
    copied = alternate_layers(teacher, mlm_head="copy")
    fresh = alternate_layers(teacher, mlm_head="fresh", seed=3)
    tp, cp, fp = teacher.cls.predictions, copied.cls.predictions, fresh.cls.predictions
    assert torch.equal(cp.transform.dense.weight, tp.transform.dense.weight)
    assert not torch.equal(fp.transform.dense.weight, tp.transform.dense.weight)
    assert torch.all(fp.transform.LayerNorm.weight == 1) and torch.all(fp.bias == 0)
    assert torch.all(cp.bias == 0.5)
    assert fp.decoder.weight.data_ptr() == fresh.bert.embeddings.word_embeddings.weight.data_ptr()
    assert torch.equal(fp.decoder.weight, teacher.bert.embeddings.word_embeddings.weight)
    again = alternate_layers(teacher, mlm_head="fresh", seed=3)
    assert torch.equal(again.cls.predictions.transform.dense.weight, fp.transform.dense.weight)


# ------------------------------------------------------------------ warm-up steps, weight decay
def test_warmup_steps_and_weight_decay_per_job_override_the_engine():
    engine = {"warmup_fraction": 0.05, "weight_decay": 0.01, "seed": 0}
    plain = TrainConfig.from_params({"steps": 1000, "batch_size": 8, "learning_rate": 1e-4}, engine)
    assert (plain.warmup(), plain.weight_decay) == (50, 0.01)
    own = TrainConfig.from_params({"steps": 1000, "batch_size": 8, "learning_rate": 1e-4,
                                   "warmup_steps": 300, "weight_decay": 0.0}, engine)
    assert (own.warmup(), own.weight_decay) == (300, 0.0)
    nulls = TrainConfig.from_params({"steps": 1000, "batch_size": 8, "learning_rate": 1e-4,
                                     "warmup_steps": None, "weight_decay": None}, engine)
    assert (nulls.warmup(), nulls.weight_decay) == (50, 0.01)
    f = linear_schedule(1000, own.warmup())
    assert f(0) == pytest.approx(1 / 300) and f(299) == pytest.approx(1.0) and f(999) == pytest.approx(1 / 700)


def test_engine_uses_the_jobs_warmup_steps(assets, params, tmp_path):
    import csv

    cfg = params["pretrain"]["distill"]["distilbiobert"]
    cfg["train"].update(steps=4, warmup_steps=8, weight_decay=0.0)
    params["pretrain"]["engine"]["log_every"] = 1
    stage.run(params, "distilbiobert", assets["teacher"], assets["corpus"], tmp_path / "out", tmp_path / "w")
    lrs = [float(r["lr"]) for r in csv.DictReader(open(tmp_path / "w" / "train_log.csv"))]
    lr = cfg["train"]["learning_rate"]
    assert lrs == pytest.approx([lr * k / 8 for k in (2, 3, 4, 5)], rel=1e-3)


# ------------------------------------------------------------------ corpus rows
def test_corpus_without_packing_is_one_truncated_row_per_document(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    from compactbio.data.tokenize import document_rows, pack_rows

    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(20)])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    docs = ["w1 w2 w3", "", "w4 " * 12, "w5 w6"]
    rows = document_rows(tok, docs, max_length=8)
    assert rows == [[2, 6, 7, 8, 3], [2] + [9] * 6 + [3], [2, 10, 11, 3]]
    packed = pack_rows(tok, docs, max_length=8)
    assert packed.tolist() == [[2, 6, 7, 8, 9, 9, 9, 3], [2] + [9] * 6 + [3]]  # 17 ids: 2 rows of 6, tail dropped


def test_tokenize_stage_follows_corpus_packing(tmp_path):
    from compactbio.data import tokenize as tk

    from .conftest import make_tokenizer

    tok = make_tokenizer(tmp_path / "tok")
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "meta.json").write_text('{"task": "mlm", "name": "toy"}')
    (ds / "corpus.txt").write_text("w1 w2 w3\nw4 w5\nw6 w7 w8 w9\n")
    for packing, want in ((False, [3, 2, 4]), (True, None)):
        out = tmp_path / f"out{packing}"
        tk.run({"tokenize": {"corpus_max_length": 6, "corpus_packing": packing}}, tok, ds, out)
        rows = [r.tolist() for r in load_corpus(out)]
        if want is not None:
            assert [len(r) - 2 for r in rows] == want
        else:
            assert all(len(r) == 6 for r in rows) and len(rows) == 9 // 4


# ------------------------------------------------------------------ teacher gate
@pytest.fixture(scope="module")
def trained_teacher(tmp_path_factory, assets):
    """A small BERT MLM-trained briefly on the toy corpus (a plain loop: seconds, not the engine)."""
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    from compactbio.pretrain.data import Masker, collate

    root = tmp_path_factory.mktemp("gate")
    rows = gate.corpus_tail(assets["corpus"])
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=45, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=64, pad_token_id=0, max_position_embeddings=64,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = BertForMaskedLM(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    masker = Masker(mask_id=4, vocab_size=45, special_ids=(0, 1, 2, 3, 4), probability=0.15)
    g, rng = torch.Generator().manual_seed(0), np.random.default_rng(0)
    for _ in range(60):
        batch = collate(masker([rows[i] for i in rng.choice(len(rows), 32, replace=False)], g), pad_id=0)
        model(**batch).loss.backward()
        opt.step()
        opt.zero_grad()
    model.save_pretrained(root / "teacher")
    AutoTokenizer.from_pretrained(str(assets["tok"])).save_pretrained(root / "teacher")
    return root / "teacher"


def _rows(assets):
    return gate.corpus_tail(assets["corpus"])


def test_gate_random_teacher_fails_and_trained_teacher_passes(assets, trained_teacher):
    from transformers import AutoTokenizer

    threshold = resolve(load_params(ROOT / "params.yaml"))["pretrain"]["distill_gate"]["min_teacher_accuracy"]
    tok = AutoTokenizer.from_pretrained(str(assets["tok"]))
    rnd, n = gate.teacher_accuracy(load_masked_lm(assets["teacher"]), _rows(assets), tok.mask_token_id,
                                   tok.all_special_ids, masked_tokens=400, seed=0)
    good, m = gate.teacher_accuracy(load_masked_lm(trained_teacher), _rows(assets), tok.mask_token_id,
                                    tok.all_special_ids, masked_tokens=400, seed=0)
    assert n == m >= 400
    assert rnd < threshold < good, (rnd, good)
    again, _ = gate.teacher_accuracy(load_masked_lm(trained_teacher), _rows(assets), tok.mask_token_id,
                                     tok.all_special_ids, masked_tokens=400, seed=0)
    assert again == good
    facts = gate.check(load_masked_lm(trained_teacher), _rows(assets), tok,
                       {"min_teacher_accuracy": threshold}, "t")
    assert facts["accuracy"] == round(good, 4)


def test_distill_stops_on_a_random_teacher_and_logs_the_accuracy_otherwise(assets, params, trained_teacher,
                                                                            tmp_path):
    params["pretrain"]["distill_gate"] = {"min_teacher_accuracy": 0.05, "masked_tokens": 300, "seed": 0}
    with pytest.raises(gate.TeacherGateError, match=str(assets["teacher"])):
        stage.run(params, "distilbiobert", assets["teacher"], assets["corpus"], tmp_path / "a", tmp_path / "wa")
    assert not (tmp_path / "a").exists() and not (tmp_path / "wa").exists()
    stage.run(params, "distilbiobert", trained_teacher, assets["corpus"], tmp_path / "b", tmp_path / "wb")
    card = (tmp_path / "b" / "README.md").read_text()
    assert "teacher masked-token accuracy" in card and "'threshold': 0.05" in card
    # the rehearsal's cap (threshold 0) lets any teacher through
    params["pretrain"]["distill_gate"]["min_teacher_accuracy"] = 0
    stage.run(params, "distilbiobert", assets["teacher"], assets["corpus"], tmp_path / "c", tmp_path / "wc")


def test_rehearsal_caps_turn_the_gate_off():
    raw = load_params(ROOT / "params.yaml")
    raw = copy.deepcopy(raw)
    raw["scale"] = "paper"
    raw["rehearsal"]["enabled"] = True
    assert resolve(raw)["pretrain"]["distill_gate"]["min_teacher_accuracy"] == 0
    raw["rehearsal"]["enabled"] = False
    assert resolve(raw)["pretrain"]["distill_gate"]["min_teacher_accuracy"] > 0


# ------------------------------------------------------------------ params.yaml holds the authors' values
def test_paper_params_are_the_authors_settings():
    raw = load_params(ROOT / "params.yaml")
    p = resolve(raw, "paper")
    pre = p["pretrain"]
    assert pre["base"]["biobert_v12"]["hub"] == "dmis-lab/biobert-base-cased-v1.2"
    assert pre["base"]["biobert"]["hub"] == "dmis-lab/biobert-base-cased-v1.1"
    assert p["tokenize"]["corpus_max_length"] == 256 and p["tokenize"]["corpus_packing"] is False
    assert pre["engine"]["mask_probability"] == 0.15 and pre["engine"]["max_grad_norm"] == 1.0
    want = {  # script: (layers, T, warmup_steps, weight_decay)
        "distilbiobert": ("even", 2.0, 5000, 0.0),
        "compactbiobert": ("odd", 1.0, 5000, 1e-4),
        "tinybiobert": (None, 1.0, 10000, 1e-4),
    }
    for m, (layers, temp, warm, wd) in want.items():
        cfg = pre["distill"][m]
        assert cfg["teacher"] == "biobert_v12", m
        assert cfg["student"].get("layers") == layers, m
        assert cfg["student"].get("mlm_head", "fresh" if layers is None else None) == "fresh", m
        assert cfg["recipe"]["temperature"] == temp, m
        t = cfg["train"]
        assert (t["steps"], t["batch_size"], t["learning_rate"], t["warmup_steps"], t["weight_decay"]) == \
            (100000, 192, 5e-4, warm, wd), m
        for term in cfg["recipe"]["terms"]:
            if term["loss"] in ("output_kl", "attention_kl"):
                assert parse({"terms": [term]}).terms[0].direction == "teacher_student", (m, term)
            if term["loss"] == "attention_kl":
                assert parse({"terms": [term]}).terms[0].normalize == "elements"
    weights = {m: [(t["loss"], t["weight"]) for t in pre["distill"][m]["recipe"]["terms"]] for m in want}
    assert dict(weights["distilbiobert"]) == {"output_kl": 5.0, "mlm": 2.0, "hidden_cosine": 1.0}
    assert dict(weights["compactbiobert"]) == {"mlm": 1.0, "hidden_cosine": 3.0, "attention_kl": 3.0, "output_kl": 5.0}
    compact = {t["loss"]: t for t in pre["distill"]["compactbiobert"]["recipe"]["terms"]}
    for k in ("hidden_cosine", "attention_kl"):
        assert compact[k]["student_layers"] == [1, 2, 3, 4, 5, 6]
        assert compact[k]["teacher_layers"] == [2, 4, 6, 8, 10, 12]
    tiny = {t["loss"]: t for t in pre["distill"]["tinybiobert"]["recipe"]["terms"]}
    for k in ("hidden_mse", "attention_mse"):
        assert tiny[k]["teacher_layers"] == [3, 6, 9, 12]
    for m in ("biodistilbert", "biotinybert", "biomobilebert"):
        t = pre["continual"][m]["train"]
        assert (t["steps"], t["batch_size"], t["learning_rate"], t["warmup_steps"]) == (200000, 192, 1e-4, 10000)
        assert t.get("weight_decay", pre["engine"]["weight_decay"]) == 0.01
