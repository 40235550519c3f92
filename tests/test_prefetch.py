"""``compactbio prefetch``: the login-node download step for clusters whose compute nodes are offline.

The hub tests run the real ``snapshot_download`` against a loopback HTTP server
that plays the hub endpoints it calls (``HF_ENDPOINT=http://127.0.0.1:<port>``),
then load the snapshots the way the ``tokenizer`` and ``base_model`` jobs do,
with ``HF_HUB_OFFLINE=1``.  Everything runs in ``tmp_path``; nothing leaves
the machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml

from compactbio import cli, prefetch
from compactbio.params import resolve
from compactbio.workflow import graph

from workflow_tools import ROOT, copy_workflow


# ------------------------------------------------------------------ what gets prefetched
def test_hub_models_and_sources_per_scale(raw_params):
    demo, paper = resolve(raw_params, "demo"), resolve(raw_params, "paper")
    assert prefetch.hub_models(demo) == []                    # demo: tiny models built locally
    hub = prefetch.hub_models(paper)
    assert ("dmis-lab/biobert-base-cased-v1.1", "main") in hub
    assert len(hub) == len(raw_params["pretrain"]["base"])
    fetch_outs = [o for j in graph.jobs(paper) if j.rule == "fetch" for o in j.outs]
    assert [graph.raw_dir(s) for s in prefetch.raw_sources(paper)] == fetch_outs
    assert set(prefetch.raw_sources(demo)) == {"biobert", "chemprot", "pubmed"}


def test_local_folder_hub_needs_no_download(raw_params, tmp_path):
    paper = resolve(raw_params, "paper")
    paper["pretrain"]["base"]["biobert"]["hub"] = str(tmp_path)
    assert "dmis-lab/biobert-base-cased-v1.1" not in {h for h, _ in prefetch.hub_models(paper)}


def test_hub_patterns_cover_what_the_model_loader_asks_for():
    """An offline job's snapshot_download checks the cache against its own patterns: prefetch must cover them."""
    from compactbio.models.build import HUB_FILES

    assert set(HUB_FILES) <= set(prefetch.hub_patterns())
    assert not {"*", "*.msgpack", "*.h5", "*.onnx"} & set(prefetch.hub_patterns())


# ------------------------------------------------------------------ demo scale
@pytest.fixture
def no_hub(monkeypatch):
    """Any hub access fails the test."""
    def boom(*a, **k):
        raise AssertionError(f"hub access at demo scale: {a}")
    monkeypatch.setattr(prefetch, "download_model", boom)
    import huggingface_hub
    monkeypatch.setattr(huggingface_hub, "snapshot_download", boom)


def test_demo_prefetch_fetches_every_source_and_nothing_from_the_hub(tmp_path, monkeypatch, no_hub, capsys):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    assert cli.main(["prefetch"]) == 0
    for source in ("biobert", "chemprot", "pubmed"):
        assert any((tmp_path / "data/raw" / source).iterdir()), source
    assert (tmp_path / "data/raw/biobert/datasets/NER/BC2GM").is_dir()
    assert "no hub models to download" in capsys.readouterr().err
    # a second call keeps what is there; --force fetches again
    stamp = (tmp_path / "data/raw/pubmed").stat().st_ino
    assert cli.main(["prefetch"]) == 0
    assert "already present" in capsys.readouterr().err and (tmp_path / "data/raw/pubmed").stat().st_ino == stamp
    assert cli.main(["prefetch", "--force", "--skip-hub"]) == 0
    assert (tmp_path / "data/raw/pubmed").stat().st_ino != stamp


def test_offline_login_node_is_a_clear_error(raw_params, tmp_path, monkeypatch, capsys):
    from huggingface_hub import constants

    raw_params["scale"] = "paper"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw_params))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert cli.main(["prefetch", "--skip-data"]) == 1
    assert "HF_HUB_OFFLINE is set" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


def test_snakemake_sees_prefetched_sources_as_built(tmp_path, no_hub, monkeypatch):
    """`compactbio prefetch` writes the fetch rule's own outputs: Snakemake plans no fetch job after it."""
    wf = copy_workflow(tmp_path / "wf")
    monkeypatch.chdir(wf)
    assert cli.main(["prefetch"]) == 0
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "prefetch"], cwd=wf,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rule prefetch:" in proc.stdout
    assert "rule fetch:" not in proc.stdout, proc.stdout[-3000:]


