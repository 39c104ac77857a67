"""Plain-text pieces of replies (REST and voice read only the text), shared by every action."""

from __future__ import annotations

from typing import List, Optional, Sequence

from actions.catalog.models import ONE_SIZE, Product
from actions.prices import format_price

AUDIENCE = {
    ("female", "adult"): "women",
    ("male", "adult"): "men",
    ("unisex", "adult"): "adults",
    ("female", "teen"): "teen girls",
    ("male", "teen"): "teen boys",
    ("unisex", "teen"): "teens",
    ("female", "kid"): "girls",
    ("male", "kid"): "boys",
    ("unisex", "kid"): "kids",
    ("female", "baby"): "baby girls",
    ("male", "baby"): "baby boys",
    ("unisex", "baby"): "babies",
}
LOW_STOCK = 3


def audience(product: Product) -> str:
    return AUDIENCE.get((product.gender, product.age_group), product.age_group)


def sizes_summary(product: Product) -> str:
    """ "S-XL" style range of the sizes it is made in, or "" for one-size products."""
    sizes = [size for size in product.sizes if size != ONE_SIZE]
    if not sizes:
        return ""
    return sizes[0] if len(sizes) == 1 else f"{sizes[0]}-{sizes[-1]}"


def stock_note(product: Product, size: Optional[str] = None) -> str:
    """ "in stock", "only 2 left", "out of stock", or the same for one size ("size 8: only 1 left")."""
    if size and product.sizes != [ONE_SIZE]:
        levels = {s.upper(): q for s, q in product.stock_by_size.items()}
        if size.upper() not in levels:
            return f"not made in size {size}"
        quantity = levels[size.upper()]
        prefix = f"size {size}: "
    else:
        quantity = product.total_stock
        prefix = ""
    if quantity <= 0:
        return prefix + "out of stock"
    if quantity <= LOW_STOCK:
        return prefix + f"only {quantity} left"
    return prefix + "in stock"


def key_attributes(product: Product) -> List[str]:
    parts = [part for part in (product.colour, product.material) if part]
    sizes = sizes_summary(product)
    if sizes:
        parts.append(f"sizes {sizes}")
    parts.append(f"for {audience(product)}")
    parts.append(f"rated {product.rating:.1f}/5")
    return parts


def product_line(product: Product, position: int, size: Optional[str] = None) -> str:
    """ "1. Title - $29.99 (blue, cotton, sizes S-XL, for women, rated 4.5/5) - in stock"."""
    return (
        f"{position}. {product.title} - {format_price(product.price)} "
        f"({', '.join(key_attributes(product))}) - {stock_note(product, size)}"
    )


def product_lines(products: Sequence[Product], start: int = 1, size: Optional[str] = None) -> str:
    return "\n".join(product_line(p, start + i, size) for i, p in enumerate(products))


def product_details(product: Product) -> str:
    lines = [
        f"{product.title} by {product.brand}: {format_price(product.price)}, rated {product.rating:.1f}/5."
    ]
    lines.append(product.description)
    sized = [s for s in product.sizes if s != ONE_SIZE]
    if sized:
        levels = ", ".join(
            f"{size} ({'out' if qty <= 0 else qty})" for size, qty in product.stock_by_size.items()
        )
        lines.append(f"Sizes and stock: {levels}.")
    else:
        lines.append(f"Stock: {stock_note(product)}.")
    if product.gift_suitable:
        lines.append("It makes a good gift, and we can gift-wrap it.")
    return "\n".join(lines)


def join_words(words: Sequence[str]) -> str:
    words = [w for w in words if w]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def size_in_stock_note(product: Product, size: Optional[str] = None) -> tuple:
    """(is it available, its stock note) for the product, or for one size of it."""
    note = stock_note(product, size)
    return not (note.endswith("out of stock") or note.startswith("not made")), note
