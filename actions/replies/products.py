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


def line_attributes(product: Product) -> List[str]:
    """The attributes a result line shows (colour, material, sizes, audience, rating)."""
    parts = [part for part in (product.colour, product.material) if part]
    sizes = sizes_summary(product)
    if sizes:
        parts.append(f"sizes {sizes}")
    parts.append(f"for {audience(product)}")
    parts.append(f"rated {product.rating:.1f}/5")
    return parts


# Quick details leave out what the first line of the details already says (brand, price, rating) and
# what the title names (the product type); a comparison's shared line leaves price and rating to the verdict.
QUICK_DETAILS_SKIP = frozenset({"brand", "price_band", "rating", "product_type"})
QUICK_DETAILS_MAX = 4
SHARED_SKIP = frozenset({"price_band", "rating"})


def attribute_phrase(product: Product, attribute: str) -> str:
    """One key attribute (actions/key_attributes.py) of a product in words: "sizes 4-12", "leather",
    "for men"; "" when the product has no value for it."""
    if attribute == "sizes":
        sizes = sizes_summary(product)
        return "" if not sizes else f"size {sizes}" if len(product.real_sizes) == 1 else f"sizes {sizes}"
    if attribute in ("gender", "age_group"):
        return f"for {audience(product)}"
    if attribute == "brand":
        return f"by {product.brand}" if product.brand else ""
    if attribute == "price_band":
        return format_price(product.price)
    if attribute == "rating":
        return f"rated {product.rating:.1f}/5"
    if attribute == "gift_suitable":
        return "gift-ready" if product.gift_suitable else "not gift-ready"
    return str(getattr(product, attribute, "") or "")


def key_phrases(product: Product, attributes: Sequence[str], skip: Sequence[str] = ()) -> List[str]:
    """The phrases of these attributes in order, each once ("for men" stands for gender and age)."""
    phrases: List[str] = []
    for attribute in attributes:
        phrase = "" if attribute in skip else attribute_phrase(product, attribute)
        if phrase and phrase not in phrases:
            phrases.append(phrase)
    return phrases


def quick_details(product: Product, key: Sequence[str]) -> str:
    """ "Quick details: sizes 4-12, leather, black, for men." from the category's key attributes, or ""."""
    phrases = key_phrases(product, key, QUICK_DETAILS_SKIP)[:QUICK_DETAILS_MAX]
    return f"Quick details: {', '.join(phrases)}." if phrases else ""


def shared_line(product: Product, shared: Sequence[str], count: int) -> str:
    """ "Both: leather, sizes 4-12." for the key attributes compared products have in common, or ""."""
    phrases = key_phrases(product, shared, SHARED_SKIP)
    if not phrases:
        return ""
    return f"{'Both' if count == 2 else 'All three'}: {', '.join(phrases)}."


def product_line(product: Product, position: int, size: Optional[str] = None) -> str:
    """ "1. Title - $29.99 (blue, cotton, sizes S-XL, for women, rated 4.5/5) - in stock"."""
    return (
        f"{position}. {product.title} - {format_price(product.price)} "
        f"({', '.join(line_attributes(product))}) - {stock_note(product, size)}"
    )


def product_lines(products: Sequence[Product], start: int = 1, size: Optional[str] = None) -> str:
    return "\n".join(product_line(p, start + i, size) for i, p in enumerate(products))


def product_details(product: Product, key: Sequence[str] = ()) -> str:
    """The details reply; `key`: the category's key attributes, for the "Quick details" line."""
    lines = [
        f"{product.title} by {product.brand}: {format_price(product.price)}, rated {product.rating:.1f}/5.",
        quick_details(product, key),
        product.description,
    ]
    lines = [line for line in lines if line]
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
