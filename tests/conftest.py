"""Shared fixtures: project paths and a scratch copy of the workflow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from workflow_tools import ROOT, copy_workflow


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def raw_params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


@pytest.fixture(name="copy_workflow")
def copy_workflow_fixture():
    return copy_workflow


@pytest.fixture
def real_data() -> Path:
    path = os.environ.get("COMPACTBIO_REAL_DATA")
    if not path or not Path(path).is_dir():
        pytest.skip("COMPACTBIO_REAL_DATA is not set")
    return Path(path)
