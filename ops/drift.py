"""Drift figures, pure: population stability index of the intent mix, confidence histograms, summaries.

The dashboard (ops/dashboard.py) compares live traffic with what the model was built on: the intent mix
of each day against the training data's, and live intent confidences against the held-out split's
(ops/monitor_baseline.py). No I/O here, so every figure is unit-tested on hand-made counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Iterable, List, Mapping, Sequence

from common.stats import percentile

# Confidence histograms: 20 equal bins over [0, 1]; the last bin holds 1.0.
CONFIDENCE_BINS = 20
# A share of 0 in either distribution would make PSI infinite; empty bins count as this share.
PSI_EPSILON = 1e-4
# Rules of thumb for PSI: below 0.1 no shift, 0.1-0.25 a moderate one, above 0.25 a major one.
PSI_MODERATE, PSI_MAJOR = 0.1, 0.25


def shares(counts: Mapping[str, float]) -> Dict[str, float]:
    """Counts as fractions of their total ({} when the total is 0)."""
    total = float(sum(counts.values()))
    return {key: value / total for key, value in counts.items()} if total > 0 else {}


def psi(expected: Mapping[str, float], actual: Mapping[str, float], epsilon: float = PSI_EPSILON) -> float:
    """Population stability index of `actual` against `expected` (counts or shares, any scale).

    sum over categories of (a - e) * ln(a / e), both as shares; a category missing on one side counts
    as `epsilon`, so an intent training never saw, or one live traffic never uses, raises the index.
    """
    return sum(psi_terms(expected, actual, epsilon).values())


def psi_terms(expected: Mapping[str, float], actual: Mapping[str, float], epsilon: float = PSI_EPSILON
              ) -> Dict[str, float]:
    """Each category's share of the PSI (all >= 0): which intents moved the mix."""
    e, a = shares(expected), shares(actual)
    if not e or not a:
        return {}
    terms = {}
    for key in set(e) | set(a):
        pe, pa = max(e.get(key, 0.0), epsilon), max(a.get(key, 0.0), epsilon)
        terms[key] = (pa - pe) * math.log(pa / pe)
    return terms


def psi_level(value: float) -> str:
    """The usual reading of a PSI value: "stable", "moderate" or "major"."""
    if value >= PSI_MAJOR:
        return "major"
    return "moderate" if value >= PSI_MODERATE else "stable"


def confidence_histogram(values: Iterable[float], bins: int = CONFIDENCE_BINS) -> List[int]:
    """How many confidences fall in each of `bins` equal bins over [0, 1] (values outside are clipped)."""
    counts = [0] * bins
    for value in values:
        index = min(max(int(float(value) * bins), 0), bins - 1)
        counts[index] += 1
    return counts


def normalised(counts: Sequence[float]) -> List[float]:
    total = float(sum(counts))
    return [c / total for c in counts] if total else [0.0] * len(counts)


@dataclass(frozen=True)
class ConfidenceSummary:
    """A confidence sample in five numbers, and the share below the fallback threshold."""

    count: int
    mean: float
    p10: float
    median: float
    below_threshold: float

    def to_json(self) -> Dict[str, float]:
        return {"count": self.count, "mean": round(self.mean, 4), "p10": round(self.p10, 4),
                "median": round(self.median, 4), "below_threshold": round(self.below_threshold, 4)}


def confidence_summary(values: Sequence[float], threshold: float) -> ConfidenceSummary:
    """Mean, 10th percentile, median and the share under `threshold` (the NLU fallback threshold)."""
    if not values:
        return ConfidenceSummary(0, 0.0, 0.0, 0.0, 0.0)
    below = sum(1 for v in values if v < threshold) / len(values)
    return ConfidenceSummary(len(values), sum(values) / len(values), percentile(values, 10),
                             percentile(values, 50), below)
