"""Side-by-side comparison of two or three products: the attributes that differ (price and rating first,
then the category's key attributes in their order, then the rest), the key attributes they share, and a
one-line verdict on price and rating. Pure: products (and the key attributes) in, rows and verdict out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence, Tuple

from actions.catalog.models import Product
from actions.prices import format_price
from actions.replies.products import audience, shared_line, sizes_summary, stock_note

# (row label, how a product shows in that row), in display order.
COMPARED: Tuple[Tuple[str, Callable[[Product], str]], ...] = (
    ("price", lambda p: format_price(p.price)),
    ("rating", lambda p: f"{p.rating:.1f}/5"),
    ("brand", lambda p: p.brand),
    ("type", lambda p: p.product_type),
    ("colour", lambda p: p.colour or "-"),
    ("material", lambda p: p.material or "-"),
    ("sizes", lambda p: sizes_summary(p) or "one size"),
    ("for", audience),
    ("stock", lambda p: stock_note(p)),
    ("gift-ready", lambda p: "yes" if p.gift_suitable else "no"),
)
# The rows the verdict is about: always first.
LEADING = ("price", "rating")
# Each key attribute (actions/key_attributes.py) and the row that shows it.
KEY_ROW: Dict[str, str] = {
    "sizes": "sizes",
    "colour": "colour",
    "material": "material",
    "gender": "for",
    "age_group": "for",
    "brand": "brand",
    "product_type": "type",
    "gift_suitable": "gift-ready",
    "price_band": "price",
    "rating": "rating",
}


@dataclass(frozen=True)
class Comparison:
    positions: Tuple[int, ...]
    rows: Tuple[Tuple[str, List[str]], ...]  # only the attributes whose values differ
    verdict: str
    shared: Tuple[str, ...] = ()  # the key attributes all of them have in common (not price or rating)


def _name(position: int) -> str:
    return f"#{position}"


def verdict(products: Sequence[Tuple[int, Product]]) -> str:
    """One line on price and rating: which is cheaper, which is better rated, or that one is both."""
    cheapest = min(products, key=lambda pair: (pair[1].price, pair[0]))
    best = max(products, key=lambda pair: (pair[1].rating, -pair[0]))
    prices = {round(p.price, 2) for _, p in products}
    ratings = {p.rating for _, p in products}
    if len(prices) == 1 and len(ratings) == 1:
        return (
            f"They cost the same ({format_price(cheapest[1].price)}) and are rated the same "
            f"({best[1].rating:.1f}/5), so pick on looks."
        )
    if len(prices) == 1:
        return (
            f"Same price ({format_price(cheapest[1].price)}); {_name(best[0])} is better rated "
            f"({best[1].rating:.1f}/5)."
        )
    others_price = ", ".join(format_price(p.price) for pos, p in products if pos != cheapest[0])
    if len(ratings) == 1:
        return (
            f"{_name(cheapest[0])} is cheaper ({format_price(cheapest[1].price)} vs {others_price}); "
            f"both are rated {best[1].rating:.1f}/5."
        )
    if cheapest[0] == best[0]:
        return (
            f"{_name(cheapest[0])} is both the cheapest ({format_price(cheapest[1].price)}) and the best "
            f"rated ({best[1].rating:.1f}/5): the better buy."
        )
    return (
        f"{_name(cheapest[0])} is cheaper ({format_price(cheapest[1].price)} vs {others_price}); "
        f"{_name(best[0])} is better rated ({best[1].rating:.1f}/5 vs "
        f"{cheapest[1].rating:.1f}/5)."
    )


def row_order(key: Sequence[str] = ()) -> List[str]:
    """Row labels in display order: price and rating, the key attributes' rows, then the rest."""
    order = list(LEADING)
    for label in [KEY_ROW[a] for a in key if a in KEY_ROW] + [label for label, _ in COMPARED]:
        if label not in order:
            order.append(label)
    return order


def compare_products(products: Sequence[Tuple[int, Product]], key: Sequence[str] = ()) -> Comparison:
    """Compare (position, product) pairs; rows keep only attributes where the products differ, in
    `row_order(key)`; `shared` names the key attributes they agree on. `key`: the category's key
    attributes (the first product's category), best first."""
    if not 2 <= len(products) <= 3:
        raise ValueError("compare two or three products")
    shows = dict(COMPARED)
    values = {label: [show(product) for _, product in products] for label, show in COMPARED}
    rows = [(label, values[label]) for label in row_order(key) if len(set(values[label])) > 1]
    shared = tuple(
        attribute
        for attribute in key
        if attribute in KEY_ROW
        and KEY_ROW[attribute] not in LEADING
        and len({shows[KEY_ROW[attribute]](p) for _, p in products}) == 1
    )
    return Comparison(tuple(pos for pos, _ in products), tuple(rows), verdict(products), shared)


def shared_values(products: Sequence[Tuple[int, Product]], comparison: Comparison) -> List[Tuple[str, str]]:
    """(row label, the value they all have) for the shared key attributes, each row once."""
    shows = dict(COMPARED)
    labels: List[str] = []
    for attribute in comparison.shared:
        if KEY_ROW[attribute] not in labels:
            labels.append(KEY_ROW[attribute])
    return [(label, shows[label](products[0][1])) for label in labels]


def comparison_shared_line(products: Sequence[Tuple[int, Product]], comparison: Comparison) -> str:
    return shared_line(products[0][1], comparison.shared, len(products))


def comparison_header(products: Sequence[Tuple[int, Product]]) -> str:
    return " vs ".join(f"{_name(pos)} {p.title}" for pos, p in products)


def comparison_text(products: Sequence[Tuple[int, Product]], comparison: Comparison) -> str:
    header = comparison_header(products)
    if not comparison.rows:
        return f"{header}\nThey are the same on everything I track.\n{comparison.verdict}"
    lines = [header]
    for label, values in comparison.rows:
        lines.append(f"- {label}: " + " | ".join(values))
    lines.append(comparison_shared_line(products, comparison))
    lines.append(comparison.verdict)
    return "\n".join(line for line in lines if line)
