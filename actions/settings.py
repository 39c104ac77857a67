"""Tunable numbers for search and dialogue, overridable by environment variables."""

from __future__ import annotations

import os
from typing import Any

from common.schema import GIFT


def _float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


# An implicit attribute (gender, age_group) at or above this confidence filters the catalog;
# below it (and not "unknown") it only boosts matching products in the ranking.
ATTRIBUTE_FILTER_THRESHOLD = _float("SHOPCUE_ATTRIBUTE_FILTER_THRESHOLD", 0.75)
# Below this confidence an attribute is a guess and is ignored altogether (no filter, no boost).
ATTRIBUTE_BOOST_THRESHOLD = _float("SHOPCUE_ATTRIBUTE_BOOST_THRESHOLD", 0.5)
# `gift` counts as true at or above this confidence.
GIFT_THRESHOLD = _float("SHOPCUE_GIFT_THRESHOLD", 0.5)
# How many results one reply shows, and how many ranked ids the search state keeps for "show more".
PAGE_SIZE = int(_float("SHOPCUE_PAGE_SIZE", 5))
KEEP_RANKED = int(_float("SHOPCUE_KEEP_RANKED", 60))
# The most of one product a shopper can ask for or add in one go (a quantity entity is capped here).
MAX_QUANTITY = int(_float("SHOPCUE_MAX_QUANTITY", 20))


def acted_on(attribute: str, confidence: Any) -> bool:
    """Whether the bot acts on an attribute's value read with this confidence (a parse's value, so anything
    but a number counts as none); below the threshold the value is a guess, and the review console and the
    shoppers' reactions read it as no evidence."""
    try:
        value = float(confidence)
    except (TypeError, ValueError):
        return False
    return value >= (GIFT_THRESHOLD if attribute == GIFT else ATTRIBUTE_BOOST_THRESHOLD)
