"""From what the shopper said to ranked products.

`build_query` (pure) turns a parsed message (entities, the NLU's implicit `attributes`, the text) and
the previous search into a `SearchQuery`. `run_search` runs it against the catalog: hard filters in
SQL, free text through the full-text index, gender/age as filters when the NLU is confident and as
ranking boosts when not, gift-suitable items first for gifts, and step-by-step relaxation that
records which constraint it dropped.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from sqlalchemy import and_, exists, func, or_, select, text
from sqlalchemy.orm import Session

from actions import settings
from actions.catalog.models import Product, StockLevel
from actions.prices import PriceIntent, format_price, parse_price, resolve_relative
from actions.vocabulary import Vocabulary, normalise

# Constraints that relaxation may drop, least important first, with the words used to say so.
RELAX_ORDER: Tuple[str, ...] = (
    "material",
    "size",
    "colour",
    "brand",
    "terms",
    "age_group",
    "gender",
    "price",
)
OCCASION_GIFT_WORDS = (
    "birthday",
    "bday",
    "christmas",
    "xmas",
    "anniversary",
    "valentine",
    "mother's day",
    "father's day",
    "wedding",
    "graduation",
    "baby shower",
    "housewarming",
    "gift",
    "present",
)
MAX_TERMS = 6
# Recipient words that name nobody new ("she's 6", "for me"): not repeated back as "your she".
PRONOUNS = frozenset({"she", "he", "her", "him", "they", "them", "me", "myself", "i", "us", "you", "it"})
MAX_CANDIDATES = 600


@dataclass(frozen=True)
class ShopperRequest:
    """One parsed message: its text, its entities as (type, value) pairs, and the parse's attributes
    (None when the pipeline gives none, e.g. before the joint model is in the pipeline)."""

    text: str
    entities: Tuple[Tuple[str, str], ...] = ()
    attributes: Optional[Mapping[str, Any]] = None

    def values(self, entity_type: str) -> List[str]:
        return [value for kind, value in self.entities if kind == entity_type and value]

    def first(self, entity_type: str) -> Optional[str]:
        found = self.values(entity_type)
        return found[0] if found else None

    def joined(self, entity_type: str) -> Optional[str]:
        """All values of one type in message order: a model may split "under $60" into two entities."""
        found = self.values(entity_type)
        return " ".join(found) if found else None


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
    min_price: Optional[float] = None
    max_price: Optional[float] = None
    price_relative: Optional[str] = None
    gender: Optional[str] = None
    gender_confidence: float = 0.0
    age_group: Optional[str] = None
    age_confidence: float = 0.0
    gift: bool = False
    recipient: Optional[str] = None
    asked_to_clarify: bool = False

    @property
    def price(self) -> PriceIntent:
        return PriceIntent(self.min_price, self.max_price, self.price_relative)

    def with_price(self, price: PriceIntent) -> SearchQuery:
        return replace(
            self, min_price=price.min_price, max_price=price.max_price, price_relative=price.relative
        )

    @property
    def gender_filters(self) -> bool:
        return bool(self.gender) and self.gender_confidence >= settings.ATTRIBUTE_FILTER_THRESHOLD

    @property
    def age_filters(self) -> bool:
        return bool(self.age_group) and self.age_confidence >= settings.ATTRIBUTE_FILTER_THRESHOLD

    def has_product(self) -> bool:
        return bool(self.product_type or self.category or self.terms or self.brand)

    def present_constraints(self) -> List[str]:
        """The relaxable constraints this query actually has, in relaxation order."""
        present = {
            "material": self.material,
            "size": self.size,
            "colour": self.colour,
            "brand": self.brand,
            "terms": self.terms and (self.product_type or self.category),
            "age_group": self.age_filters,
            "gender": self.gender_filters,
            "price": self.min_price is not None or self.max_price is not None or self.price_relative,
        }
        return [name for name in RELAX_ORDER if present[name]]

    def without(self, constraint: str) -> SearchQuery:
        cleared: Dict[str, Any] = {
            "material": {"material": None},
            "size": {"size": None},
            "colour": {"colour": None},
            "brand": {"brand": None},
            "terms": {"terms": ()},
            # A dropped attribute still boosts the ranking: it is only no longer a filter.
            "age_group": {
                "age_confidence": min(self.age_confidence, settings.ATTRIBUTE_FILTER_THRESHOLD - 0.01)
            },
            "gender": {
                "gender_confidence": min(self.gender_confidence, settings.ATTRIBUTE_FILTER_THRESHOLD - 0.01)
            },
            "price": {"min_price": None, "max_price": None, "price_relative": None},
        }[constraint]
        return replace(self, **cleared)

    def to_state(self) -> Dict[str, Any]:
        state = asdict(self)
        state["terms"] = list(self.terms)
        return state

    @classmethod
    def from_state(cls, state: Any) -> Optional[SearchQuery]:
        if not isinstance(state, dict):
            return None
        known = {name: state[name] for name in cls.__dataclass_fields__ if name in state}
        known["terms"] = tuple(str(t) for t in known.get("terms") or ())
        try:
            return cls(**known)
        except TypeError:
            return None


@dataclass
class QueryNotes:
    """What the reply should mention about how the request was read."""

    ignored_price: Optional[str] = None  # why a stated price was not used
    unknown_brand: Optional[str] = None
    compared_to_shown: Optional[str] = None  # "cheaper"/"pricier" than the results on screen


def model_attributes(attributes: Optional[Mapping[str, Any]]) -> Dict[str, Tuple[str, float]]:
    """{attribute: (value, confidence)} from the parse's `attributes`; unknown/neutral values left out."""
    found: Dict[str, Tuple[str, float]] = {}
    for name, item in (attributes or {}).items():
        if isinstance(item, Mapping):
            value, confidence = item.get("value"), item.get("confidence", 0.0)
        else:
            value, confidence = item, 1.0
        value = str(value).lower() if value is not None else ""
        try:
            confidence = float(confidence)
        except (TypeError, ValueError):
            confidence = 0.0
        if value and value not in ("unknown", "false", "none"):
            found[str(name)] = (value, confidence)
    return found


