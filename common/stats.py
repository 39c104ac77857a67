"""The one percentile: latency figures, price bands and benchmark summaries all use it."""

from __future__ import annotations

from typing import Iterable


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile (q in 0..100) of the values, linearly interpolated between the closest ranks
    (numpy's default). Unsorted input is fine; an empty input gives 0.0."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    position = q / 100 * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
