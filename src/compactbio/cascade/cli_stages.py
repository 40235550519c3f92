"""The cascade study's CLI stages, in cli.STAGES form (``STAGES.update(CASCADE_STAGES)``)."""

from __future__ import annotations

from pathlib import Path as P

CASCADE_STAGES = {
    "cascade": (
        "compactbio.cascade.pair",
        "Route a compact model's least confident examples to the fallback (BioBERT): score and cost curves, "
        "area over random routing with a bootstrap interval, thresholds chosen on validation.",
        [("--model", dict(required=True, help="compact model id (cascade.models)")),
         ("--dataset", dict(required=True, help="dataset id")),
         ("--seed", dict(required=True, type=int)),
         ("--compact", dict(required=True, type=P,
                            help="its fine-tuning run, e.g. runs/finetune/tinybiobert/gad/seed42")),
         ("--fallback", dict(required=True, type=P, help="the fallback's run, e.g. runs/finetune/biobert/gad/seed42")),
         ("--prepared", dict(required=True, type=P, help="prepared dataset folder (task and labels)")),
         ("--efficiency", dict(required=True, type=P, help="efficiency output folder (latencies)")),
         ("--out", dict(required=True, type=P, help="e.g. runs/cascade/tinybiobert/gad/seed42"))],
    ),
    "cascade-table": (
        "compactbio.cascade.summary",
        "Build results/cascade/cascade.{tex,md,csv,png,pdf} from every pair's cascade.json.",
        [("--runs", dict(required=True, type=P, help="cascade runs root, e.g. runs/cascade")),
         ("--out", dict(required=True, type=P, help="e.g. results/cascade"))],
    ),
}
