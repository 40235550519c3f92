"""Subprocess entry for the resume and DDP tests: run one pre-training stage from a JSON params file.

Usage: python _runner.py PARAMS.json distill|continual MODEL INPUT CORPUS OUT WORKDIR
(also under ``torchrun --nproc_per_node N``).
"""

import json
import logging
import sys
from pathlib import Path

import torch

if __name__ == "__main__":
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO)
    params_file, kind, model, src, corpus, out, work = sys.argv[1:8]
    params = json.loads(Path(params_file).read_text())
    if kind == "distill":
        from compactbio.distill.stage import run
    else:
        from compactbio.pretrain.continual import run
    run(params, model, Path(src), Path(corpus), Path(out), Path(work))
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
