"""The cascade study (issue 19): a compact model as a front-end, BioBERT only for its least confident inputs.

:mod:`.routing` holds the pure computation (curves, random baseline, area and
its bootstrap, validation-chosen thresholds), :mod:`.cost` the expected cost
from the efficiency study's latencies, :mod:`.stage` the per-pair stage and
the summary, :mod:`.table` and :mod:`.figure` the outputs.
"""
