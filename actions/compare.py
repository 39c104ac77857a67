"""Side-by-side comparison of two or three products: only the attributes that differ, and a one-line
verdict on price and rating. Pure: products in, rows and verdict out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Sequence, Tuple

from actions.catalog.models import Product
from actions.prices import format_price
from actions.replies.products import audience, sizes_summary, stock_note

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


@dataclass(frozen=True)
class Comparison:
    positions: Tuple[int, ...]
    rows: Tuple[Tuple[str, List[str]], ...]  # only the attributes whose values differ
    verdict: str


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


def compare_products(products: Sequence[Tuple[int, Product]]) -> Comparison:
    """Compare (position, product) pairs; rows keep only attributes where the products differ."""
    if not 2 <= len(products) <= 3:
        raise ValueError("compare two or three products")
    rows = []
    for label, show in COMPARED:
        values = [show(product) for _, product in products]
        if len(set(values)) > 1:
            rows.append((label, values))
    return Comparison(tuple(pos for pos, _ in products), tuple(rows), verdict(products))


def comparison_header(products: Sequence[Tuple[int, Product]]) -> str:
    return " vs ".join(f"{_name(pos)} {p.title}" for pos, p in products)


def comparison_text(products: Sequence[Tuple[int, Product]], comparison: Comparison) -> str:
    header = comparison_header(products)
    if not comparison.rows:
        return f"{header}\nThey are the same on everything I track.\n{comparison.verdict}"
    lines = [header]
    for label, values in comparison.rows:
        lines.append(f"- {label}: " + " | ".join(values))
    lines.append(comparison.verdict)
    return "\n".join(lines)
