"""``compactbio hub-mirror``: an offline stand-in for the Hugging Face hub, in the hub cache's own layout.

Paper scale reads the teacher and the baselines from the hub.  Without
internet (CI, a reviewer's laptop, a cluster's compute nodes) that path could
never be rehearsed, so this module writes, for each repository, what
``huggingface_hub`` itself writes after a real download::

    DIR/models--org--name/blobs/<etag>                 file contents (sha256 for LFS files, git sha1 otherwise)
    DIR/models--org--name/refs/main                    the 40-hex commit ``main`` points at
    DIR/models--org--name/snapshots/<commit>/<file>    relative symlink to ../../blobs/<etag>

With ``HF_HUB_CACHE=DIR HF_HUB_OFFLINE=1`` the pipeline's loaders resolve
``repo_id`` at ``revision=<commit>`` or ``"main"`` exactly as after a download:
there is no mirror branch in the loaders.

**The weights are random** (seeded) and **the vocabulary is not the real one**:
it has the real size and the special tokens at their real ids, filled with a
WordPiece vocabulary trained on ``--vocab-text`` files and padded with
``[unused…]`` tokens.  What is real is each repository's *file set*, its
``config.json`` keys (including the odd ones that break naive loaders) and its
state-dict key names, at paper dimensions (``--size paper``) or small ones with
the same keys and vocabulary size (``--size tiny``).  Results from a mirror
mean nothing; that the pipeline *runs* on it is what it shows.

Framework files the PyTorch path never reads are not mirrored:
``tf_model.h5``, ``flax_model.msgpack``, ``rust_model.ot``, ``model.tflite``,
ONNX exports, ``.gitattributes`` and ``README.md``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterable

logger = logging.getLogger(__name__)

MARKER = ".compactbio-hub-mirror.json"
LFS_SUFFIXES = (".bin", ".safetensors", ".h5", ".msgpack", ".ot")
EXTRA_DEFAULT = ("dmis-lab/biobert-base-cased-v1.2",)   # the authors' distillation teacher (DESIGN.md)

# Google BERT-base config.json as converted from the TF release: no model_type, no architectures.
_GOOGLE_BERT_BASE = {
    "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 768,
    "initializer_range": 0.02, "intermediate_size": 3072, "max_position_embeddings": 512,
    "num_attention_heads": 12, "num_hidden_layers": 12, "type_vocab_size": 2, "vocab_size": 28996,
}
_BERT_TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}


def _fit_denses(n: int, fit: int) -> Callable[[dict, dict], dict]:
    """TinyBERT's general-distillation student keeps one 312 -> 768 projection per hidden state."""
    def add(state: dict, cfg: dict) -> dict:
        import torch

        g = torch.Generator().manual_seed(n)
        for i in range(int(cfg["num_hidden_layers"]) + 1):
            state[f"fit_denses.{i}.weight"] = torch.randn(fit, int(cfg["hidden_size"]), generator=g) * 0.02
            state[f"fit_denses.{i}.bias"] = torch.zeros(fit)
        return state
    return add


@dataclasses.dataclass(frozen=True)
class RepoSpec:
    """One hub repository as the PyTorch path sees it.

    ``head`` names the transformers class whose ``state_dict`` has the
    repository's key names (``BertForPreTraining`` for Google-converted
    checkpoints: ``bert.*``, ``cls.predictions.*``, ``cls.seq_relationship.*``).
    """
    arch: str                              # bert / distilbert / mobilebert
    cased: bool
    config: dict                           # config.json at paper size, the repo's own keys
    tiny: dict                             # overrides for --size tiny (same keys)
    head: str                              # transformers class giving the state-dict key names
    weights: tuple[str, ...]               # weight files the repo really has
    tokenizer_json: bool = False
    tokenizer_config: dict | None = None   # None: the repo has no tokenizer_config.json
    extra_state: Callable[[dict, dict], dict] | None = None
    commit: str | None = None              # the real commit hash, where a source gives one
    note: str = ""


