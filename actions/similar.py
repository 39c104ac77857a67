"""Nearest in-stock substitutes by attribute similarity: product type, gender, age group, price band,
colour and brand. `similarity` is pure; `find_similar` fetches candidates from the catalog."""

from __future__ import annotations

import math
from typing import Iterable, List, Optional, Protocol

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
}


class Comparable(Protocol):
    product_type: str
    category: str
    gender: str
    age_group: str
    price: float
    colour: str
    brand: str
    material: str


def price_closeness(a: float, b: float) -> float:
    """1 for the same price, 0 when one is twice the other or more (a price band, on a log scale)."""
    if a <= 0 or b <= 0:
        return 1.0 if a == b else 0.0
    return max(0.0, 1.0 - abs(math.log(a / b)) / math.log(2))


def similarity(a: Comparable, b: Comparable) -> float:
    """Weighted attribute agreement in [0, 1]; unisex counts as half a gender match."""
    score = 0.0
    score += WEIGHTS["product_type"] * (a.product_type == b.product_type)
    score += WEIGHTS["category"] * (a.category == b.category)
    if a.gender == b.gender:
        score += WEIGHTS["gender"]
    elif "unisex" in (a.gender, b.gender):
        score += WEIGHTS["gender"] / 2
    score += WEIGHTS["age_group"] * (a.age_group == b.age_group)
    score += WEIGHTS["price"] * price_closeness(a.price, b.price)
    score += WEIGHTS["colour"] * (bool(a.colour) and a.colour == b.colour)
    score += WEIGHTS["brand"] * (a.brand == b.brand)
    score += WEIGHTS["material"] * (bool(a.material) and a.material == b.material)
    return score / sum(WEIGHTS.values())


def rank_similar(
    reference: Comparable,
    candidates: Iterable[Product],
    size: Optional[str] = None,
    exclude: Iterable[str] = (),
    limit: int = 3,
) -> List[Product]:
    """The in-stock candidates (in `size` when given) most like the reference, best first."""
    excluded = set(exclude)
    pool = [p for p in candidates if p.id not in excluded and p.available(size)]
    pool.sort(key=lambda p: (-similarity(reference, p), -p.rating, p.id))
    return pool[:limit]


def find_similar(
    session: Session,
    reference: Product,
    size: Optional[str] = None,
    exclude: Iterable[str] = (),
    limit: int = 3,
    colour: Optional[str] = None,
) -> List[Product]:
    """Substitutes from the reference's category (its product type first, by the similarity score),
    optionally only in one colour ("is it available in black?")."""
    stmt = select(Product).where(Product.category == reference.category)
    if colour:
        stmt = stmt.where(Product.colour == colour)
    candidates = session.execute(stmt).scalars().all()
    return rank_similar(reference, candidates, size, list(exclude) + [reference.id], limit)
