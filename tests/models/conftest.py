"""A tiny hub-layout mirror built once per session, and helpers for hand-made caches."""

from __future__ import annotations

import pytest

from compactbio.models import hub_mirror

TEXT = ("Gene expression of BRCA1 in breast cancer patients was measured .\n"
        "The TP53 gene encodes a tumour suppressor protein .\n"
        "Cisplatin treatment of gene knockout mice .\n") * 20
REPOS = ["dmis-lab/biobert-base-cased-v1.1", "huawei-noah/TinyBERT_General_4L_312D",
         "google/mobilebert-uncased", "distilbert-base-cased"]


@pytest.fixture(scope="session")
def vocab_text(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "pubmed.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def mirror_cache(tmp_path_factory, vocab_text):
    cache = tmp_path_factory.mktemp("hub")
    hub_mirror.mirror(cache, REPOS, size="tiny", vocab_texts=[vocab_text])
    return cache


@pytest.fixture
def offline(monkeypatch):
    """Point huggingface_hub at a cache folder, offline (the constants are read at import time)."""
    import huggingface_hub.constants as c

    def use(cache):
        monkeypatch.setenv("HF_HUB_CACHE", str(cache))
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        monkeypatch.setattr(c, "HF_HUB_CACHE", str(cache))
        monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
        return cache
    return use