REGISTRY: dict[str, RepoSpec] = {
    # dmis-lab/biobert-base-cased-v1.1 -- file set config.json, vocab.txt, pytorch_model.bin (+ flax_model.msgpack,
    # not mirrored); config.json is Google's bert_config.json (no model_type, no architectures), vocab 28,996 cased.
    # Sources: the project brief (issue 12); hf-mirror.com download script listing only .gitattributes,
    # config.json, vocab.txt besides pytorch_model.bin (GitHub code corpus, "biobert-base-cased-v1.1/resolve");
    # deepwiki naver/biobert-pretrained (BERT-base-cased sizes, vocab 28,996).  Commit hash: not found.
    "dmis-lab/biobert-base-cased-v1.1": RepoSpec(
        arch="bert", cased=True, config=dict(_GOOGLE_BERT_BASE), tiny=_BERT_TINY, head="BertForPreTraining",
        weights=("pytorch_model.bin",), note="Google BERT config without model_type"),
    # dmis-lab/biobert-base-cased-v1.2 -- the authors' distillation teacher.  A public script prints
    # BertTokenizer(name_or_path='dmis-lab/biobert-base-cased-v1.2', vocab_size=28996,
    # model_max_length=1e30) -> no tokenizer_config.json with a max length (GitHub code corpus).  Otherwise
    # assumed to be laid out as v1.1 (not verified).  Commit hash: not found.
    "dmis-lab/biobert-base-cased-v1.2": RepoSpec(
        arch="bert", cased=True, config=dict(_GOOGLE_BERT_BASE), tiny=_BERT_TINY, head="BertForPreTraining",
        weights=("pytorch_model.bin",), note="assumed like v1.1"),
    # huawei-noah/TinyBERT_General_4L_312D -- config.json with TinyBERT's extra keys (cell, emb_size, pre_trained,
    # structure, training) and no model_type; vocab 30,522 uncased; pytorch_model.bin only (notebooks show it
    # downloading, 62.7 MB, and transformers then fetching model.safetensors from the conversion PR, i.e. not on
    # main); flax_model.msgpack not mirrored.  Keys: 62.7 MB = 15.68M float32 = bert.* with pooler (14.35M)
    # + 5 fit_denses 312->768 (1.20M, TinyBertDistill's nn.ModuleList in TinyBERT's modeling.py) + the MLM
    # transform and bias (0.13M): so the checkpoint *does* hold cls.predictions.{transform,bias} (the brief's
    # "no MLM head" is not borne out by the size; the loaders handle both).  Extra keys: brief + AutoTinyBERT
    # config copy on GitHub.  Commit 34707a33cd59a94ecde241ac209bf35103691b43: the DataikuNLP/TinyBERT_General_4L_312D
    # model card ("a copy ... at the specific commit"), huggingface.co page in the pages corpus.
    "huawei-noah/TinyBERT_General_4L_312D": RepoSpec(
        arch="bert", cased=False,
        config={"attention_probs_dropout_prob": 0.1, "cell": {}, "emb_size": 312, "hidden_act": "gelu",
                "hidden_dropout_prob": 0.1, "hidden_size": 312, "initializer_range": 0.02, "intermediate_size": 1200,
                "max_position_embeddings": 512, "num_attention_heads": 12, "num_hidden_layers": 4,
                "pre_trained": "", "structure": [], "training": "", "type_vocab_size": 2, "vocab_size": 30522},
        tiny={"hidden_size": 24, "emb_size": 24, "num_hidden_layers": 2, "num_attention_heads": 2,
              "intermediate_size": 48},
        head="BertForPreTraining", weights=("pytorch_model.bin",), extra_state=_fit_denses(4, 768),
        commit="34707a33cd59a94ecde241ac209bf35103691b43", note="TinyBERT extra config keys, fit_denses"),
    # google/mobilebert-uncased -- config.json with model_type mobilebert (PaddleNLP's copy of the hub config,
    # transformers_version 4.6.0.dev0, GitHub code corpus); vocab.txt and tokenizer.json (transformers'
    # PRETRAINED_VOCAB_FILES_MAP for MobileBERT); pytorch_model.bin (weights); tf_model.h5, rust_model.ot,
    # model.tflite exist and are not mirrored.  Whether main also has model.safetensors: not verified (we mirror
    # .bin only, the harder case).  Commit hash: not found.
    "google/mobilebert-uncased": RepoSpec(
        arch="mobilebert", cased=False,
        config={"attention_probs_dropout_prob": 0.1, "classifier_activation": False, "embedding_size": 128,
                "hidden_act": "relu", "hidden_dropout_prob": 0.0, "hidden_size": 512, "initializer_range": 0.02,
                "intermediate_size": 512, "intra_bottleneck_size": 128, "key_query_shared_bottleneck": True,
                "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "mobilebert",
                "normalization_type": "no_norm", "num_attention_heads": 4, "num_feedforward_networks": 4,
                "num_hidden_layers": 24, "pad_token_id": 0, "transformers_version": "4.6.0.dev0",
                "trigram_input": True, "true_hidden_size": 128, "type_vocab_size": 2, "use_bottleneck": True,
                "use_bottleneck_attention": False, "vocab_size": 30522},
        tiny={"hidden_size": 32, "embedding_size": 16, "intra_bottleneck_size": 16, "true_hidden_size": 16,
              "intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
              "num_feedforward_networks": 2},
        head="MobileBertForPreTraining", weights=("pytorch_model.bin",), tokenizer_json=True),
    # distilbert-base-cased (now distilbert/distilbert-base-cased; the old id redirects online, but a cache is keyed
    # by the id asked for, so both are mirrored on request).  config.json with model_type distilbert and its own key
    # names (dim, n_layers, n_heads, hidden_dim, sinusoidal_pos_embds, tie_weights_, output_past ...; recalled from
    # the hub file, the values match the bio-distilbert-cased card: 6 x 768, vocab 28,996); tokenizer.json and
    # vocab.txt (a public curl script fetching distilbert-base-cased/resolve/main/tokenizer.json), tokenizer_config
    # {"do_lower_case": false} (recalled); model.safetensors and pytorch_model.bin (the HF-owned repos carry both;
    # recalled, not verified); tf_model.h5 not mirrored.  Commit hash: not found.
    "distilbert-base-cased": RepoSpec(
        arch="distilbert", cased=True,
        config={"activation": "gelu", "architectures": ["DistilBertForMaskedLM"], "attention_dropout": 0.1,
                "dim": 768, "dropout": 0.1, "hidden_dim": 3072, "initializer_range": 0.02,
                "max_position_embeddings": 512, "model_type": "distilbert", "n_heads": 12, "n_layers": 6,
                "output_past": True, "pad_token_id": 0, "qa_dropout": 0.1, "seq_classif_dropout": 0.2,
                "sinusoidal_pos_embds": False, "tie_weights_": True, "vocab_size": 28996},
        tiny={"dim": 32, "n_layers": 2, "n_heads": 2, "hidden_dim": 64},
        head="DistilBertForMaskedLM", weights=("model.safetensors", "pytorch_model.bin"), tokenizer_json=True,
        tokenizer_config={"do_lower_case": False, "model_max_length": 512}),
}
REGISTRY["distilbert/distilbert-base-cased"] = REGISTRY["distilbert-base-cased"]

