"""The cart as data: its lines, adding a product (the same product and size again raises the line's
quantity), re-checking a kept line against today's catalog, and the totals. Pure: no database, no wording
(actions/cart_store.py keeps the lines per shopper)."""

from dataclasses import asdict, dataclass, replace
from typing import List, Optional, Sequence, Tuple

from actions import settings
from actions.catalog.models import Product

# What re-checking a kept line found (CartChange.kind).
GONE = "gone"  # the product left the catalog: the line is taken out
SOLD_OUT = "sold out"  # none left in that size: the line is taken out
FEWER = "fewer"  # fewer left than the line held: the line now holds what there is
PRICE = "price"  # the price changed since it was added: the line now has today's price


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

    def same_item(self, product_id: str, size: str) -> bool:
        """One line per product and size (the size as the catalog spells it: Product.size_label)."""
        return self.id == product_id and self.size == size


@dataclass(frozen=True)
class Addition:
    """What adding did: the new cart, the line that now holds the product, how many this added (0 when the
    line was already at the most there is), and whether the stock held fewer than the shopper wanted."""

    cart: List[CartLine]
    line: CartLine
    added: int
    capped: bool


@dataclass(frozen=True)
class CartChange:
    """A kept line that today's catalog no longer agrees with: `before` as kept, `after` as it is now
    (None when the line was taken out)."""

    kind: str
    before: CartLine
    after: Optional[CartLine]


def add_line(cart: Sequence[CartLine], product: Product, size: str, wanted: int) -> Addition:
    """Add `wanted` of the product in `size`: onto its line if the cart has one, else as a new last line.
    A line never holds more than the stock of that size nor more than `settings.MAX_QUANTITY`, and
    never less than one."""
    available = product.quantity_for(size)
    index = next((i for i, line in enumerate(cart) if line.same_item(product.id, size)), None)
    held = cart[index].quantity if index is not None else 0
    wanted = max(1, wanted)
    quantity = max(1, min(held + wanted, available, settings.MAX_QUANTITY))
    line = CartLine(product.id, product.title, size, quantity, round(float(product.price), 2))
    lines = list(cart)
    if index is None:
        lines.append(line)
    else:
        lines[index] = line
    return Addition(lines, line, max(0, quantity - held), held + wanted > available)


def recheck(line: CartLine, product: Optional[Product]) -> Tuple[Optional[CartLine], List[CartChange]]:
    """The line as today's catalog allows it (None: take it out) and what changed that the shopper should
    hear. A title the catalog reworded is taken over silently; the price is the catalog's today."""
    if product is None:
        return None, [CartChange(GONE, line, None)]
    available = product.quantity_for(line.size)
    if available <= 0:
        return None, [CartChange(SOLD_OUT, line, None)]
    price = round(float(product.price), 2)
    now = replace(
        line, title=product.title, price=price, quantity=min(line.quantity, available, settings.MAX_QUANTITY)
    )
    changes = []
    if available < line.quantity:  # (a lowered MAX_QUANTITY caps quietly: nothing ran out)
        changes.append(CartChange(FEWER, line, now))
    if price != line.price:
        changes.append(CartChange(PRICE, line, now))
    return now, changes


def cart_state(cart: Sequence[CartLine]) -> List[dict]:
    return [asdict(line) for line in cart]


def item_count(cart: Sequence[CartLine]) -> int:
    return sum(line.quantity for line in cart)


def cart_total(cart: Sequence[CartLine]) -> float:
    return sum(line.total for line in cart)
