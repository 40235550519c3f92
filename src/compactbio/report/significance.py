"""Does a compact model's score differ from BioBERT's?  Paired bootstrap markers.

The paper reports single runs without tests, so a 0.3-point gap may be noise.
For each seed both systems were scored on the same test examples; the paired
bootstrap of :mod:`compactbio.metrics.bootstrap` gives a two-sided p-value per
seed.  With several seeds we keep the largest p-value: a marker then means
the difference is significant on every seed (conservative, and needs no
assumption about how seeds combine).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from compactbio.metrics.bootstrap import paired_bootstrap

from .runs import Results

logger = logging.getLogger(__name__)

# (threshold, marker), strictest first
LEVELS = ((0.01, "‡"), (0.05, "†"))


@dataclass(frozen=True)
class Comparison:
    p_value: float                 # largest p over seeds
    p_values: tuple[float, ...]    # one per seed

    @property
    def marker(self) -> str:
        for threshold, marker in LEVELS:
            if self.p_value < threshold:
                return marker
        return ""


def compare(results: Results, model: str, reference: str, dataset: str, task: str, metric: str,
            samples: int) -> Comparison:
    """Paired bootstrap of ``model`` against ``reference`` on every seed (seeded by the run's seed)."""
    ps = []
    for seed in results.seeds:
        a = results.records(model, dataset, seed, task)
        b = results.records(reference, dataset, seed, task)
        try:
            res = paired_bootstrap(a, b, task, metric=metric, n_samples=samples, seed=seed)
        except ValueError as exc:
            raise ValueError(f"{results.records_path(model, dataset, seed)} vs "
                             f"{results.records_path(reference, dataset, seed)}: {exc}") from None
        ps.append(float(res["p_value"]))
    return Comparison(max(ps), tuple(ps))


def legend(reference_name: str, samples: int, n_seeds: int) -> str:
    """The Markdown note explaining the markers."""
    seeds = " (largest p over seeds)" if n_seeds > 1 else ""
    return (f"‡ p < 0.01, † p < 0.05: differs from {reference_name} on the same test examples, "
            f"two-sided paired bootstrap with {samples} resamples{seeds}.")