# The authors' released checkpoints (params.yaml pretrain.published, pretrain.source: published), at the
# commits params.yaml pins.  All were saved by transformers 4.17 from *ForMaskedLM (no pooler, an MLM head),
# as config.json, pytorch_model.bin, special_tokens_map.json, tokenizer.json, tokenizer_config.json and
# vocab.txt (+ info.txt in distil-biobert; README.md later); special_tokens_map.json and info.txt are
# not mirrored (no loader reads them).  Sources: the hub's file pages and commit diffs (docs corpus):
# compact-biobert's config.json in full (89347e8), tiny-biobert's (d92fb74; e529c7b changes only its
# _name_or_path) and bio-mobilebert's (b420287; 447bc44 likewise); tokenizer.json 669 kB / vocab.txt
# 213 kB (cased 28,996) for distil-, compact-, tiny-biobert and bio-distilbert-cased, 711 kB / 232 kB
# (uncased 30,522) for bio-tinybert and bio-mobilebert, whose tokenizer_config.json say do_lower_case
# true.  distil-biobert's config (778 bytes) is assumed laid out as compact-biobert's (775), bio-tinybert's
# (840) as tiny-biobert's with TinyBERT's vocabulary, bio-distilbert-cased's (713) as distilbert-base-cased's.
_NLPIE_ADAPTERS = {"adapters": {}, "config_map": {}, "fusion_config_map": {}, "fusions": {}}
_NLPIE_BERT_6L = {
    "_name_or_path": "distil-biobert/models/final-distil-biobert/final/model", "adapters": _NLPIE_ADAPTERS,
    "architectures": ["BertForMaskedLM"], "attention_probs_dropout_prob": 0.1, "classifier_dropout": None,
    "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02,
    "intermediate_size": 3072, "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "bert",
    "num_attention_heads": 12, "num_hidden_layers": 6, "pad_token_id": 0, "position_embedding_type": "absolute",
    "torch_dtype": "float32", "transformers_version": "4.17.0", "type_vocab_size": 2, "use_cache": True,
    "vocab_size": 28996}