def cue_attributes(text: str) -> Dict[str, Tuple[str, float]]:
    """Attributes from the cue lexicon (nlu.weak_labels), at `settings.CUE_CONFIDENCE`."""
    from nlu.weak_labels import label_attributes

    return {
        name: (value, settings.CUE_CONFIDENCE)
        for name, value in label_attributes(text).items()
        if value not in ("unknown", "false")
    }


def combine_attributes(
    model: Dict[str, Tuple[str, float]], cues: Dict[str, Tuple[str, float]]
) -> Dict[str, Tuple[str, float]]:
    """The model's attributes, backed by the near-certain cue words ("wife", "10yo"): a cue fills in
    what the model left unknown, raises the confidence when they agree, and wins a disagreement only
    when the model is less sure than a cue."""
    combined = dict(model)
    for name, (value, cue_confidence) in cues.items():
        if name not in model:
            combined[name] = (value, cue_confidence)
            continue
        model_value, model_confidence = model[name]
        if model_value == value:
            combined[name] = (value, max(model_confidence, cue_confidence))
        elif model_confidence < cue_confidence:
            combined[name] = (value, cue_confidence)
    return combined


def read_attributes(request: ShopperRequest) -> Dict[str, Tuple[str, float]]:
    """{attribute: (value, confidence)} for the message: the parse's `attributes` (absent when the
    pipeline has no joint model: treated as unknown) combined with the cue lexicon."""
    return combine_attributes(model_attributes(request.attributes), cue_attributes(request.text))


# Words that say nothing about which product is wanted, kept out of the full-text search.
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "for",
        "with",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "from",
        "some",
        "any",
        "something",
        "anything",
        "stuff",
        "things",
        "thing",
        "item",
        "items",
        "product",
        "products",
        "nice",
        "good",
        "great",
        "new",
        "cool",
        "best",
        "cute",
        "lovely",
        "really",
        "very",
        "please",
        "want",
        "need",
        "looking",
        "look",
        "find",
        "show",
        "me",
        "my",
        "i",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "one",
        "ones",
        "kind",
        "sort",
        "type",
    ]
)


