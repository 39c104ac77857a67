"""Which products a message is about: by position ("the second one"), by colour ("the blue one"), by
name ("the Northwind slim fit tee"), else the product in focus ("it"), else the only one shown."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from rasa_sdk import Tracker
from sqlalchemy.orm import Session

from actions import conversation_state as state
from actions.catalog.db import products_by_id
from actions.catalog.models import Product
from actions.references import parse_positions
from actions.request import ShopperRequest
from actions.retrieval import named_products


@dataclass
class Pointing:
    """The (position, product) pairs a message points at; position 0 for a product not on screen."""

    products: List[Tuple[int, Product]] = field(default_factory=list)
    shown: int = 0  # how many products are on screen
    out_of_range: bool = False  # a position past the last product shown ("the sixth" of five)
    by_name: bool = False  # found by its title rather than on screen

    @property
    def nothing_shown(self) -> bool:
        return not self.products and not self.shown


def shown_products(tracker: Tracker, session: Session) -> List[Product]:
    return products_by_id(session, state.shown_ids(tracker))


def point(tracker: Tracker, session: Session, request: ShopperRequest, allow_focus: bool = True) -> Pointing:
    shown = shown_products(tracker, session)
    positions = parse_positions(request.text, len(shown), [p.colour for p in shown])
    if positions and shown:
        if any(p > len(shown) for p in positions):
            return Pointing([], len(shown), out_of_range=True)
        return Pointing([(p, shown[p - 1]) for p in positions], len(shown))
    named = named_products(session, request)
    if named:
        on_screen = {p.id: i + 1 for i, p in enumerate(shown)}
        return Pointing([(on_screen.get(p.id, 0), p) for p in named], len(shown), by_name=True)
    focus = state.focus_id(tracker)
    if allow_focus and focus:
        found = products_by_id(session, [focus])
        if found:
            position = next((i + 1 for i, p in enumerate(shown) if p.id == found[0].id), 0)
            return Pointing([(position, found[0])], len(shown))
    if len(shown) == 1:
        return Pointing([(1, shown[0])], 1)
    return Pointing([], len(shown))


def focused_product(tracker: Tracker, session: Session) -> Optional[Product]:
    focus = state.focus_id(tracker)
    found = products_by_id(session, [focus]) if focus else []
    return found[0] if found else None
