"""Session-wide tiny tokenizer and models (built once: they cost a second each)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # for ft_helpers, shared by the test modules here
import ft_helpers as H  # noqa: E402


@pytest.fixture(scope="session")
def tok(tmp_path_factory):
    return H.build_tokenizer(tmp_path_factory.mktemp("tokenizer"))


@pytest.fixture(scope="session")
def bert_dir(tmp_path_factory, tok):
    return H.build_model(tmp_path_factory.mktemp("bert") / "m", tok, "bert")


@pytest.fixture(scope="session")
def ner_data(tmp_path_factory, tok):
    return H.make_dataset(tmp_path_factory.mktemp("ner"), "ner", tok)
