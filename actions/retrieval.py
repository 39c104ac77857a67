"""Running a `SearchQuery` against the catalog: hard filters in SQL, free text through the full-text
index, gender/age as filters when the NLU is confident and as ranking boosts when not, gift-suitable
items first for gifts, and step-by-step relaxation that records which constraint it dropped. Also
finds the products a message names by title ("the Northwind slim fit tee")."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from sqlalchemy import and_, exists, func, not_, or_, select, text
from sqlalchemy.orm import Session

from actions import settings
from actions.catalog.models import Product, StockLevel
from actions.prices import PriceIntent, resolve_relative
from actions.query import SearchQuery
from actions.request import STOP_WORDS, ShopperRequest
from actions.vocabulary import Vocabulary, normalise

MAX_CANDIDATES = 600
# Title words that say who a product is for or are filler, not which product it is.
# fmt: off
AUDIENCE_TITLE_WORDS = frozenset([
    "men's", "mens", "women's", "womens", "girls'", "girls", "boys'", "boys", "kids'", "kids", "teen",
    "baby", "unisex", "adults'", "adult", "toddler's", "toddler",
])
# fmt: on
MAX_NAMED = 8


@dataclass
class SearchResult:
    products: List[Product]
    query: SearchQuery  # as run, after relaxation
    dropped: List[str] = field(default_factory=list)
    price: PriceIntent = field(default_factory=PriceIntent)  # the bounds actually applied
    text_matched: bool = True  # False when the free-text words matched nothing at all


def _alternatives(term: str, vocabulary: Vocabulary) -> List[str]:
    product_type, _ = vocabulary.find_product(term)
    return [term] + (vocabulary.search_words(product_type) if product_type else [])


def _fts_expression(terms: Sequence[str], vocabulary: Vocabulary) -> str:
    """An FTS5 MATCH expression: every term must match, each through any of its synonyms.
    Only [a-z0-9] words reach FTS5, so shopper text can never be read as query syntax."""
    groups = []
    for term in terms:
        quoted = []
        for alternative in _alternatives(term, vocabulary):
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
    conditions = [
        or_(*[or_(Product.title.ilike(f"%{a}%"), Product.description.ilike(f"%{a}%")) for a in alts])
        for alts in (_alternatives(term, vocabulary) for term in terms)
    ]
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
    if query.exclude_colours:
        conditions.append(Product.colour.notin_(list(query.exclude_colours)))
    for material in query.exclude_materials:
        conditions.append(not_(Product.material.like(f"%{material}%")))
    if query.exclude_brands:
        conditions.append(func.lower(Product.brand).notin_([b.lower() for b in query.exclude_brands]))
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


def rank_score(product: Product, query: SearchQuery, relevance: float = 0.0) -> float:
    """Higher is better. Attributes below the filter threshold and gift intent act here as boosts."""
    score = 2.0 * relevance
    if (
        query.gender
        and not query.gender_filters
        and query.gender_confidence >= settings.ATTRIBUTE_BOOST_THRESHOLD
    ):
        weight = 0.5 + query.gender_confidence
        if product.gender == query.gender:
            score += weight
        else:
            score += weight / 2 if product.gender == "unisex" else -weight
    if (
        query.age_group
        and not query.age_filters
        and query.age_confidence >= settings.ATTRIBUTE_BOOST_THRESHOLD
    ):
        weight = 0.5 + query.age_confidence
        score += weight if product.age_group == query.age_group else -weight
    if query.gift:
        score += 1.2 if product.gift_suitable else 0.0
    score += 2.0 if product.available(query.size) else -4.0
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
    products = session.execute(stmt.limit(MAX_CANDIDATES)).scalars().all()
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
        if _run_once(session, query.without_all(dropped), vocabulary, 1)[0]:
            break
    else:
        return SearchResult([], query, [], query.price, matched)
    for constraint in reversed(dropped[:-1]):  # put back every drop that was not needed
        trial = [c for c in dropped if c != constraint]
        if _run_once(session, query.without_all(trial), vocabulary, 1)[0]:
            dropped = trial
    relaxed = query.without_all(dropped)
    products, price, relaxed_matched = _run_once(session, relaxed, vocabulary, limit)
    return SearchResult(products, relaxed, [c for c in present if c in dropped], price, relaxed_matched)


def named_products(session: Session, request: ShopperRequest) -> List[Product]:
    """The catalog products a message names by title: its brand and type, and every word of the title
    that says which product it is ("the Northwind slim fit tee" -> Northwind's Slim Fit T-Shirts, in
    each colour and audience). Empty when the message names no brand and type, or no title words."""
    if not request.brand or not (request.product_type or request.category):
        return []
    stmt = select(Product).where(func.lower(Product.brand) == request.brand.lower())
    if request.product_type:
        stmt = stmt.where(Product.product_type == request.product_type)
    else:
        stmt = stmt.where(Product.category == request.category)
    said = set(normalise(request.text).split())
    ignored = set(normalise(request.brand).split()) | AUDIENCE_TITLE_WORDS | STOP_WORDS
    named = []
    for product in session.execute(stmt.limit(MAX_CANDIDATES)).scalars():
        head = product.title.split(" - ")[0]  # "... T-Shirt - Navy": the colour suffix is a variant
        words = [w for w in normalise(head).split() if w not in ignored]
        naming = [w for w in words if not _names_type(w, product)]
        if naming and all(w in said for w in naming):
            named.append(product)
    if request.colour:
        named = [p for p in named if p.colour == request.colour] or named
    return named[:MAX_NAMED]


def _names_type(word: str, product: Product) -> bool:
    """Whether a title word is (part of) the product's type: "t-shirt", "trainers"."""
    kind = normalise(product.product_type)
    return word in kind.split() or word.rstrip("s") in kind or word == kind.replace(" ", "")


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
