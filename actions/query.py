"""The search a conversation is running (`SearchQuery`, kept in the `search_state` slot) and how one
resolved request starts or refines it (`build_query`). Pure: no catalog, no wording."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Dict, List, Optional, Sequence, Tuple

from actions import settings
from actions.prices import PriceIntent, resolve_relative
from actions.request import MAX_TERMS, ShopperRequest
from common.schema import AGE_GROUP, BRAND, GENDER, MATERIAL, PRICE, PRODUCT_TYPE, SIZE

# Constraints that relaxation may drop, least important first. Exclusions ("no leather") are never
# dropped: showing what the shopper ruled out is worse than showing nothing.
# Constraint names are the schema's entity and attribute names where there is one; "colour" and
# "terms" are the query's own (the catalog spells colour the British way; terms are free words).
COLOUR, TERMS = "colour", "terms"
RELAX_ORDER: Tuple[str, ...] = (MATERIAL, SIZE, COLOUR, BRAND, TERMS, AGE_GROUP, GENDER, PRICE)
REFINING_INTENT = "refine_search"


@dataclass(frozen=True)
class SearchQuery:
    """Everything a search filters or ranks on. Stored in the `search_state` slot between turns."""

    product_type: Optional[str] = None
    category: Optional[str] = None
    product_words: Optional[str] = None  # what the shopper called it, for replies
    terms: Tuple[str, ...] = ()  # words searched in titles and descriptions
    brand: Optional[str] = None
    colour: Optional[str] = None
    material: Optional[str] = None
    size: Optional[str] = None
    exclude_colours: Tuple[str, ...] = ()
    exclude_materials: Tuple[str, ...] = ()
    exclude_brands: Tuple[str, ...] = ()
    min_price: Optional[float] = None
    max_price: Optional[float] = None
    price_relative: Optional[str] = None
    gender: Optional[str] = None
    gender_confidence: float = 0.0
    age_group: Optional[str] = None
    age_confidence: float = 0.0
    gift: bool = False
    recipient: Optional[str] = None
    # The shopper has been asked what they want (or shown results) for this search: never ask again,
    # and the next message refines this search even though it names no product yet.
    clarified: bool = False

    @property
    def price(self) -> PriceIntent:
        return PriceIntent(self.min_price, self.max_price, self.price_relative)

    @property
    def gender_filters(self) -> bool:
        return bool(self.gender) and self.gender_confidence >= settings.ATTRIBUTE_FILTER_THRESHOLD

    @property
    def age_filters(self) -> bool:
        return bool(self.age_group) and self.age_confidence >= settings.ATTRIBUTE_FILTER_THRESHOLD

    def has_product(self) -> bool:
        return bool(self.product_type or self.category or self.terms or self.brand)

    def has_budget(self) -> bool:
        return self.min_price is not None or self.max_price is not None or bool(self.price_relative)

    def present_constraints(self) -> List[str]:
        """The relaxable constraints this query actually has, in relaxation order."""
        present = {
            MATERIAL: self.material,
            SIZE: self.size,
            COLOUR: self.colour,
            BRAND: self.brand,
            TERMS: self.terms and (self.product_type or self.category),
            AGE_GROUP: self.age_filters,
            GENDER: self.gender_filters,
            PRICE: self.has_budget(),
        }
        return [name for name in RELAX_ORDER if present[name]]

    def without(self, constraint: str) -> SearchQuery:
        below_filter = settings.ATTRIBUTE_FILTER_THRESHOLD - 0.01
        cleared: Dict[str, Any] = {
            MATERIAL: {"material": None},
            SIZE: {"size": None},
            COLOUR: {"colour": None},
            BRAND: {"brand": None},
            TERMS: {"terms": ()},
            # A dropped attribute still boosts the ranking: it is only no longer a filter.
            AGE_GROUP: {"age_confidence": min(self.age_confidence, below_filter)},
            GENDER: {"gender_confidence": min(self.gender_confidence, below_filter)},
            PRICE: {"min_price": None, "max_price": None, "price_relative": None},
        }[constraint]
        return replace(self, **cleared)

    def without_all(self, constraints: Sequence[str]) -> SearchQuery:
        query = self
        for constraint in constraints:
            query = query.without(constraint)
        return query

    def to_state(self) -> Dict[str, Any]:
        state = asdict(self)
        for name in ("terms", "exclude_colours", "exclude_materials", "exclude_brands"):
            state[name] = list(state[name])
        return state

    @classmethod
    def from_state(cls, state: Any) -> Optional[SearchQuery]:
        """The query a slot holds; None for anything that is not one (the slot is client-reachable)."""
        if not isinstance(state, dict):
            return None
        known = {name: state[name] for name in cls.__dataclass_fields__ if name in state}
        for name in ("terms", "exclude_colours", "exclude_materials", "exclude_brands"):
            known[name] = tuple(str(t) for t in known.get(name) or ())[:MAX_TERMS]
        try:
            query = cls(**known)
        except TypeError:
            return None
        numbers = (query.min_price, query.max_price, query.gender_confidence, query.age_confidence)
        if any(value is not None and not isinstance(value, (int, float)) for value in numbers):
            return None
        return query


@dataclass(frozen=True)
class QueryNotes:
    """What the reply should mention about how the request was read."""

    ignored_price: Optional[str] = None  # why a stated price was not used
    compared_to_shown: Optional[str] = None  # "cheaper"/"pricier" than the results on screen
    misspelled: Optional[Tuple[str, str]] = None  # (typed, read as)


def refines(request: ShopperRequest, previous: Optional[SearchQuery]) -> bool:
    """True when the message refines the previous search rather than starting a new one."""
    if previous is None:
        return False
    if request.intent == REFINING_INTENT:
        return True
    if previous.clarified and not previous.has_product():
        return True  # the answer to our clarifying question, or to a gift-idea search
    if request.product_type or request.category or request.brand or request.misspelled:
        return False
    return request.refinements() and not request.mentions_recipient


def build_query(
    request: ShopperRequest, previous: Optional[SearchQuery] = None, shown_prices: Sequence[float] = ()
) -> Tuple[SearchQuery, QueryNotes]:
    """The search a request asks for. With `previous`, the request refines it: what the request says
    replaces the old value, everything else is kept ("in blue" keeps "trainers under $50")."""
    query = previous or SearchQuery()
    changes: Dict[str, Any] = {}
    # Products and brands read from the text alone start searches; in a refinement they are noise.
    from_text = set(request.from_text) if previous is not None else set()
    names_product = request.product_type or request.category or request.product_words
    if names_product and PRODUCT_TYPE not in from_text:
        changes.update(
            product_type=request.product_type,
            category=request.category,
            product_words=request.product_words,
            terms=request.terms,
        )
    elif request.terms:
        changes["terms"] = tuple(dict.fromkeys(query.terms + request.terms))[:MAX_TERMS]
    if request.brand and BRAND not in from_text:
        changes["brand"] = request.brand
    for name in ("colour", "material", "size"):  # SearchQuery fields
        if getattr(request, name):
            changes[name] = getattr(request, name)
    for name, field_name in (
        ("colour", "exclude_colours"),
        ("material", "exclude_materials"),
        ("brand", "exclude_brands"),
    ):
        excluded = request.excluded_values(name)
        if excluded:
            changes[field_name] = tuple(dict.fromkeys(getattr(query, field_name) + excluded))
            if changes.get(name, getattr(query, name)) in excluded:
                changes[name] = None
        chosen = changes.get(name)
        if chosen and chosen in getattr(query, field_name):  # "actually, pink is fine"
            changes[field_name] = tuple(v for v in getattr(query, field_name) if v != chosen)

    read_as = request.product_type or request.category or ""
    notes = QueryNotes(misspelled=(request.misspelled, read_as) if request.misspelled else None)
    price = request.price
    if price.invalid:
        notes = replace(notes, ignored_price=price.invalid)
    elif not price.is_empty:
        if price.relative in ("cheaper", "pricier") and shown_prices:
            notes = replace(notes, compared_to_shown=price.relative)
            reference = min(shown_prices) if price.relative == "cheaper" else max(shown_prices)
            price = replace(resolve_relative(price, (), reference=reference), relative=None)
        elif price.relative == "cheaper":
            price = PriceIntent(relative="cheap")
        elif price.relative == "pricier":
            price = PriceIntent(relative="premium")
        changes.update(min_price=price.min_price, max_price=price.max_price, price_relative=price.relative)

    if previous is not None and request.mentions_recipient:
        # A new recipient ("for a girl instead"): the old one's gender and age no longer apply.
        changes.update(gender=None, gender_confidence=0.0, age_group=None, age_confidence=0.0)
    if request.gender:
        changes.update(gender=request.gender.value, gender_confidence=request.gender.confidence)
    if request.age_group:
        changes.update(age_group=request.age_group.value, age_confidence=request.age_group.confidence)
    if request.gift:
        changes["gift"] = True
    if request.recipient:
        changes["recipient"] = request.recipient
    return replace(query, **changes), notes


def needs_clarification(query: SearchQuery) -> bool:
    """Too vague to search: no product, brand or words to search for, not asked before, and not a gift
    whose recipient and budget are both known ("bday present for my 8 yo niece, under 30")."""
    if query.has_product() or query.clarified:
        return False
    knows_who = bool(query.recipient or query.gender or query.age_group)
    return not (query.gift and knows_who and query.has_budget())
