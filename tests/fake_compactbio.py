"""Stand-in for the `compactbio` command in workflow-engine tests.

It finds its own job in the job graph of ./params.yaml (by its command line,
which both front ends run verbatim) and creates every output the job
declares, with fresh content (a new nonce per run, as retraining gives new
weights), doing no work; so the Snakemake and DVC rerun logic can be tested
on the full job graph in seconds.  `compactbio dvc-yaml` is passed to the real
command (the dvc_yaml_check stage).  The real stages are exercised by their
own tests and by the end-to-end demo test.
"""

import re
import shlex
import sys
import uuid
from pathlib import Path

# An output whose name ends in a file extension is a file; any other output (models/<id>,
# data/prepared/<id>, results/efficiency, ...) is a folder (the ids of params.yaml have no dots).
FILE_NAME = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,9}$")


def main(argv):
    stage = argv[2] if argv[0] == "--log" else argv[0]   # compactbio [--log FILE] STAGE --opt value ...
    if stage == "dvc-yaml":
        from compactbio.cli import main as real

        return real(argv)
    import yaml

    from compactbio.workflow.graph import jobs

    cmd = shlex.join(["compactbio", *argv])
    raw = yaml.safe_load(Path("params.yaml").read_text())
    job = next((j for j in jobs(raw) if j.cmd == cmd), None)
    if job is None:
        sys.exit(f"fake compactbio: no job of params.yaml runs {cmd!r}")
    nonce = f"{cmd}\n{uuid.uuid4()}\n"
    for out in [*job.outs, *job.metrics, *job.plots]:
        path = Path(out)
        if FILE_NAME.search(path.name):
            path.parent.mkdir(parents=True, exist_ok=True)
            # JSON (metrics.json, scores.json...) is new too, and numbers only, as dvc metrics expect
            path.write_text(f'{{"f1": 0.5, "nonce": {uuid.uuid4().int % 10**9}}}\n' if path.suffix == ".json" else nonce)
        else:
            path.mkdir(parents=True, exist_ok=True)
            (path / "content.txt").write_text(nonce)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