def _words(text: str) -> Tuple[str, ...]:
    words = [word for word in normalise(text).split() if len(word) > 1 and word not in STOP_WORDS]
    return tuple(words)[:MAX_TERMS]


def describing_words(words: str, vocabulary: Vocabulary, request: ShopperRequest) -> Dict[str, Any]:
    """Colour, material and brand named among a product phrase's other words (unless an entity already
    gives them); what is left, less price words ("premium"), becomes full-text terms."""
    found: Dict[str, Any] = {}
    rest = normalise(words).split()
    for key, table, entity in (
        ("colour", vocabulary.colours, "color"),
        ("material", vocabulary.materials, "material"),
        ("brand", vocabulary.brand_words, "brand"),
    ):
        hits = table.scan(" ".join(rest))
        if hits and not request.values(entity):
            start, end, value = hits[0]
            found[key] = value
            rest = rest[:start] + rest[end:]
    terms = tuple(word for word in _words(" ".join(rest)) if parse_price(word).is_empty and len(word) > 2)
    if terms:
        found["terms"] = terms
    return found


def build_query(
    request: ShopperRequest,
    vocabulary: Vocabulary,
    previous: Optional[SearchQuery] = None,
    shown_prices: Sequence[float] = (),
) -> Tuple[SearchQuery, QueryNotes]:
    """The search a message asks for. With `previous`, the message refines it: what the message says
    replaces the old value, everything else is kept ("in blue" keeps "trainers under $50")."""
    query = previous or SearchQuery()
    notes = QueryNotes()
    text = request.text
    changes: Dict[str, Any] = {}

    product_phrase = request.joined("product_type")
    other_words: List[str] = []
    if product_phrase:
        product_type, category, other_words = vocabulary.split_product(product_phrase)
        changes.update(
            product_type=product_type,
            category=category,
            product_words=product_phrase.strip(),
            terms=() if (product_type or category) else _words(product_phrase),
        )
    elif previous is None:
        product_type, category, _ = vocabulary.split_product(text)
        if product_type or category:
            changes.update(product_type=product_type, category=category)
    if other_words and (changes.get("product_type") or changes.get("category")):
        # "wireless headphones", "pink slippers", "cashmere jumper": the other words still count.
        changes.update(describing_words(" ".join(other_words), vocabulary, request))
    extra_terms = tuple(
        word for value in request.values("feature") + request.values("model") for word in _words(value)
    )
    if extra_terms:
        changes["terms"] = tuple(dict.fromkeys(changes.get("terms", query.terms) + extra_terms))[:MAX_TERMS]

    brand_value = request.first("brand")
    if brand_value:
        brand = vocabulary.brand(brand_value)
        changes["brand"] = brand or brand_value.strip()
        if brand is None:
            notes.unknown_brand = brand_value.strip()
    elif previous is None and vocabulary.brand_words.scan(text):
        changes["brand"] = vocabulary.brand(text)

    colour_value = request.first("color")
    colour = vocabulary.colour(colour_value) if colour_value else vocabulary.colour(text)
    if colour or colour_value:
        changes["colour"] = colour or normalise(colour_value or "")
    material_value = request.first("material")
    if material_value:
        changes["material"] = vocabulary.material(material_value) or normalise(material_value)
    size = requested_size(request, vocabulary)
    if size:
        changes["size"] = size

    # The whole text first: it keeps the context words a model may split off ("between 50" / "120").
    price = parse_price(text)
    price_value = request.joined("price")
    if price.is_empty and price_value:
        price = parse_price(price_value, assume_money=True)
    if price.invalid:
        notes.ignored_price = price.invalid
    elif not price.is_empty:
        if price.relative in ("cheaper", "pricier") and shown_prices:
            notes.compared_to_shown = price.relative
            reference = min(shown_prices) if price.relative == "cheaper" else max(shown_prices)
            price = replace(resolve_relative(price, (), reference=reference), relative=None)
        elif price.relative == "cheaper":
            price = PriceIntent(relative="cheap")
        elif price.relative == "pricier":
            price = PriceIntent(relative="premium")
        changes.update(min_price=price.min_price, max_price=price.max_price, price_relative=price.relative)

    attributes = read_attributes(request)
    if previous is not None and request.values("recipient"):
        # A new recipient ("for a girl instead"): the old one's gender and age no longer apply.
        changes.update(gender=None, gender_confidence=0.0, age_group=None, age_confidence=0.0)
    if "gender" in attributes:
        changes.update(gender=attributes["gender"][0], gender_confidence=attributes["gender"][1])
    if "age_group" in attributes:
        changes.update(age_group=attributes["age_group"][0], age_confidence=attributes["age_group"][1])
    gift_attribute = attributes.get("gift")
    occasion = request.first("occasion")
    if (gift_attribute and gift_attribute[0] == "true" and gift_attribute[1] >= settings.GIFT_THRESHOLD) or (
        occasion and any(word in occasion.lower() for word in OCCASION_GIFT_WORDS)
    ):
        changes["gift"] = True
    recipient = next((r.strip() for r in request.values("recipient") if normalise(r) not in PRONOUNS), None)
    if recipient:
        changes["recipient"] = recipient
    return replace(query, **changes), notes