_NLPIE_BERT_4L = {
    "_name_or_path": "distil-biobert/models/tiny-biobert/final/model", "adapters": _NLPIE_ADAPTERS,
    "architectures": ["BertForMaskedLM"], "attention_probs_dropout_prob": 0.1, "cell": {}, "classifier_dropout": None,
    "emb_size": 312, "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 312, "initializer_range": 0.02,
    "intermediate_size": 1200, "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "bert",
    "num_attention_heads": 12, "num_hidden_layers": 4, "pad_token_id": 0, "position_embedding_type": "absolute",
    "pre_trained": "", "structure": [], "torch_dtype": "float32", "transformers_version": "4.17.0",
    "type_vocab_size": 2, "use_cache": True, "vocab_size": 28996}
_NLPIE_TINY_4L = {"hidden_size": 24, "emb_size": 24, "num_hidden_layers": 2, "num_attention_heads": 2,
                  "intermediate_size": 48}


def _nlpie(arch: str, cased: bool, config: dict, tiny: dict, head: str, commit: str, note: str) -> RepoSpec:
    return RepoSpec(arch=arch, cased=cased, config=config, tiny=tiny, head=head, weights=("pytorch_model.bin",),
                    tokenizer_json=True, tokenizer_config={"do_lower_case": not cased}, commit=commit, note=note)


REGISTRY.update({
    "nlpie/distil-biobert": _nlpie("bert", True, dict(_NLPIE_BERT_6L), _BERT_TINY, "BertForMaskedLM",
                                   "da32b620e72ad149c55913bfb526d9f1e382a3cb", "config assumed as compact-biobert's"),
    "nlpie/compact-biobert": _nlpie("bert", True, dict(_NLPIE_BERT_6L), _BERT_TINY, "BertForMaskedLM",
                                    "89347e837834e0077df007d5332e7429c255b2d3", "config.json as on the hub"),
    "nlpie/tiny-biobert": _nlpie("bert", True, dict(_NLPIE_BERT_4L), _NLPIE_TINY_4L, "BertForMaskedLM",
                                 "e529c7b7b8a524beb015404d6c092d5816c5a60e", "TinyBERT extra config keys"),
    "nlpie/bio-tinybert": _nlpie("bert", False, {**_NLPIE_BERT_4L, "vocab_size": 30522,
                                                 "_name_or_path": "distil-biobert/models/bio-tinybert/final/model"},
                                 _NLPIE_TINY_4L, "BertForMaskedLM", "c1689f9aaa715a39736e9b5d89ff256f41c0a1e8",
                                 "config assumed as tiny-biobert's, uncased vocabulary"),
    "nlpie/bio-distilbert-cased": _nlpie(
        "distilbert", True, {**REGISTRY["distilbert-base-cased"].config, "transformers_version": "4.17.0"},
        REGISTRY["distilbert-base-cased"].tiny, "DistilBertForMaskedLM", "44a540220ef09602001525bf2accf70d7946c041",
        "config assumed as distilbert-base-cased's"),
    "nlpie/bio-mobilebert": _nlpie(
        "mobilebert", False,
        {**REGISTRY["google/mobilebert-uncased"].config, "_name_or_path": "distil-biobert/models/bio-mobilebert/final/model",
         "architectures": ["MobileBertForMaskedLM"], "classifier_dropout": None, "torch_dtype": "float32",
         "transformers_version": "4.17.0"},
        REGISTRY["google/mobilebert-uncased"].tiny, "MobileBertForMaskedLM", "447bc443b737122db7cd195cd72b30917bd09c67",
        "config.json as on the hub"),
})


