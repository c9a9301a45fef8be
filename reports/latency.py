"""Percentiles of response times from the rollups' summed histograms (``reports.models.LATENCY_BOUNDS``)."""

from __future__ import annotations

from collections.abc import Sequence

from reports.models import LATENCY_BOUNDS


def percentile(counts: Sequence[int], q: float) -> float | None:
    """The ``q`` quantile (0 to 1) in seconds of the values counted in ``counts`` (one count per bucket),
    interpolated linearly within its bucket; None when nothing was counted. Exact to the bucket: values in
    the open last bucket (a week or more) read as a week."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(counts):
        if count and seen + count >= rank:
            low = 0 if i == 0 else LATENCY_BOUNDS[i - 1]
            if i >= len(LATENCY_BOUNDS):
                return float(low)
            high = LATENCY_BOUNDS[i]
            return low + (high - low) * max(0.0, rank - seen) / count
        seen += count
    return float(LATENCY_BOUNDS[-1])
