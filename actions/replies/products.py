"""Products in words: one-line summaries, details, stock notes and who a product is for."""

from __future__ import annotations

from typing import List, Optional, Sequence

from actions.catalog.models import Product
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
    sizes = product.real_sizes
    if not sizes:
        return ""
    return sizes[0] if len(sizes) == 1 else f"{sizes[0]}-{sizes[-1]}"


def quantity_note(quantity: int) -> str:
    if quantity <= 0:
        return "out of stock"
    if quantity <= LOW_STOCK:
        return f"only {quantity} left"
    return "in stock"


def stock_note(product: Product, size: Optional[str] = None) -> str:
    """ "in stock", "only 2 left", "out of stock", or the same for one size ("size 8: only 1 left")."""
    if size and product.sized:
        if not product.makes_size(size):
            return f"not made in size {size}"
        return f"size {product.size_label(size)}: {quantity_note(product.quantity_for(size))}"
    return quantity_note(product.total_stock)


def sizes_in_stock(product: Product) -> List[str]:
    return [size for size in product.real_sizes if product.quantity_for(size) > 0]


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
        f"{product.title} by {product.brand}: {format_price(product.price)}, rated {product.rating:.1f}/5.",
        product.description,
    ]
    if product.sized:
        levels = ", ".join(
            f"{size} ({'out' if product.quantity_for(size) <= 0 else product.quantity_for(size)})"
            for size in product.real_sizes
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


def with_list(
    intro: str, products: Sequence[Product], start: int = 1, size: Optional[str] = None, closing: str = ""
) -> str:
    """The plain-text reply for a list of products: the intro, one numbered line each, the closing."""
    return "\n".join(part for part in (intro, product_lines(products, start, size), closing) if part)