def generic_spec(repo_id: str) -> RepoSpec:
    """A repository the registry does not know: a small uncased BERT with a modern file set."""
    return RepoSpec(arch="bert", cased=False,
                    config={"model_type": "bert", "architectures": ["BertForMaskedLM"], "hidden_size": 768,
                            "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
                            "vocab_size": 30522, "pad_token_id": 0},
                    tiny=_BERT_TINY, head="BertForMaskedLM", weights=("model.safetensors",),
                    tokenizer_json=True, tokenizer_config={"do_lower_case": True, "model_max_length": 512},
                    note=f"generic: {repo_id} is not in the registry")


def fake_commit(repo_id: str) -> str:
    """A deterministic 40-hex stand-in for repositories whose real commit hash we could not find."""
    return hashlib.sha1(f"compactbio-hub-mirror:{repo_id}".encode()).hexdigest()


def default_repos(params: dict) -> list[str]:
    """Every ``pretrain.base.*.hub`` of params resolved at paper scale, plus the v1.2 teacher."""
    from ..params import resolve

    base = resolve(params, "paper").get("pretrain", {}).get("base", {})
    ids = [cfg["hub"] for cfg in base.values() if isinstance(cfg, dict) and cfg.get("hub")]
    ids = [i for i in ids if not Path(str(i)).expanduser().is_dir()]
    return list(dict.fromkeys(ids + list(EXTRA_DEFAULT)))


# ---------------------------------------------------------------------------------------------- vocabulary

