"""Nearest in-stock substitutes by attribute similarity: product type, gender, age group, price band,
colour, brand, material, sizes, rating and gift-readiness. The reference's category's key attributes
(`actions/key_attributes.py`) weigh `KEY_BOOST` times more, never more than `KEY_CAP` (so product type
stays the heaviest). `similarity` is pure; `find_similar` fetches candidates from the catalog."""

from __future__ import annotations

import math
from typing import Dict, Iterable, List, Optional, Protocol, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.catalog.models import Product

WEIGHTS = {
    "product_type": 4.0,
    "category": 1.0,
    "gender": 1.5,
    "age_group": 1.5,
    "price": 1.5,
    "colour": 0.7,
    "brand": 0.5,
    "material": 0.3,
    "sizes": 0.3,
    "rating": 0.2,
    "gift_suitable": 0.2,
}
KEY_BOOST = 3.0
KEY_CAP = 3.0  # below WEIGHTS["product_type"]: a key attribute never outweighs the product type
# The key-attribute names (actions/key_attributes.py) that differ from the weights' names.
KEY_TO_WEIGHT = {"price_band": "price"}


class Comparable(Protocol):
    product_type: str
    category: str
    gender: str
    age_group: str
    price: float
    colour: str
    brand: str
    material: str
    rating: float
    gift_suitable: bool

    @property
    def real_sizes(self) -> List[str]: ...


def price_closeness(a: float, b: float) -> float:
    """1 for the same price, 0 when one is twice the other or more (a price band, on a log scale)."""
    if a <= 0 or b <= 0:
        return 1.0 if a == b else 0.0
    return max(0.0, 1.0 - abs(math.log(a / b)) / math.log(2))


def weights_for(key: Sequence[str] = ()) -> Dict[str, float]:
    """The weights with the category's key attributes boosted (product type is never boosted)."""
    boosted = {KEY_TO_WEIGHT.get(name, name) for name in key} - {"product_type"}
    return {
        name: min(weight * KEY_BOOST, max(weight, KEY_CAP)) if name in boosted else weight
        for name, weight in WEIGHTS.items()
    }


def sizes_overlap(a: Sequence[str], b: Sequence[str]) -> float:
    """Share of sizes in common (Jaccard); two products sold without sizes agree."""
    if not a and not b:
        return 1.0
    return len(set(a) & set(b)) / len(set(a) | set(b))


def similarity(a: Comparable, b: Comparable, key: Sequence[str] = ()) -> float:
    """Weighted attribute agreement in [0, 1]; unisex counts as half a gender match. `key`: the
    category's key attributes, which weigh more."""
    weights = weights_for(key)
    agree = {
        "product_type": float(a.product_type == b.product_type),
        "category": float(a.category == b.category),
        "gender": 1.0 if a.gender == b.gender else 0.5 if "unisex" in (a.gender, b.gender) else 0.0,
        "age_group": float(a.age_group == b.age_group),
        "price": price_closeness(a.price, b.price),
        "colour": float(bool(a.colour) and a.colour == b.colour),
        "brand": float(a.brand == b.brand),
        "material": float(bool(a.material) and a.material == b.material),
        "sizes": sizes_overlap(a.real_sizes, b.real_sizes),
        "rating": max(0.0, 1.0 - abs(a.rating - b.rating)),
        "gift_suitable": float(bool(a.gift_suitable) == bool(b.gift_suitable)),
    }
    return sum(weights[name] * agree[name] for name in weights) / sum(weights.values())


def rank_similar(
    reference: Comparable,
    candidates: Iterable[Product],
    size: Optional[str] = None,
    exclude: Iterable[str] = (),
    limit: int = 3,
    key: Sequence[str] = (),
) -> List[Product]:
    """The in-stock candidates (in `size` when given) most like the reference, best first."""
    excluded = set(exclude)
    pool = [p for p in candidates if p.id not in excluded and p.available(size)]
    pool.sort(key=lambda p: (-similarity(reference, p, key), -p.rating, p.id))
    return pool[:limit]


def find_similar(
    session: Session,
    reference: Product,
    size: Optional[str] = None,
    exclude: Iterable[str] = (),
    limit: int = 3,
    colour: Optional[str] = None,
    key: Sequence[str] = (),
) -> List[Product]:
    """Substitutes from the reference's category (its product type first, by the similarity score, the
    category's key attributes `key` weighing more), optionally only in one colour ("is it available in
    black?")."""
    stmt = select(Product).where(Product.category == reference.category)
    if colour:
        stmt = stmt.where(Product.colour == colour)
    candidates = session.execute(stmt).scalars().all()
    return rank_similar(reference, candidates, size, list(exclude) + [reference.id], limit, key)
