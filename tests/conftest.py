"""Shared fixtures: project paths and a scratch copy of the workflow."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ["Snakefile", "workflow", "params.yaml"]


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def raw_params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def copy_workflow(dest: Path, params: dict | None = None) -> Path:
    """A scratch checkout of the workflow (no data), optionally with other params."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    if params is not None:
        (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return dest


@pytest.fixture(name="copy_workflow")
def copy_workflow_fixture():
    return copy_workflow


@pytest.fixture
def real_data() -> Path:
    path = os.environ.get("COMPACTBIO_REAL_DATA")
    if not path or not Path(path).is_dir():
        pytest.skip("COMPACTBIO_REAL_DATA is not set")
    return Path(path)