def special_layout(cased: bool) -> list[str]:
    """The first tokens of Google's BERT vocabularies: [PAD]=0, [UNK]=100, [CLS]=101, [SEP]=102, [MASK]=103.

    Uncased: [unused0..98] at 1..99, [unused99..993] at 104..998; cased: [unused1..99] at 1..99,
    [unused100], [unused101] at 104, 105 (both from memory of the public vocab.txt files).
    """
    if cased:
        return (["[PAD]"] + [f"[unused{i}]" for i in range(1, 100)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
                + ["[unused100]", "[unused101]"])
    return (["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
            + [f"[unused{i}]" for i in range(99, 994)])


def build_vocab(size: int, cased: bool, texts: Iterable[Path]) -> list[str]:
    """``size`` tokens: the special layout, WordPiece tokens learned from ``texts``, then ``[unused…]`` padding."""
    from ..data.tokenizer import SPECIALS, train_wordpiece

    head = special_layout(cased)
    texts = [Path(t) for t in texts]
    learned: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        with open(corpus, "w", encoding="utf-8") as out:
            for t in texts:
                if not t.is_file():
                    raise FileNotFoundError(f"{t}: --vocab-text file not found")
                with open(t, encoding="utf-8", errors="replace") as f:
                    shutil.copyfileobj(f, out)
            # Printable ASCII so any text has an alphabet to fall back on, even without --vocab-text.
            out.write("\n" + " ".join(chr(c) * 2 for c in range(33, 127)) + "\n")
        tok = train_wordpiece(corpus, size - len(head) + len(SPECIALS), lowercase=not cased)
        vocab = tok.get_vocab()
        seen = set(head)
        for token, _ in sorted(vocab.items(), key=lambda kv: kv[1]):
            if token in SPECIALS or token in seen:
                continue
            learned.append(token)
            seen.add(token)
    tokens = head + learned[: size - len(head)]
    n = 994 if not cased else 102
    while len(tokens) < size:
        if f"[unused{n}]" not in seen:
            tokens.append(f"[unused{n}]")
        n += 1
    return tokens


# ---------------------------------------------------------------------------------------------- weights

def _state_dict(spec: RepoSpec, cfg: dict, seed: int) -> dict:
    """Random weights of ``cfg`` under the repository's own key names."""
    import torch
    import transformers

    from .build import _CLASSES

    cfg_cls = _CLASSES[spec.arch][0]
    kwargs = {k: v for k, v in cfg.items() if k not in ("model_type", "architectures", "transformers_version")}
    torch.manual_seed(seed)
    model = getattr(transformers, spec.head)(cfg_cls(**kwargs))
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if "cls.predictions.decoder.weight" in state:            # tied in the checkpoint: one storage, as torch.save keeps it
        emb = next(k for k in state if k.endswith("word_embeddings.weight"))
        state["cls.predictions.decoder.weight"] = state[emb]
        if "cls.predictions.decoder.bias" in state and "cls.predictions.bias" in state:
            state["cls.predictions.decoder.bias"] = state["cls.predictions.bias"]
    if spec.extra_state is not None:
        state = spec.extra_state(state, cfg)
    return state


def _save_weights(state: dict, name: str, path: Path) -> None:
    import torch

    if name.endswith(".safetensors"):
        from safetensors.torch import save_file

        seen, flat = set(), {}
        for k, v in state.items():                            # safetensors refuses shared storage: drop tied copies
            ptr = v.untyped_storage().data_ptr()
            if ptr in seen:
                continue
            seen.add(ptr)
            flat[k] = v.contiguous()
        save_file(flat, str(path), metadata={"format": "pt"})
    elif name.endswith(".bin"):
        torch.save(state, path)
    else:
        raise ValueError(f"{name}: unsupported weight format")


# ---------------------------------------------------------------------------------------------- cache layout

def etag(path: Path) -> str:
    """The name huggingface_hub gives a blob: the LFS sha256 for large binaries, the git blob sha1 otherwise."""
    data = path.read_bytes()
    if path.name.endswith(LFS_SUFFIXES):
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def repo_folder(cache: Path, repo_id: str) -> Path:
    return Path(cache) / ("models--" + repo_id.replace("/", "--"))


def write_snapshot(cache: Path, repo_id: str, files: dict[str, Path], commit: str) -> Path:
    """Place ``files`` (name -> prepared file) in the cache as revision ``commit`` and point ``main`` at it."""
    repo = repo_folder(cache, repo_id)
    snap = repo / "snapshots" / commit
    if snap.exists():
        shutil.rmtree(snap)
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    snap.mkdir(parents=True)
    for name, src in sorted(files.items()):
        blob = repo / "blobs" / etag(src)
        if not blob.exists():
            shutil.move(str(src), blob)
        link = snap / name
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(blob, link.parent), link)
    (repo / "refs" / "main").write_text(commit)                # huggingface_hub writes it without a newline
    return snap


def _check_cache(cache: Path, repo_ids: list[str]) -> dict:
    """Refuse to overwrite a repository that a real download (not this mirror) put in the cache."""
    marker = cache / MARKER
    record = json.loads(marker.read_text()) if marker.is_file() else {"repos": {}}
    for r in repo_ids:
        if repo_folder(cache, r).exists() and r not in record["repos"]:
            raise ValueError(f"{repo_folder(cache, r)}: already in the cache and not written by hub-mirror; "
                             "use an empty --cache folder (never a real hub cache)")
    return record


def mirror_repo(cache: Path, repo_id: str, size: str, vocab: list[str], seed: int = 0) -> dict:
    """Write one repository; returns what was written (commit, files, bytes)."""
    spec = REGISTRY.get(repo_id) or generic_spec(repo_id)
    if repo_id not in REGISTRY:
        logger.warning("%s is not in the hub-mirror registry: writing a generic BERT repository", repo_id)
    cfg = dict(spec.config)
    if size == "tiny":
        cfg.update(spec.tiny)
    elif size != "paper":
        raise ValueError(f"hub-mirror: --size must be paper or tiny, got {size!r}")
    if len(vocab) != int(cfg["vocab_size"]):
        raise ValueError(f"hub-mirror: {repo_id} needs {cfg['vocab_size']} vocabulary entries, got {len(vocab)}")
    commit = spec.commit or fake_commit(repo_id)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        tmp = Path(tmp)
        files: dict[str, Path] = {}
        (tmp / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        files["config.json"] = tmp / "config.json"
        (tmp / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
        files["vocab.txt"] = tmp / "vocab.txt"
        if spec.tokenizer_json:
            files["tokenizer.json"] = _tokenizer_json(tmp, vocab, lowercase=not spec.cased)
        if spec.tokenizer_config is not None:
            (tmp / "tokenizer_config.json").write_text(json.dumps(spec.tokenizer_config) + "\n", encoding="utf-8")
            files["tokenizer_config.json"] = tmp / "tokenizer_config.json"
        state = _state_dict(spec, cfg, seed)
        for name in spec.weights:
            _save_weights(state, name, tmp / name)
            files[name] = tmp / name
        sizes = {n: p.stat().st_size for n, p in files.items()}
        write_snapshot(cache, repo_id, files, commit)
    logger.info("mirrored %s at %s (%s, %s, %.1f MB; random weights, stand-in vocabulary)", repo_id, commit,
                size, ", ".join(sorted(sizes)), sum(sizes.values()) / 1e6)
    return {"commit": commit, "size": size, "files": sorted(sizes), "bytes": sum(sizes.values()),
            "real_commit": spec.commit is not None, "note": spec.note}


def _tokenizer_json(folder: Path, vocab: list[str], lowercase: bool) -> Path:
    """A BERT WordPiece ``tokenizer.json`` over ``vocab``, as the transformers converter writes it."""
    from transformers import BertTokenizer

    tok = BertTokenizer(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=lowercase)
    out = folder / "tok"
    tok.save_pretrained(out)
    return out / "tokenizer.json"


def mirror(cache: Path, repo_ids: list[str], size: str = "tiny", vocab_texts: Iterable[Path] = (),
           seed: int = 0) -> dict:
    """Write every repository of ``repo_ids`` into ``cache``; vocabularies are built once per (size, casing)."""
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    record = _check_cache(cache, repo_ids)
    vocab_texts = list(vocab_texts)
    vocabs: dict[tuple[int, bool], list[str]] = {}
    for repo_id in repo_ids:
        spec = REGISTRY.get(repo_id) or generic_spec(repo_id)
        key = (int(spec.config["vocab_size"]), spec.cased)
        if key not in vocabs:
            vocabs[key] = build_vocab(key[0], key[1], vocab_texts)
        record["repos"][repo_id] = mirror_repo(cache, repo_id, size, vocabs[key], seed)
        (cache / MARKER).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return record


def write_mirror(cache: Path, repo_ids: list[str], size: str = "paper", vocab_text: Iterable[Path] = (),
                 seed: int = 0) -> dict:
    """:func:`mirror`, skipping repositories this mirror already wrote at the same size (a rerun resumes)."""
    cache = Path(cache)
    marker = cache / MARKER
    done = json.loads(marker.read_text())["repos"] if marker.is_file() else {}
    todo = [r for r in repo_ids if not (r in done and done[r]["size"] == size
                                        and (repo_folder(cache, r) / "snapshots" / done[r]["commit"]).is_dir())]
    if todo:
        mirror(cache, todo, size, vocab_text, seed)
    return json.loads(marker.read_text())


def run_cli(params_path: Path, cache: Path, size: str, vocab_text: list[Path] | None, repos: list[str] | None) -> int:
    """Entry point of ``compactbio hub-mirror``: exit 1 with a one-line error on bad input."""
    import time

    from ..params import load_params

    try:
        ids = list(repos) if repos else default_repos(load_params(params_path))
        t0 = time.monotonic()
        record = mirror(Path(cache), ids, size, vocab_text or [])
    except (ValueError, FileNotFoundError) as exc:
        logger.error("hub-mirror failed: %s", exc)
        return 1
    total = sum(record["repos"][r]["bytes"] for r in ids)
    logger.info("hub mirror in %s: %d repositories, %.1f MB, %.0f s. Use it with HF_HUB_CACHE=%s HF_HUB_OFFLINE=1 "
                "(random weights, stand-in vocabulary: rehearsal only)", cache, len(ids), total / 1e6,
                time.monotonic() - t0, cache)
    return 0