def requested_size(request: ShopperRequest, vocabulary: Vocabulary) -> Optional[str]:
    """The size a message asks for: from a `size` entity the vocabulary understands, else from the text
    ("is the first one in size 4" even when the model tagged no size, or tagged "one")."""
    for value in request.values("size"):
        size = vocabulary.size(value) or vocabulary.size(f"size {value}")
        if size:
            return size
    return vocabulary.size(request.text)


def needs_clarification(query: SearchQuery) -> bool:
    """Too vague to search: no product, no brand, no words to search for, and not asked before."""
    return not query.has_product() and not query.asked_to_clarify


# --- running a query -----------------------------------------------------------------------------


@dataclass
class SearchResult:
    products: List[Product]
    query: SearchQuery  # as run, after relaxation
    dropped: List[str] = field(default_factory=list)
    price: PriceIntent = field(default_factory=PriceIntent)  # the bounds actually applied
    text_matched: bool = True  # False when the free-text words matched nothing at all


def _fts_expression(terms: Sequence[str], vocabulary: Vocabulary) -> str:
    """An FTS5 MATCH expression: every term must match, each through any of its synonyms.
    Only [a-z0-9] words reach FTS5, so shopper text can never be read as query syntax."""
    groups = []
    for term in terms:
        product_type, _ = vocabulary.find_product(term)
        alternatives = [term] + (vocabulary.search_words(product_type) if product_type else [])
        quoted = []
        for alternative in alternatives:
            words = re.findall(r"[a-z0-9]+", alternative.lower())
            if words:
                quoted.append('"' + " ".join(words) + '"')
        if quoted:
            groups.append("(" + " OR ".join(dict.fromkeys(quoted)) + ")")
    return " AND ".join(groups)


def text_scores(
    session: Session, terms: Sequence[str], vocabulary: Vocabulary, use_fts: Optional[bool] = None
) -> Dict[str, float]:
    """{product id: relevance in (0, 1]} for products whose title/description match every term.
    FTS5 on SQLite; ILIKE matching elsewhere (or when `use_fts` is False)."""
    if not terms:
        return {}
    if use_fts is None:
        use_fts = session.get_bind().dialect.name == "sqlite"
    if use_fts:
        expression = _fts_expression(terms, vocabulary)
        if not expression:
            return {}
        rows = session.execute(
            text(
                "SELECT product_id, bm25(product_fts) AS rank FROM product_fts WHERE product_fts MATCH :q "
                "ORDER BY rank LIMIT 2000"
            ),
            {"q": expression},
        ).all()
        if not rows:
            return {}
        best = -min(rank for _, rank in rows) or 1.0
        return {pid: max(0.05, -rank / best) for pid, rank in rows}
    # Other databases: every term (through any synonym) must appear in the title or description.
    conditions = []
    for term in terms:
        product_type, _ = vocabulary.find_product(term)
        alternatives = [term] + (vocabulary.search_words(product_type) if product_type else [])
        conditions.append(
            or_(
                *[
                    or_(Product.title.ilike(f"%{alt}%"), Product.description.ilike(f"%{alt}%"))
                    for alt in alternatives
                ]
            )
        )
    ids = session.execute(select(Product.id).where(and_(*conditions)).limit(2000)).scalars().all()
    return {pid: 1.0 for pid in ids}


