"""The shipped ``evaluate`` modules: loadable offline from a clean cache, and equal to our functions.

Loading runs in a fresh interpreter: ``evaluate`` reads its cache locations
(``HF_HOME``, ``HF_MODULES_CACHE``, ...) when it is imported, and the point is
that ``evaluate.load(path)`` copies each file into an empty cache and imports
it from there, outside the package, with the hub switched off.
"""

import fnmatch
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from compactbio.metrics import modules

ROOT = Path(__file__).resolve().parents[2]

_SCRIPT = r'''
import json, random, sys
import evaluate
from compactbio.metrics.modules import NAMES, path
from compactbio.metrics.ner import ner_scores, word_and_subword_scores
from compactbio.metrics.re import re_scores
from compactbio.metrics.bioasq import factoid_scores

out = {}
m = {n: evaluate.load(path(n)) for n in NAMES}
out["files"] = {n: sys.modules[type(m[n]).__module__].__file__ for n in NAMES}
out["names"] = {n: m[n].name for n in NAMES}
out["citations"] = {n: m[n].citation for n in NAMES}

ner = m["ner"]
out["ner_word"] = ner.compute(predictions=[["B", "I", "O", "O"], ["B", "O"], ["B", "I"]],
                              references=[["B", "I", "O", "B"], ["O", "O"], ["B", "O"]])
out["ner_subword"] = ner.compute(predictions=[["O", "B", "I", "I", "O", "O"], ["O", "B", "I", "O"]],
                                 references=[["B", "I", "O"], ["B"]],
                                 word_ids=[[-1, 0, 0, 1, 2, -1], [-1, 0, 0, -1]])
try:
    ner.compute(predictions=[["B", "X-Dis"]], references=[["B", "O"]])
except ValueError as exc:
    out["ner_bad"] = str(exc)

rel = m["relation_extraction"]
out["gad"] = rel.compute(predictions=["1", "0", "1", "0", "1"], references=["1", "1", "0", "0", "1"], labels=["0", "1"])
out["chemprot"] = rel.compute(predictions=["A", "C", "B", "B"], references=["A", "A", "B", "B"],
                              labels=["A", "B", "C", "D"])
out["re_default_labels"] = rel.compute(predictions=["1", "0"], references=["1", "1"])
try:
    rel.compute(predictions=["A", "Z"], references=["A", "A"], labels=["A", "B"])
except ValueError as exc:
    out["re_bad"] = str(exc)

bio = m["bioasq_factoid"]
out["bioasq"] = bio.compute(predictions=[[["tp53"]], [["x"], ["y"], ["BRCA1", "z"]], []],
                            references=[[["TP53"]], [["BRCA1"]], [["insulin"]]])
out["bioasq_rules"] = bio.compute(predictions=[[["MDM2", "TP53"], ["p21"], ["tp53", "x"]], [["TP53 "]], [[], [""]]],
                                  references=[[["TP53"]], [["TP53"]], [["", "x"]]])

# the modules and the package's functions agree to the last digit on random input
rng = random.Random(5)
tags = ["B-A", "I-A", "B-C", "I-C", "O"]
gold = [[rng.choice(tags) for _ in range(rng.randint(0, 9))] for _ in range(150)]
wids = [[-1] + [i for i in range(len(g)) for _ in range(rng.randint(1, 2))] + [-1] for g in gold]
sub = [[rng.choice(tags) for _ in w] for w in wids]
word = [[t if rng.random() < 0.7 else rng.choice(tags) for t in g] for g in gold]
labels = ["CPR:3", "CPR:4", "CPR:9", "false"]
rg = [rng.choice(labels) for _ in range(200)]
rp = [g if rng.random() < 0.6 else rng.choice(labels) for g in rg]
syn = ["tp53", "TP53", "brca1", "insulin", "x", "α-syn"]
golden = [[[rng.choice(syn)]] for _ in range(60)]
preds = [[[rng.choice(syn)] for _ in range(rng.randint(0, 6))] for _ in range(60)]
out["same"] = {
    "ner_word": ner.compute(predictions=word, references=gold) == ner_scores(gold, word),
    "ner_subword": (ner.compute(predictions=sub, references=gold, word_ids=wids)
                    == word_and_subword_scores(gold, sub, wids)),
    "re": rel.compute(predictions=rp, references=rg, labels=labels) == re_scores(rg, rp, labels),
    "bioasq": bio.compute(predictions=preds, references=golden) == factoid_scores(preds, golden)[0],
}
print(json.dumps(out))
'''


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hf")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp / "home"),
           "HF_EVALUATE_CACHE": str(tmp / "evaluate"), "HF_MODULES_CACHE": str(tmp / "modules"),
           "HF_METRICS_CACHE": str(tmp / "metrics"), "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, timeout=300,
                          cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp, json.loads(proc.stdout.strip().splitlines()[-1])