# ------------------------------------------------------------------ a loopback hub
class FakeHub:
    """The endpoints ``snapshot_download`` calls: model info, the recursive tree, HEAD/GET ``resolve``."""

    def __init__(self, repos: dict[str, Path]):
        self.repos = {rid: (hashlib.sha1(rid.encode()).hexdigest(), folder) for rid, folder in repos.items()}
        self.requests: list[tuple[str, str]] = []
        self.unknown: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                hub.serve(self, body=False)

            def do_GET(self):
                hub.serve(self, body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def files(self, folder: Path) -> list[str]:
        return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())

    def serve(self, req: BaseHTTPRequestHandler, body: bool) -> None:
        path = unquote(urlparse(req.path).path)
        self.requests.append((req.command, path))
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) >= 6:
            repo, verb, rev = "/".join(parts[2:4]), parts[4], parts[5]
        elif len(parts) >= 5 and parts[2] == "resolve":
            repo, verb, rev = "/".join(parts[:2]), "resolve", parts[3]
        else:
            repo, verb, rev = None, None, None
        if repo not in self.repos or rev not in ("main", self.repos[repo][0]):
            self.unknown.append(f"{req.command} {path}")
            req.send_response(404)
            req.send_header("X-Error-Code", "RepoNotFound")
            req.end_headers()
            return
        sha, folder = self.repos[repo]
        if verb == "revision":
            payload = {"id": repo, "modelId": repo, "sha": sha, "private": False,
                       "siblings": [{"rfilename": f} for f in self.files(folder)]}
            return self.send(req, json.dumps(payload).encode(), "application/json", sha, body)
        if verb == "tree":
            entries = [{"type": "file", "path": f, "size": (folder / f).stat().st_size,
                        "oid": hashlib.sha1((folder / f).read_bytes()).hexdigest()} for f in self.files(folder)]
            return self.send(req, json.dumps(entries).encode(), "application/json", sha, body)
        file = folder / "/".join(parts[4:])
        if verb != "resolve" or not file.is_file():
            self.unknown.append(f"{req.command} {path}")
            req.send_response(404)
            req.send_header("X-Error-Code", "EntryNotFound")
            req.end_headers()
            return
        data = file.read_bytes()
        self.send(req, data, "application/octet-stream", sha, body, etag=hashlib.sha256(data).hexdigest())

    @staticmethod
    def send(req, data: bytes, ctype: str, sha: str, body: bool, etag: str | None = None) -> None:
        req.send_response(200)
        req.send_header("Content-Type", ctype)
        req.send_header("Content-Length", str(len(data)))
        req.send_header("X-Repo-Commit", sha)
        if etag:
            req.send_header("ETag", f'"{etag}"')
        req.end_headers()
        if body:
            req.wfile.write(data)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def tiny_repo(folder: Path, safetensors: bool) -> Path:
    """A BERT masked LM a few kB big, laid out like a hub repo, plus files no job reads.

    ``safetensors``: both weight formats, like distilbert-base-cased; otherwise only
    ``pytorch_model.bin`` and ``vocab.txt``, like BioBERT v1.1.
    """
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    folder.mkdir(parents=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "gene", "protein", "the", "of", "##s"]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    if safetensors:   # a recent repo: tokenizer.json too; an old one (BioBERT v1.1) has vocab.txt only
        wordpiece = Tokenizer(models.WordPiece({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
        wordpiece.normalizer = normalizers.BertNormalizer(lowercase=False)
        wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        BertTokenizerFast(tokenizer_object=wordpiece, do_lower_case=False, unk_token="[UNK]", sep_token="[SEP]",
                          pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]").save_pretrained(folder)
    config = BertConfig(vocab_size=len(vocab), hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=16, max_position_embeddings=32)
    model = BertForMaskedLM(config)
    model.save_pretrained(folder)                      # config.json + model.safetensors
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    if not safetensors:
        (folder / "model.safetensors").unlink()
    for junk in ("flax_model.msgpack", "tf_model.h5", "README.md", "onnx/model.onnx"):
        (folder / junk).parent.mkdir(parents=True, exist_ok=True)
        (folder / junk).write_bytes(b"not for the jobs")
    return folder


@pytest.fixture
def fake_hub(tmp_path):
    hub = FakeHub({"test-org/tiny-st": tiny_repo(tmp_path / "repos/st", safetensors=True),
                   "test-org/tiny-bin": tiny_repo(tmp_path / "repos/bin", safetensors=False)})
    yield hub
    hub.close()


def paper_project(tmp_path: Path, raw: dict, hubs: dict[str, str | None]) -> Path:
    """A project at paper scale whose sources are local folders and whose base models are ``hubs``."""
    proj = tmp_path / "proj"
    raw["scale"] = "paper"
    raw.pop("rehearsal", None)         # its caps name keys of the real sources, replaced here
    for source in raw["sources"]:
        src = tmp_path / "sources" / source
        src.mkdir(parents=True)
        (src / "README").write_text(f"raw files of {source}\n")
        raw["sources"][source] = {"path": str(src)}
    for model, hub in hubs.items():
        raw["pretrain"]["base"][model]["hub"] = hub
        raw["pretrain"]["base"][model]["revision"] = "main"
    proj.mkdir()
    (proj / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return proj


def run_in(proj: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=proj, env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=600)


OFFLINE_JOBS = """
from pathlib import Path
from compactbio.params import load_resolved
from compactbio.data import tokenizer
from compactbio.pretrain import base

params = load_resolved("params.yaml")
for m in ("biobert", "tinybert"):
    tokenizer.run(params, model=m, corpus=Path("unused"), out=Path("models/tokenizers") / m)
    base.run(params, model=m, tokenizer=Path("models/tokenizers") / m, corpus=Path("unused"),
             out=Path("models") / m, workdir=Path("runs/pretrain") / m)
"""


def test_prefetch_downloads_through_the_hub_endpoints_and_jobs_then_load_offline(tmp_path, raw_params, fake_hub):
    local = tiny_repo(tmp_path / "repos/local", safetensors=True)
    proj = paper_project(tmp_path, raw_params, {"biobert": "test-org/tiny-bin", "biobert_v12": "test-org/tiny-bin", "distilbert": "test-org/tiny-st",
                                                "tinybert": "test-org/tiny-st", "mobilebert": str(local)})
    hf_home = tmp_path / "hf"
    env = {"HF_HOME": str(hf_home), "HF_ENDPOINT": fake_hub.url, "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0",
           "HF_HUB_DISABLE_TELEMETRY": "1", "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    env.pop("HF_HUB_CACHE", None)
    proc = run_in(proj, env, "-m", "compactbio.cli", "prefetch")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert fake_hub.unknown == [], fake_hub.unknown

    # the normal HF cache layout, with refs/main pointing at the served commit
    # (the loader asks for both weight formats, so both are fetched where the repo has both)
    for repo, weights in (("test-org/tiny-st", {"model.safetensors", "pytorch_model.bin"}),
                          ("test-org/tiny-bin", {"pytorch_model.bin"})):
        sha = fake_hub.repos[repo][0]
        store = hf_home / "hub" / f"models--{repo.replace('/', '--')}"
        assert (store / "refs" / "main").read_text().strip() == sha
        snap = store / "snapshots" / sha
        got = {p.relative_to(snap).as_posix() for p in snap.rglob("*") if p.is_file()}
        assert {"config.json", "vocab.txt", *weights} <= got, got
        assert not got & {"flax_model.msgpack", "tf_model.h5", "README.md", "onnx/model.onnx"}, got
        assert (snap / "config.json").is_symlink() and any((store / "blobs").iterdir())
    assert not (hf_home / "hub" / f"models--{str(local).strip('/').replace('/', '--')}").exists()
    gets = [p for m, p in fake_hub.requests if m == "GET" and "/resolve/" in p]
    assert not any(p.endswith(("flax_model.msgpack", "README.md")) for p in gets)
    # every raw source is where the fetch rule puts it
    for source in raw_params["sources"]:
        assert (proj / "data/raw" / source / "README").is_file(), source

    # the jobs, with the hub out of reach: both snapshots load from the cache alone
    fake_hub.close()
    offline = {**env, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"}
    proc = run_in(proj, offline, "-c", OFFLINE_JOBS)
    assert proc.returncode == 0, proc.stderr[-4000:]
    for m in ("biobert", "tinybert"):
        assert (proj / "models/tokenizers" / m / "tokenizer.json").is_file(), m
        assert json.loads((proj / "models" / m / "config.json").read_text())["hidden_size"] == 8, m


def test_prefetch_failure_names_the_model(tmp_path, raw_params, fake_hub):
    proj = paper_project(tmp_path, raw_params, {"biobert": "test-org/not-there"})
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": fake_hub.url, "HF_HUB_OFFLINE": "0",
           "TRANSFORMERS_OFFLINE": "0", "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    proc = run_in(proj, env, "-m", "compactbio.cli", "prefetch", "--skip-data")
    assert proc.returncode == 1
    assert "hub model test-org/not-there (revision main): download failed" in proc.stderr
    assert "Traceback" not in proc.stderr