def category_prices(session: Session, query: SearchQuery) -> List[float]:
    stmt = select(Product.price)
    if query.product_type:
        stmt = stmt.where(Product.product_type == query.product_type)
    elif query.category:
        stmt = stmt.where(Product.category == query.category)
    return sorted(session.execute(stmt).scalars().all())


def _conditions(query: SearchQuery, price: PriceIntent) -> List[Any]:
    conditions: List[Any] = []
    if query.product_type:
        conditions.append(Product.product_type == query.product_type)
    if query.category:
        conditions.append(Product.category == query.category)
    if query.brand:
        conditions.append(func.lower(Product.brand) == query.brand.lower())
    if query.colour:
        conditions.append(Product.colour == query.colour)
    if query.material:
        conditions.append(Product.material.like(f"%{query.material}%"))
    if query.size:
        conditions.append(
            exists().where(
                and_(StockLevel.product_id == Product.id, func.upper(StockLevel.size) == query.size.upper())
            )
        )
    if price.min_price is not None:
        conditions.append(Product.price >= price.min_price)
    if price.max_price is not None:
        conditions.append(Product.price <= price.max_price)
    if query.gender_filters:
        conditions.append(Product.gender.in_([query.gender, "unisex"]))
    if query.age_filters:
        conditions.append(Product.age_group == query.age_group)
    return conditions


def size_in_stock(product: Product, size: Optional[str]) -> bool:
    if not size:
        return product.in_stock
    return any(row.size.upper() == size.upper() and row.quantity > 0 for row in product.stock)


def rank_score(product: Product, query: SearchQuery, relevance: float = 0.0) -> float:
    """Higher is better. Attributes below the filter threshold and gift intent act here as boosts."""
    score = 2.0 * relevance
    if (
        query.gender
        and not query.gender_filters
        and query.gender_confidence >= settings.ATTRIBUTE_BOOST_THRESHOLD
    ):
        weight = 0.5 + query.gender_confidence
        score += (
            weight
            if product.gender == query.gender
            else (weight / 2 if product.gender == "unisex" else -weight)
        )
    if (
        query.age_group
        and not query.age_filters
        and query.age_confidence >= settings.ATTRIBUTE_BOOST_THRESHOLD
    ):
        weight = 0.5 + query.age_confidence
        score += weight if product.age_group == query.age_group else -weight
    if query.gift:
        score += 1.2 if product.gift_suitable else 0.0
    score += 2.0 if size_in_stock(product, query.size) else -4.0
    score += 0.5 * (product.rating - 3.0)
    if query.price_relative in ("cheap", "cheaper", "moderate"):
        score -= 0.3 * math.log1p(product.price) / 5
    return score


def _run_once(
    session: Session, query: SearchQuery, vocabulary: Vocabulary, limit: int
) -> Tuple[List[Product], PriceIntent, bool]:
    price = query.price
    if price.relative in ("cheap", "moderate", "premium"):
        price = resolve_relative(price, category_prices(session, query))
    conditions = _conditions(query, price)
    relevance: Dict[str, float] = {}
    if query.terms:
        relevance = text_scores(session, query.terms, vocabulary)
        if not relevance:
            return [], price, False
        conditions.append(Product.id.in_(list(relevance)))
    # Broad queries (a gift idea within a budget) can match most of the catalog; rank only the best
    # candidates by a cheap SQL proxy of the ranking (gift-ready first for gifts, then rating).
    order = [Product.gift_suitable.desc()] if query.gift else []
    stmt = select(Product).where(*conditions).order_by(*order, Product.rating.desc(), Product.id)
    stmt = stmt.limit(MAX_CANDIDATES)
    products = session.execute(stmt).scalars().all()
    ranked = sorted(products, key=lambda p: (-rank_score(p, query, relevance.get(p.id, 0.0)), p.id))
    return ranked[:limit], price, True


