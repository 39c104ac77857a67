"""What channels that can show more than text receive: the `custom` payloads (docs/architecture.md,
"Rich responses") and the payloads of quick-reply buttons. Built only here."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from actions.catalog.models import Product
from actions.prices import format_price
from actions.replies.products import stock_note

CURRENCY = "USD"
IMAGE_SCHEMES = ("http", "https")
MAX_IMAGE_URL = 500  # the catalog column's length


def image_url(product: Product) -> Optional[str]:
    """The product's image for a card: its http(s) URL, else None (the channel shows a placeholder). The
    importer accepts only http(s), but the column is checked again: it may have been written another way."""
    url = (product.image_url or "").strip()
    if not url or len(url) > MAX_IMAGE_URL or any(ch.isspace() or ord(ch) < 32 for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a malformed IPv6 host
        return None
    return url if parts.scheme.lower() in IMAGE_SCHEMES and parts.netloc else None


def button_payload(intent: str, entities: Optional[Mapping[str, Any]] = None) -> str:
    """A button that sends an intent with entities ("/add_to_cart{"size": "8"}"), as Rasa reads it."""
    return f"/{intent}" + (json.dumps(dict(entities), ensure_ascii=False) if entities else "")


def product_card(product: Product, position: int, size: Optional[str] = None) -> Dict[str, Any]:
    return {
        "id": product.id,
        "title": product.title,
        "price": round(float(product.price), 2),
        "currency": CURRENCY,
        "brand": product.brand,
        "attributes": {
            "colour": product.colour or None,
            "gender": product.gender,
            "age_group": product.age_group,
            "sizes": ", ".join(product.sizes),
            "material": product.material or None,
            "rating": product.rating,
        },
        "in_stock": product.available(size),
        "stock_note": stock_note(product, size),
        "image": image_url(product),
        "position": position,
    }


def product_cards(
    products: Sequence[Product],
    start: int = 1,
    size: Optional[str] = None,
    intro: str = "",
    closing: str = "",
) -> Dict[str, Any]:
    """Cards for a list of products. `intro` and `closing` are what a channel shows above and below
    them; the text reply carries the same sentences around one line per product, for channels
    without cards, so no client has to take the text apart."""
    return {
        "type": "product_cards",
        "intro": intro,
        "closing": closing,
        "products": [product_card(p, start + i, size) for i, p in enumerate(products)],
    }


def comparison(
    products: Sequence[Tuple[int, Product]],
    rows: Sequence[Tuple[str, List[str]]],
    verdict: str,
    intro: str = "",
    shared: Sequence[Tuple[str, str]] = (),
    shared_line: str = "",
) -> Dict[str, Any]:
    """The comparison table: `rows` (what differs, in order), `shared` (label, value) pairs of the key
    attributes they have in common and `shared_line`, the sentence a channel shows for them ("Both: ...")."""
    return {
        "type": "comparison",
        "intro": intro,
        "products": [
            {
                "id": p.id,
                "title": p.title,
                "position": position,
                "price": round(float(p.price), 2),
                "display_price": format_price(p.price),
            }
            for position, p in products
        ],
        "rows": [{"attribute": attribute, "values": list(values)} for attribute, values in rows],
        "shared": [{"attribute": attribute, "value": value} for attribute, value in shared],
        "shared_line": shared_line,
        "verdict": verdict,
    }
