"""No .snakemake_timestamp is left in directory outputs (model folders, data folders) after a Snakemake run.

Snakemake writes that empty file into every finished ``directory()`` output
as its mtime carrier; the Snakefile's onsuccess/onerror moves the mark onto
the folder's own mtime (compactbio.io.settle_snakemake_timestamp), which is
what Snakemake reads when the file is absent, so reruns are decided alike.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from compactbio.io import SNAKEMAKE_TIMESTAMP, settle_snakemake_timestamp, settle_snakemake_timestamps

HERE = Path(__file__).resolve().parent


def test_the_mark_becomes_the_folders_mtime(tmp_path):
    out = tmp_path / "models" / "m"
    out.mkdir(parents=True)
    (out / "config.json").write_text("{}")
    mark = out / SNAKEMAKE_TIMESTAMP
    mark.write_text("")
    os.utime(mark, ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    assert settle_snakemake_timestamp(out)
    assert sorted(p.name for p in out.iterdir()) == ["config.json"]
    assert os.stat(out).st_mtime_ns == 1_600_000_000_123_456_789
    assert not settle_snakemake_timestamp(out)                    # idempotent
    assert not settle_snakemake_timestamp(out / "config.json")    # files are not directory outputs
    assert not settle_snakemake_timestamp(tmp_path / "missing")


def test_links_and_odd_marks_are_left_alone(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / SNAKEMAKE_TIMESTAMP).write_text("")
    (tmp_path / "link").symlink_to(real)
    odd = tmp_path / "odd"
    (odd / SNAKEMAKE_TIMESTAMP).mkdir(parents=True)               # not Snakemake's empty file
    assert settle_snakemake_timestamps([tmp_path / "link", odd, real, real]) == [real]
    assert (odd / SNAKEMAKE_TIMESTAMP).is_dir()


@pytest.mark.slow
def test_a_snakemake_run_leaves_clean_folders_and_the_same_rerun_decisions(tmp_path):
    """The real Snakefile with the stand-in CLI: models/biobert and its inputs, then a dry run plans nothing."""
    from workflow_tools import copy_workflow, snakemake_jobs

    raw = yaml.safe_load((HERE.parent / "params.yaml").read_text())
    wf = copy_workflow(tmp_path / "wf", raw)
    bindir = wf / ".bin"
    bindir.mkdir()
    (bindir / "compactbio").write_text(f"#!/bin/sh\nexec {sys.executable} {HERE / 'fake_compactbio.py'} \"$@\"\n")
    (bindir / "compactbio").chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}
    proc = subprocess.run(["snakemake", "--cores", "1", "models/biobert"], cwd=wf, env=env, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    folders = [p for p in (wf / "data").rglob("*") if p.is_dir()] + [wf / "models" / "biobert",
                                                                     wf / "models" / "tokenizers" / "biobert"]
    assert (wf / "models" / "biobert" / "content.txt").is_file()
    assert not [p for p in wf.rglob(SNAKEMAKE_TIMESTAMP) if ".snakemake" not in p.relative_to(wf).parts[:1]]
    assert len(folders) > 4
    # Snakemake reads the folders' mtimes now: the same decision as with its marks, nothing to rerun.
    (bindir / "compactbio").write_text("#!/bin/sh\nexit 1\n")
    assert snakemake_jobs(wf, "models/biobert") == []
