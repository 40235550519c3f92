"""Stand-in for the `compactbio` command in workflow-engine tests.

It creates each stage's declared outputs with fresh content (a new nonce per
run, as retraining gives new weights) and does no work, so the Snakemake and
DVC rerun logic can be tested on the full job graph in seconds.  The real
stages are exercised by their own tests and by the end-to-end demo test.
"""

import sys
import uuid
from pathlib import Path

FILES = {
    "finetune": ["metrics.json", "per_example.jsonl", "predictions.conll", "predictions.tsv",
                 "predictions.json", "train_log.csv"],
}


def main(argv):
    stage = argv[2] if argv[0] == "--log" else argv[0]   # compactbio [--log FILE] STAGE --opt value ...
    args = dict(zip(argv, argv[1:]))
    out = Path(args["--out"])
    nonce = f"{' '.join(argv)}\n{uuid.uuid4()}\n"
    if stage in ("table", "task-table"):
        name = args.get("--table", "task_distill")
        out.mkdir(parents=True, exist_ok=True)
        for ext in ("tex", "md", "csv"):
            (out / f"{name}.{ext}").write_text(nonce)
        return
    out.mkdir(parents=True, exist_ok=True)
    for name in FILES.get(stage, ["content.txt"]):
        (out / name).write_text('{"f1": 0.5}\n' if name == "metrics.json" else nonce)


if __name__ == "__main__":
    main(sys.argv[1:])
