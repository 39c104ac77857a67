"""How much the model doubts a product's attributes: the one definition the import summary, the review
queue and its threshold filter share."""

from __future__ import annotations

import os
from typing import Iterable, Optional, Protocol

from actions.catalog.models import REVIEW_AUTO, SOURCE_GIVEN, SOURCE_INFERRED

# A product whose least confident unreviewed inferred attribute is below this goes to review. Override
# with SHOPCUE_ENRICH_REVIEW_THRESHOLD (0-1).
DEFAULT_REVIEW_THRESHOLD = 0.8


def review_threshold() -> float:
    raw = os.environ.get("SHOPCUE_ENRICH_REVIEW_THRESHOLD", "")
    try:
        value = float(raw) if raw else DEFAULT_REVIEW_THRESHOLD
    except ValueError:
        return DEFAULT_REVIEW_THRESHOLD
    return min(1.0, max(0.0, value))


class Fact(Protocol):
    source: str
    confidence: Optional[float]
    value: str
    inferred_value: Optional[str]
    inferred_confidence: Optional[float]
    review_state: str


def fact_confidence(fact: Fact) -> Optional[float]:
    """How sure we are of one unreviewed fact; None when there is nothing to doubt.

    An inferred value counts with the model's confidence. A given value the model contradicts counts
    with 1 minus the model's confidence in its own reading: the surer the model is of something else,
    the more the feed's value needs a look. Reviewed facts and agreeing given values are not doubted.
    """
    if fact.review_state != REVIEW_AUTO:
        return None
    if fact.source == SOURCE_INFERRED:
        return float(fact.confidence if fact.confidence is not None else 0.0)
    if (
        fact.source == SOURCE_GIVEN
        and fact.inferred_value is not None
        and fact.inferred_value != fact.value
        and fact.inferred_confidence is not None
    ):
        return 1.0 - float(fact.inferred_confidence)
    return None


def product_confidence(facts: Iterable[Fact]) -> Optional[float]:
    """The least confident of a product's facts (the queue sorts by it, lowest first); None: nothing to
    doubt (every fact given and agreed, or reviewed)."""
    scores = [score for score in map(fact_confidence, facts) if score is not None]
    return min(scores) if scores else None


def needs_review(facts: Iterable[Fact], threshold: Optional[float] = None) -> bool:
    score = product_confidence(facts)
    return score is not None and score < (review_threshold() if threshold is None else threshold)
