"""Which attributes matter within each category ("quick details"), learned from the catalog. Pure:
products in, a table out; the action server computes it once when it opens the catalog
(`actions/catalog_handle.py`) and then only looks it up.

An attribute *matters* in a category when its values there vary and shoppers choose on it:

    matters(attribute, category) = prior[attribute] * coverage * normalised entropy

* **normalised entropy**: the Shannon entropy of the attribute's values over the category's products,
  divided by log(number of distinct values); 1 when the values are evenly spread, 0 when every product
  has the same one (or there is only one). Empty values ("", no sizes) are left out.
* **coverage**: the share of the category's products with a non-empty value, so sizes that only rings
  have do not make sizes a key attribute of all jewellery.
* **prior** (`PRIORS`): how much shoppers choose on the attribute, from 0 to 1 (sizes and colour most).

Values are read as a shopper chooses them: `sizes` counts every size a product is made in, each product
weighing 1 in all (so the entropy says how many sizes a shopper picks among); `price_band` is the
doubling band the price falls in ($8-16, $16-32, ...); `rating` is rounded to half a star;
`gift_suitable` is yes/no. Attributes scoring below `FLOOR` are dropped; the rest are the category's
key attributes, best first, ties in `PRIORS` order (so the order is deterministic).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, Protocol, Sequence, Tuple

# Every attribute the table may name, with its prior weight; the order breaks ties.
PRIORS: Mapping[str, float] = {
    "sizes": 1.0,
    "colour": 0.9,
    "material": 0.8,
    "gender": 0.7,
    "age_group": 0.6,
    "product_type": 0.5,
    "price_band": 0.5,
    "brand": 0.4,
    "rating": 0.3,
    "gift_suitable": 0.3,
}
FLOOR = 0.35  # below this an attribute does not count as a key attribute of the category


class Described(Protocol):
    category: str
    product_type: str
    gender: str
    age_group: str
    colour: str
    material: str
    brand: str
    price: float
    rating: float
    gift_suitable: bool

    @property
    def real_sizes(self) -> List[str]: ...


@dataclass(frozen=True)
class ProductFacts:
    """The attributes of one product the table is learned from (read by `catalog_handle` without loading
    whole products)."""

    category: str
    product_type: str = ""
    gender: str = ""
    age_group: str = ""
    colour: str = ""
    material: str = ""
    brand: str = ""
    price: float = 0.0
    rating: float = 0.0
    gift_suitable: bool = False
    real_sizes: List[str] = field(default_factory=list)


def price_band(price: float) -> str:
    """The doubling band a price falls in ("16-32"); "" for no price."""
    if price <= 0:
        return ""
    low = 2 ** math.floor(math.log2(price))
    return f"{low:g}-{2 * low:g}"


def values_of(product: Described, attribute: str) -> List[Tuple[str, float]]:
    """(value, weight) pairs one product gives an attribute; weights sum to 1, or nothing when empty."""
    if attribute == "sizes":
        sizes = list(product.real_sizes)
        return [(size, 1.0 / len(sizes)) for size in sizes]
    if attribute == "price_band":
        value = price_band(product.price)
    elif attribute == "rating":
        value = f"{round(product.rating * 2) / 2:.1f}"
    elif attribute == "gift_suitable":
        value = "yes" if product.gift_suitable else "no"
    else:
        value = str(getattr(product, attribute) or "")
    return [(value, 1.0)] if value else []


def normalised_entropy(counts: Mapping[str, float]) -> float:
    """Entropy of the distribution over log(distinct values): 0 for one value (or none), 1 for even."""
    total = sum(counts.values())
    if len(counts) < 2 or total <= 0:
        return 0.0
    entropy = -sum((c / total) * math.log(c / total) for c in counts.values() if c > 0)
    return entropy / math.log(len(counts))


def attribute_scores(products: Sequence[Described]) -> Dict[str, float]:
    """How much each attribute matters among these products (one category), as defined above."""
    if not products:
        return {}
    scores = {}
    for attribute, prior in PRIORS.items():
        counts: Counter = Counter()
        covered = 0
        for product in products:
            given = values_of(product, attribute)
            covered += bool(given)
            for value, weight in given:
                counts[value] += weight
        scores[attribute] = prior * (covered / len(products)) * normalised_entropy(counts)
    return scores


def rank_attributes(scores: Mapping[str, float], floor: float = FLOOR) -> Tuple[str, ...]:
    """The attributes at or above the floor, best first; ties in PRIORS order."""
    order = list(PRIORS)
    kept = [a for a, score in scores.items() if score >= floor]
    return tuple(sorted(kept, key=lambda a: (-round(scores[a], 9), order.index(a))))


@dataclass(frozen=True)
class KeyAttributes:
    """Each category's key attributes, best first, and the scores they were chosen by."""

    by_category: Mapping[str, Tuple[str, ...]] = field(default_factory=dict)
    scores: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def of(self, category: str) -> Tuple[str, ...]:
        """The category's key attributes; none for a category the catalog does not have."""
        return self.by_category.get(category, ())


def learn_key_attributes(products: Iterable[Described], floor: float = FLOOR) -> KeyAttributes:
    """The table for a whole catalog: products grouped by category, each group scored and ranked."""
    groups: Dict[str, List[Described]] = defaultdict(list)
    for product in products:
        groups[product.category].append(product)
    scores = {category: attribute_scores(members) for category, members in sorted(groups.items())}
    return KeyAttributes({c: rank_attributes(s, floor) for c, s in scores.items()}, scores)
