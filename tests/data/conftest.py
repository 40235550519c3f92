import copy
import os
from pathlib import Path

import pytest
import yaml

from compactbio.params import resolve

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def raw_params():
    with open(ROOT / "params.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f)


@pytest.fixture
def demo_params(raw_params):
    return copy.deepcopy(resolve(raw_params, "demo"))


@pytest.fixture
def paper_params(raw_params):
    return copy.deepcopy(resolve(raw_params, "paper"))


@pytest.fixture(scope="session")
def real_data():
    path = os.environ.get("COMPACTBIO_REAL_DATA")
    if not path:
        pytest.skip("COMPACTBIO_REAL_DATA is not set")
    if not Path(path).is_dir():
        pytest.skip(f"COMPACTBIO_REAL_DATA={path} does not exist")
    return Path(path)
