"""The warm worker (compactbio.workflow.warm) and its launcher (compactbio.launcher).

A job run through the worker must be indistinguishable from a fresh process
except in speed: same exit code, output, logs and metrics; Ctrl-C and
SIGTERM reach it; a killed worker or launcher leaves no job behind; a dead
worker only means the job runs in its launcher.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest

from compactbio.workflow import warm

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
sys.path.insert(0, str(TESTS / "finetune"))
import ft_helpers as H  # noqa: E402

# The launcher with the probe as its entry point (tests/warm_probe.py), so jobs cost nothing.
PROBE = (f"import sys; sys.path.insert(0, {str(TESTS)!r}); from compactbio.launcher import run; "
         "sys.exit(run(entry='warm_probe:main'))")
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ", re.M)
# A job that waits for the worker its front end started (so that the test sees it served).
WAIT = ("import os, socket, time\np = os.environ['COMPACTBIO_WORKER']\nwhile True:\n"
        "    s = socket.socket(socket.AF_UNIX)\n    try:\n        s.connect(p); break\n"
        "    except OSError: time.sleep(0.1)\n")
BASE_ENV = warm.snakemake_job_env({k: v for k, v in os.environ.items() if k != warm.ENV})


def probe(*args: str) -> list[str]:
    return [sys.executable, "-c", PROBE, *args]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "compactbio.launcher", *args]


def env_for(handle, **extra) -> dict[str, str]:
    return {**BASE_ENV, warm.ENV: handle.address if handle is not None else "off", **extra}


def wait_ready(handle, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert handle.proc.poll() is None, "the worker exited during start-up"
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(handle.address)
            return
        except OSError:
            time.sleep(0.1)
        finally:
            s.close()
    raise AssertionError("the worker did not start listening")


def served(log: Path) -> int:
    """Jobs the worker ran to their end, from its log."""
    return len(re.findall(r"job \d+ ended: ", log.read_text())) if log.exists() else 0


def run(cmd, handle, cwd, **kw) -> subprocess.CompletedProcess:
    extra = kw.pop("env", {})
    return subprocess.run(cmd, cwd=cwd, env=env_for(handle, **extra), capture_output=True, text=True,
                          timeout=600, **kw)


def gone(pid: int, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def full_worker(tmp_path_factory):
    """A worker with everything preloaded, as Snakemake starts it."""
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    handle = warm.start(BASE_ENV, log)
    handle.log = log
    wait_ready(handle)
    yield handle
    handle.stop()


@pytest.fixture
def light_worker(tmp_path):
    """A worker that preloads almost nothing: for tests of the process mechanics."""
    log = tmp_path / "worker.log"
    handle = warm.start(BASE_ENV, log, preload=["json"])
    handle.log = log
    wait_ready(handle)
    yield handle
    if handle.proc.poll() is None:
        handle.proc.kill()
        handle.proc.wait()
    shutil.rmtree(handle.folder, ignore_errors=True)


# ------------------------------------------------------------------ a job is the same process it would be

def test_child_state_matches_a_fresh_process(full_worker, tmp_path):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    extra = {"COMPACTBIO_PROBE": "torch", "TMPDIR": str(tmpdir)}
    outs = {}
    for name, handle in (("a", full_worker), ("b", full_worker), ("fresh", None)):
        proc = subprocess.Popen(probe("state", "x y"), cwd=tmp_path, env=env_for(handle, **extra),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, umask=0o027)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        outs[name] = json.loads(out)
        outs[name]["launcher"] = proc.pid
    a, b, fresh = outs["a"], outs["b"], outs["fresh"]
    # a and b ran in children of the worker, each in its own process group; fresh in its launcher
    assert a["ppid"] == b["ppid"] == full_worker.proc.pid and a["pid"] != a["launcher"]
    assert a["pgid"] == a["pid"] and b["pgid"] == b["pid"]
    assert fresh["pid"] == fresh["launcher"]
    for s in (a, b):
        for key in ("cwd", "umask", "tempdir", "env", "sigint_default", "sigterm_default", "stdout", "stderr",
                    "stdout_tty", "torch_threads"):
            assert s[key] == fresh[key], key
        assert s["argv"][1:] == fresh["argv"][1:] == ["state", "x y"]
        assert not s["compactbio_cli_loaded"]   # compactbio's code is imported afresh by each job
    assert fresh["umask"] == 0o027 and fresh["tempdir"] == str(tmpdir) and fresh["torch_threads"] == 1
    # unseeded RNGs are not handed down from the worker: each child starts from its own seed, as fresh
    # processes do (torch, too, seeds its default generator from the OS at start-up)
    for key in ("numpy_random", "random", "torch_rng", "torch_seed"):
        assert a[key] != b[key], key


def test_child_takes_on_the_launchers_limits_and_niceness(light_worker, tmp_path):
    import resource

    def restrict():
        resource.setrlimit(resource.RLIMIT_NOFILE, (200, 300))
        os.nice(3)

    states = {}
    for name, handle in (("worker", light_worker), ("fresh", None)):
        proc = subprocess.Popen(probe("state"), cwd=tmp_path, env=env_for(handle), stdout=subprocess.PIPE,
                                text=True, preexec_fn=restrict)
        out, _ = proc.communicate(timeout=120)
        states[name] = json.loads(out)
    assert states["worker"]["ppid"] == light_worker.proc.pid
    for key in ("nofile", "nice"):
        assert states["worker"][key] == states["fresh"][key], key
    assert states["fresh"]["nofile"] == [200, 300]


def test_failing_job_same_exit_code_and_output(full_worker, tmp_path):
    (tmp_path / "params.yaml").write_text("scale: demo\nnot_a_key: 1\n")
    jobs = [
        probe("exit", "3"),
        cli("check-params"),                                       # params error: exit 2
        cli("--params", str(ROOT / "params.yaml"), "finetune", "--model", "biobert", "--dataset",
            "ncbi-disease", "--seed", "1", "--model-dir", "missing", "--data", "missing", "--prepared",
            "missing", "--out", "out"),                           # a stage's one-line error: exit 1
    ]
    before = served(full_worker.log)
    for cmd in jobs:
        with_worker, without = run(cmd, full_worker, tmp_path), run(cmd, None, tmp_path)
        assert with_worker.returncode == without.returncode != 0
        assert with_worker.stdout == without.stdout
        assert STAMP.sub("", with_worker.stderr) == STAMP.sub("", without.stderr)
        assert not (tmp_path / "out").exists()
    assert served(full_worker.log) == before + len(jobs)


def test_uncaught_exception_prints_the_jobs_traceback(light_worker, tmp_path):
    with_worker, without = run(probe("raise"), light_worker, tmp_path), run(probe("raise"), None, tmp_path)
    assert with_worker.returncode == without.returncode == 1
    tail = without.stderr.strip().splitlines()[-3:]   # the probe's frame and the exception
    assert with_worker.stderr.strip().splitlines()[-3:] == tail and tail[-1] == "RuntimeError: probe failure"
    assert "warm.py" not in with_worker.stderr


def test_stdin_reaches_the_job(light_worker, tmp_path):
    proc = run(probe("stdin"), light_worker, tmp_path, input="hello\n")
    assert proc.returncode == 0 and proc.stdout == "HELLO\n"
    assert served(light_worker.log) == 1


def test_jobs_exit_handlers_run_and_the_workers_do_not(full_worker, tmp_path):
    proc = run(probe("finalize", "made"), full_worker, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not Path((tmp_path / "made").read_text()).exists()   # the job's own finalizer ran at its exit
    proc = run(probe("state"), full_worker, tmp_path)           # and the worker's imports are still whole
    assert proc.returncode == 0 and json.loads(proc.stdout)["ppid"] == full_worker.proc.pid


def test_log_lands_where_it_does_without_the_worker(full_worker, tmp_path):
    logs = {}
    for name, handle in (("worker", full_worker), ("fresh", None)):
        wd = tmp_path / name
        wd.mkdir()
        (wd / "params.yaml").write_text((ROOT / "params.yaml").read_text())
        proc = run(cli("--log", "logs/check.log", "check-params"), handle, wd)
        assert proc.returncode == 0, proc.stderr
        logs[name] = STAMP.sub("", (wd / "logs" / "check.log").read_text())
    assert logs["worker"] == logs["fresh"] and "params.yaml is valid" in logs["fresh"]


def test_finetune_gives_identical_outputs_with_and_without_the_worker(full_worker, tmp_path):
    tok = H.build_tokenizer(tmp_path / "tok")
    model = H.build_model(tmp_path / "model", tok, "bert")
    prepared, data = H.make_dataset(tmp_path, "ner", tok, sizes=(48, 16, 16))
    before = served(full_worker.log)
    runs = {}
    for name, handle in (("worker", full_worker), ("fresh", None)):
        proc = run(cli("--params", str(ROOT / "params.yaml"), "--log", f"logs/{name}.log", "finetune", "--model",
                       "biobert", "--dataset", "ncbi-disease", "--seed", "3", "--model-dir", str(model), "--data",
                       str(data), "--prepared", str(prepared), "--out", f"runs/{name}"), handle, tmp_path)
        assert proc.returncode == 0, proc.stderr
        runs[name] = {p.name: p.read_bytes() for p in sorted((tmp_path / "runs" / name).iterdir())}
    assert served(full_worker.log) == before + 1
    assert "metrics.json" in runs["fresh"] and runs["worker"] == runs["fresh"]
    strip = lambda text: STAMP.sub("", text)  # noqa: E731
    assert strip((tmp_path / "logs/worker.log").read_text()) == strip((tmp_path / "logs/fresh.log").read_text())


# ------------------------------------------------------------------ signals, deaths, refusals

def _start_sleeper(handle, tmp_path, seconds="60"):
    marks = tmp_path / "marks"
    proc = subprocess.Popen(probe("sleep", seconds, str(marks)), cwd=tmp_path, env=env_for(handle),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    return proc, marks


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_to_the_launcher_reaches_the_job(light_worker, tmp_path, sig):
    results = {}
    for name, handle in (("worker", light_worker), ("fresh", None)):
        (tmp_path / name).mkdir()
        proc, marks = _start_sleeper(handle, tmp_path / name)
        job = int(marks.read_text().split()[-1])
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        results[name] = (proc.returncode, err.strip().splitlines()[-1] if err.strip() else "")
        assert gone(job)
        if name == "worker":
            assert job != proc.pid
    assert results["worker"] == results["fresh"]
    assert results["fresh"][0] == -sig
    if sig == signal.SIGINT:
        assert results["fresh"][1] == "KeyboardInterrupt"


def test_killed_launcher_takes_its_job_along(light_worker, tmp_path):
    proc, marks = _start_sleeper(light_worker, tmp_path)
    job = int(marks.read_text().split()[-1])
    proc.kill()
    proc.wait()
    assert gone(job)
    assert light_worker.proc.poll() is None   # the worker itself lives on


def test_killed_worker_means_jobs_run_in_their_launcher(light_worker, tmp_path):
    light_worker.proc.kill()
    light_worker.proc.wait()
    assert Path(light_worker.address).exists()   # a stale socket: connecting is refused
    proc = subprocess.Popen(probe("state"), cwd=tmp_path, env=env_for(light_worker), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert json.loads(out)["pid"] == proc.pid and err == ""


def test_worker_killed_mid_job_reruns_the_job_in_its_launcher(light_worker, tmp_path):
    proc, marks = _start_sleeper(light_worker, tmp_path, seconds="2")
    first = int(marks.read_text().split()[-1])
    light_worker.proc.kill()
    light_worker.proc.wait()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0
    assert gone(first)                      # the worker's child died with it
    pids = [int(x) for x in marks.read_text().split()]
    assert pids == [first, proc.pid]        # then the job ran again, from the start, in its launcher
    assert "running the job again in this process" in err and out == "ready\n"


def test_job_with_other_import_time_environment_runs_in_its_launcher(light_worker, tmp_path):
    proc = subprocess.Popen(probe("state"), cwd=tmp_path, env=env_for(light_worker, OMP_NUM_THREADS="2"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0 and json.loads(out)["pid"] == proc.pid
    assert "refused" in light_worker.log.read_text() and "OMP_NUM_THREADS" in light_worker.log.read_text()
    # what Snakemake varies per job and the worker resets (TMPDIR) or that no import reads (PATH) is fine
    proc = run(probe("state"), light_worker, tmp_path, env={"TMPDIR": str(tmp_path), "PATH": os.environ["PATH"]
                                                                                         + ":/nonexistent"})
    assert proc.returncode == 0 and json.loads(proc.stdout)["ppid"] == light_worker.proc.pid


def test_worker_stops_when_its_parent_dies(tmp_path):
    code = ("import sys, time; from compactbio.workflow import warm; "
            "h = warm.start(log=None, preload=['json']); print(h.proc.pid, h.address, flush=True); time.sleep(600)")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=BASE_ENV)
    pid, address = parent.stdout.readline().split()
    wait_ready(SimpleNamespace(address=address, proc=SimpleNamespace(poll=lambda: None)))
    parent.kill()
    parent.wait()
    assert gone(int(pid)), "the worker outlived its parent"
    assert not Path(address).parent.exists()   # socket and folder removed


def test_worker_command_serves_the_commands_jobs(tmp_path, capfd, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for k, v in BASE_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv(warm.ENV, raising=False)
    (tmp_path / "wait.py").write_text(WAIT)
    script = f"{sys.executable} wait.py && {' '.join(repr(a) for a in probe('state'))} && exit 7"
    rc = warm.run_command(["--", "sh", "-c", script], log=tmp_path / "w.log", preload=["json"])
    out = capfd.readouterr().out
    assert rc == 7
    state = json.loads(out.strip().splitlines()[-1])
    assert served(tmp_path / "w.log") == 1 and state["ppid"] != os.getpid()
    assert (tmp_path / "w.log").read_text().rstrip().endswith("stopped")   # and it is stopped afterwards


def test_dvc_repro_under_the_worker_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for k, v in BASE_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv(warm.ENV, raising=False)
    (tmp_path / "wait.py").write_text(WAIT)
    (tmp_path / "job.sh").write_text(f"{sys.executable} wait.py && {shlex.join(probe('state'))} > \"$1\"\n")
    (tmp_path / "dvc.yaml").write_text("stages:\n  probe:\n    cmd: sh job.sh out.json\n    deps: [job.sh]\n"
                                       "    outs: [out.json]\n")
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"]):
        subprocess.run(cmd, check=True, capture_output=True)
    assert warm.run_command(["dvc", "repro", "-q"], log=tmp_path / "w.log", preload=["json"]) == 0
    state = json.loads((tmp_path / "out.json").read_text())
    assert served(tmp_path / "w.log") == 1 and state["cwd"] == str(tmp_path)


# ------------------------------------------------------------------ wiring

def test_worker_subcommand_returns_the_commands_status(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != warm.ENV}
    proc = subprocess.run(cli("worker", "--", "sh", "-c", 'test -S "$COMPACTBIO_WORKER" -o -n "$COMPACTBIO_WORKER"'
                              " && exit 3"), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3, proc.stderr    # no params.yaml needed; the command saw the worker's address
    assert (tmp_path / warm.LOG).exists()


def test_console_script_is_the_light_launcher():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["compactbio"] == "compactbio.launcher:main"
    code = ("import sys, compactbio.launcher; heavy = ('torch', 'transformers', 'numpy', 'yaml', 'jsonschema', "
            "'compactbio.cli'); print([m for m in sys.modules if m.split('.')[0] in heavy or m in heavy])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _workflow(exec_mode="DEFAULT", local=True, dry=False, touch=False, shells=("compactbio a", "compactbio b")):
    from snakemake_interface_executor_plugins.settings import ExecMode

    jobs = [SimpleNamespace(rule=SimpleNamespace(shellcmd=s)) for s in shells]
    return SimpleNamespace(exec_mode=getattr(ExecMode, exec_mode), local_exec=local, dryrun=dry, touch=touch,
                           dag=SimpleNamespace(needrun_jobs=lambda: iter(jobs)))


def test_snakemake_starts_a_worker_only_for_local_runs():
    env = {}
    assert warm.snakemake_decision(_workflow(), env) is None
    assert "cluster" in warm.snakemake_decision(_workflow(local=False), env)            # --profile slurm
    assert "job step" in warm.snakemake_decision(_workflow(exec_mode="REMOTE"), env)    # inside a SLURM job
    assert "dry run" in warm.snakemake_decision(_workflow(dry=True), env)
    assert "only 1" in warm.snakemake_decision(_workflow(shells=("compactbio a", "echo b")), env)
    assert "off" in warm.snakemake_decision(_workflow(), {warm.ENV: "off"})


@pytest.mark.slow
def test_snakemake_local_run_serves_its_jobs_and_stops_the_worker(tmp_path):
    (tmp_path / "wait.py").write_text(WAIT)
    (tmp_path / "job.sh").write_text(f"{sys.executable} wait.py && {shlex.join(probe('state'))} > \"$1\"\n")
    (tmp_path / "Snakefile").write_text(
        f'include: {str(ROOT / "workflow/rules/warm.smk")!r}\n\n'
        'rule all:\n    input: "a.json", "b.json"\n\n'
        'rule probe:\n    output: "{x}.json"\n    shell: "sh job.sh {output} # compactbio"\n')
    env = {k: v for k, v in os.environ.items() if k != warm.ENV}
    dry = subprocess.run(["snakemake", "-n", "--cores", "2"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    assert not (tmp_path / warm.LOG).exists()   # a dry run starts nothing
    proc = subprocess.run(["snakemake", "--cores", "2"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    a, b = (json.loads((tmp_path / f"{x}.json").read_text()) for x in "ab")
    assert a["ppid"] == b["ppid"] and served(tmp_path / warm.LOG) == 2
    assert gone(a["ppid"]), "the worker outlived Snakemake"


@pytest.mark.slow
def test_ctrl_c_on_snakemake_then_rerun_incomplete(tmp_path):
    """A terminal's Ctrl-C (SIGINT to Snakemake's whole process group) stops the jobs and the worker;
    `--rerun-incomplete` then finishes the run."""
    (tmp_path / "wait.py").write_text(WAIT)
    sleeper = shlex.join(probe("sleep", "SECONDS_", "marks")).replace("SECONDS_", '"$SECONDS_"')
    (tmp_path / "job.sh").write_text(f'{sys.executable} wait.py && {sleeper} && echo done > "$1"\n')
    (tmp_path / "Snakefile").write_text(
        f'include: {str(ROOT / "workflow/rules/warm.smk")!r}\n\n'
        'rule all:\n    input: "a.txt", "b.txt"\n\n'
        'rule job:\n    output: "{x}.txt"\n    shell: "sh job.sh {output} # compactbio"\n')
    env = {k: v for k, v in os.environ.items() if k != warm.ENV}
    proc = subprocess.Popen(["snakemake", "--cores", "2"], cwd=tmp_path, env={**env, "SECONDS_": "120"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    marks = tmp_path / "marks"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(marks.read_text().split() if marks.exists() else []) < 2:
        time.sleep(0.2)
    jobs = [int(x) for x in marks.read_text().split()]
    worker = int(re.search(r"ready in .* \(pid (\d+)\)", (tmp_path / warm.LOG).read_text()).group(1))
    assert len(jobs) == 2 and all(os.getppid() != j for j in jobs)
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert all(gone(j) for j in jobs), "a job outlived Ctrl-C"
    assert gone(worker), "the worker outlived Snakemake"
    assert not (tmp_path / "a.txt").exists() and not (tmp_path / "b.txt").exists()
    again = subprocess.run(["snakemake", "--cores", "2", "--rerun-incomplete"], cwd=tmp_path,
                           env={**env, "SECONDS_": "0"}, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "a.txt").read_text() == "done\n" == (tmp_path / "b.txt").read_text()