def run_search(
    session: Session, query: SearchQuery, vocabulary: Vocabulary, limit: int = settings.KEEP_RANKED
) -> SearchResult:
    """Search; if nothing matches, drop one constraint at a time (least important first), then several,
    keeping only the drops that were needed, and report what was dropped. The product type itself is
    never dropped."""
    products, price, matched = _run_once(session, query, vocabulary, limit)
    if products:
        return SearchResult(products, query, [], price, matched)
    present = query.present_constraints()
    for constraint in present:
        products, price, relaxed_matched = _run_once(session, query.without(constraint), vocabulary, limit)
        if products:
            return SearchResult(products, query.without(constraint), [constraint], price, relaxed_matched)
    dropped: List[str] = []
    for constraint in present:
        dropped.append(constraint)
        if _run_once(session, _without_all(query, dropped), vocabulary, 1)[0]:
            break
    else:
        return SearchResult([], query, [], query.price, matched)
    for constraint in reversed(dropped[:-1]):  # put back every drop that was not needed
        trial = [c for c in dropped if c != constraint]
        if _run_once(session, _without_all(query, trial), vocabulary, 1)[0]:
            dropped = trial
    relaxed = _without_all(query, dropped)
    products, price, relaxed_matched = _run_once(session, relaxed, vocabulary, limit)
    return SearchResult(products, relaxed, [c for c in present if c in dropped], price, relaxed_matched)


def _without_all(query: SearchQuery, constraints: Sequence[str]) -> SearchQuery:
    for constraint in constraints:
        query = query.without(constraint)
    return query


def describe_dropped(constraint: str, query: SearchQuery) -> str:
    """The dropped constraint in the shopper's words ("the colour blue", "your budget of under $50")."""
    if constraint == "material":
        return f"the material ({query.material})"
    if constraint == "size":
        return f"size {query.size}"
    if constraint == "colour":
        return f"the colour {query.colour}"
    if constraint == "brand":
        return f"the brand {query.brand}"
    if constraint == "terms":
        return "“" + " ".join(query.terms) + "”"
    if constraint == "age_group":
        return f"the age group ({query.age_group})"
    if constraint == "gender":
        return {"female": "women's/girls' only", "male": "men's/boys' only"}.get(query.gender or "", "gender")
    if constraint == "price":
        described = query.price.describe()
        return f"your price ({described})" if described else "your price"
    return constraint


def describe_query(query: SearchQuery) -> str:
    """A short phrase for what was searched: "blue trainers under $50"."""
    what = query.product_words or query.product_type or query.category or " ".join(query.terms) or "products"
    parts = [p for p in (query.colour, query.material, query.brand) if p]
    phrase = " ".join(parts + [what])
    if query.size:
        phrase += f" in size {query.size}"
    if query.min_price is not None and query.max_price is not None:
        phrase += f" between {format_price(query.min_price)} and {format_price(query.max_price)}"
    elif query.max_price is not None:
        phrase += f" under {format_price(query.max_price)}"
    elif query.min_price is not None:
        phrase += f" over {format_price(query.min_price)}"
    return phrase


def distinct_catalog_values(session: Session) -> Dict[str, List[Any]]:
    """The catalog's own types, colours, materials and brands (the vocabulary is built from them)."""
    return {
        "types": [
            tuple(row)
            for row in session.execute(select(Product.product_type, Product.category).distinct()).all()
        ],
        "colours": list(session.execute(select(Product.colour).distinct()).scalars()),
        "materials": list(session.execute(select(Product.material).distinct()).scalars()),
        "brands": list(session.execute(select(Product.brand).distinct()).scalars()),
    }


__all__ = [
    "QueryNotes",
    "SearchQuery",
    "SearchResult",
    "ShopperRequest",
    "build_query",
    "describe_dropped",
    "describe_query",
    "distinct_catalog_values",
    "needs_clarification",
    "rank_score",
    "read_attributes",
    "run_search",
    "size_in_stock",
    "text_scores",
]
