"""What channels that can show more than text receive: the `custom` payloads (docs/architecture.md,
"Rich responses") and the payloads of quick-reply buttons. Built only here."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from actions.catalog.models import Product
from actions.prices import format_price
from actions.replies.products import stock_note

CURRENCY = "USD"


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
        "image": None,
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
) -> Dict[str, Any]:
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
        "verdict": verdict,
    }
