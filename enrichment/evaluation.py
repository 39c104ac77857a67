"""How well an enriched import matches a feed's hidden truth (enrichment/sample_feeds.py): accuracy per
attribute, the share sent to review, and accuracy above and below the review threshold. Pure; the e2e
tests and benchmarks/bench_enrichment.py both score with it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Sequence

from actions.catalog.models import ENRICHED_ATTRIBUTES

# The attributes whose every value a shop's search filters or groups on; "all three right" is scored on them.
CORE_ATTRIBUTES = ("product_type", "gender", "age_group")


@dataclass
class FeedScore:
    products: int
    accuracy: Dict[str, float]  # per enriched attribute: share of products whose value is the truth
    to_review: int  # products below the threshold
    # Share of products with product type, gender and age group all right, among those the threshold
    # passes (above) and those it sends to review (below); None when a side is empty.
    core_accuracy_above: Optional[float]
    core_accuracy_below: Optional[float]
    # The same split for products with every enriched attribute right (review looks at all of them).
    all_accuracy_above: Optional[float] = None
    all_accuracy_below: Optional[float] = None
    wrong: Dict[str, list] = field(default_factory=dict)  # attribute -> a few (id, value, truth) misses

    @property
    def review_share(self) -> float:
        return self.to_review / self.products if self.products else 0.0


def _same(value: Any, truth: Any) -> bool:
    if isinstance(truth, bool) or isinstance(value, bool):
        return bool(value) == bool(truth)
    return str(value or "").strip().lower() == str(truth or "").strip().lower()


def score_feed(
    products: Sequence[Mapping[str, Any]],
    truth: Mapping[str, Mapping[str, Any]],
    confidence: Mapping[str, Optional[float]],
    threshold: float,
    keep_misses: int = 5,
) -> FeedScore:
    """Score imported products (dicts or rows with the Product columns) against the truth by id."""
    right = {name: 0 for name in ENRICHED_ATTRIBUTES}
    wrong: Dict[str, list] = {name: [] for name in ENRICHED_ATTRIBUTES}
    above = [0, 0, 0]  # [core attributes right, every attribute right, products]
    below = [0, 0, 0]
    for product in products:
        pid = product["id"]
        expected = truth[pid]
        core_right = all_right = True
        for name in ENRICHED_ATTRIBUTES:
            if _same(product[name], expected[name]):
                right[name] += 1
            else:
                all_right = False
                core_right = core_right and name not in CORE_ATTRIBUTES
                if len(wrong[name]) < keep_misses:
                    wrong[name].append((pid, product[name], expected[name]))
        score = confidence.get(pid)
        side = below if score is not None and score < threshold else above
        side[0] += int(core_right)
        side[1] += int(all_right)
        side[2] += 1
    count = len(products)
    return FeedScore(
        products=count,
        accuracy={name: right[name] / count if count else 0.0 for name in ENRICHED_ATTRIBUTES},
        to_review=below[2],
        core_accuracy_above=above[0] / above[2] if above[2] else None,
        core_accuracy_below=below[0] / below[2] if below[2] else None,
        all_accuracy_above=above[1] / above[2] if above[2] else None,
        all_accuracy_below=below[1] / below[2] if below[2] else None,
        wrong={name: misses for name, misses in wrong.items() if misses},
    )
