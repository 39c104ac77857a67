"""The cart as data: lines read back from the `cart` slot (re-checked: a client can send anything),
adding a product, and the totals. Pure: no catalog, no wording."""

from dataclasses import asdict, dataclass, fields
from typing import Any, List, Sequence, Tuple

from actions import settings
from actions.catalog.models import Product


@dataclass(frozen=True)
class CartLine:
    id: str
    title: str
    size: str
    quantity: int
    price: float

    @property
    def total(self) -> float:
        return self.price * self.quantity


def read_cart(value: Any) -> List[CartLine]:
    """The lines of a `cart` slot value; anything malformed (wrong types, a negative or huge quantity,
    a negative price) is left out rather than trusted."""
    lines = []
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict):
            continue
        try:
            values = {f.name: f.type(item[f.name]) for f in fields(CartLine)}
        except (KeyError, TypeError, ValueError):
            continue
        line = CartLine(
            **{**values, "id": values["id"][:32], "title": values["title"][:200], "size": values["size"][:20]}
        )
        if 1 <= line.quantity <= settings.MAX_QUANTITY and 0 <= line.price <= 1_000_000:
            lines.append(line)
    return lines


def add_line(
    cart: Sequence[CartLine], product: Product, size: str, wanted: int
) -> Tuple[List[CartLine], int, bool]:
    """(the new cart, how many were added, whether fewer than wanted were left): never more than the
    stock of that size, never less than one, never more than `settings.MAX_QUANTITY`."""
    available = product.quantity_for(size)
    quantity = max(1, min(wanted, available, settings.MAX_QUANTITY))
    line = CartLine(product.id, product.title, size, quantity, round(float(product.price), 2))
    return [*cart, line], quantity, wanted > available


def cart_state(cart: Sequence[CartLine]) -> List[dict]:
    return [asdict(line) for line in cart]


def item_count(cart: Sequence[CartLine]) -> int:
    return sum(line.quantity for line in cart)


def cart_total(cart: Sequence[CartLine]) -> float:
    return sum(line.total for line in cart)
