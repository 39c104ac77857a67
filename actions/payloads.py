"""The rich `custom` payloads (docs/architecture.md, "Rich responses"); built only here."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

from actions.catalog.models import Product
from actions.prices import format_price
from actions.replies import size_in_stock_note

CURRENCY = "USD"


def product_card(product: Product, position: int, size: Optional[str] = None) -> Dict[str, Any]:
    in_stock, note = size_in_stock_note(product, size)
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
        "in_stock": in_stock,
        "stock_note": note,
        "image": None,
        "position": position,
    }


def product_cards(products: Sequence[Product], start: int = 1, size: Optional[str] = None) -> Dict[str, Any]:
    return {
        "type": "product_cards",
        "products": [product_card(p, start + i, size) for i, p in enumerate(products)],
    }


def comparison(
    products: Sequence[Tuple[int, Product]], rows: Sequence[Tuple[str, List[str]]], verdict: str
) -> Dict[str, Any]:
    return {
        "type": "comparison",
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