def test_each_module_is_imported_from_the_empty_cache_not_the_package(loaded):
    tmp, out = loaded
    for name in modules.NAMES:
        f = Path(out["files"][name])
        assert f.name == f"{name}.py" and (tmp / "modules") in f.parents, f
        assert f.read_text(encoding="utf-8") == (Path(modules.path(name)) / f"{name}.py").read_text(encoding="utf-8")
        assert out["names"][name] == name
        assert "10.1093/bioinformatics/btad103" in out["citations"][name]


def test_ner_module_hand_worked(loaded):
    _, out = loaded
    # as test_counts_and_scores_hand_worked: tp 1, fp 2, fn 2
    assert out["ner_word"] == pytest.approx({"precision": 1 / 3, "recall": 1 / 3, "f1": 1 / 3})
    assert out["ner_subword"] == {"f1": 1.0, "precision": 1.0, "recall": 1.0,
                                  "f1_subword": 0.0, "precision_subword": 0.0, "recall_subword": 0.0}
    assert "not a BIO/BIOES tag: 'X-Dis'" in out["ner_bad"]


def test_re_module_hand_worked(loaded):
    _, out = loaded
    assert out["gad"] == pytest.approx({"f1": 2 / 3, "f1_binary": 2 / 3, "f1_macro": (2 / 3 + 0.5) / 2,
                                        "f1_micro": 3 / 5})
    assert out["chemprot"] == pytest.approx({"f1": (2 / 3 + 1) / 3, "f1_macro": (2 / 3 + 1) / 3, "f1_micro": 3 / 4})
    # labels default to those seen: {"0", "1"} is binary; positive class tp 1, fn 1 -> F1 2/3
    assert out["re_default_labels"]["f1_binary"] == pytest.approx(2 / 3)
    assert "['Z']" in out["re_bad"]


def test_bioasq_module_hand_worked(loaded):
    _, out = loaded
    assert out["bioasq"] == pytest.approx({"strict": 1 / 3, "lenient": 2 / 3, "mrr": (1 + 1 / 3) / 3})
    # first synonym only (rank 3); no trimming; an empty golden synonym matches an empty answer at rank 2
    assert out["bioasq_rules"] == pytest.approx({"strict": 0.0, "lenient": 2 / 3, "mrr": (1 / 3 + 1 / 2) / 3})


def test_modules_equal_the_package_functions_on_random_input(loaded):
    _, out = loaded
    assert out["same"] == {"ner_word": True, "ner_subword": True, "re": True, "bioasq": True}


def test_unknown_module_name():
    with pytest.raises(ValueError, match="bioasq_factoid"):
        modules.path("seqeval")


def test_modules_ship_in_the_wheel():
    """Every module file matches the package-data patterns of pyproject.toml (setuptools
    installs package data only for what those patterns name)."""
    tomllib = pytest.importorskip("tomllib")
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = cfg["tool"]["setuptools"]["package-data"]["compactbio"]
    pkg = ROOT / "src" / "compactbio"
    for name in modules.NAMES:
        rel = (Path(modules.path(name)) / f"{name}.py").resolve().relative_to(pkg).as_posix()
        assert any(fnmatch.fnmatch(rel, p) for p in patterns), (rel, patterns)
    assert "seqeval>=1.2" in " ".join(cfg["project"]["dependencies"])
    assert any(d.startswith("evaluate") for d in cfg["project"]["dependencies"])
