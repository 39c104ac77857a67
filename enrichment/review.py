"""The product review queue and its actions, over the CATALOG database: what to look at next, and
accept / correct / skip / undo / bulk accept.

The console's product mode imports only this module for reviewing products; the reviewed values are
what enrichment/training_examples.py turns into NLU data. Every function takes the catalog's `Engine`
(`actions.catalog.db.get_engine(catalog_url())`) and runs in one transaction of its own.

Doubt. A product's confidence is `enrichment.doubt.product_confidence` of its facts (the one
definition); the queue shows the least confident first, products with nothing to doubt (every fact given
and agreed, or reviewed) after all the others, then by id.

Product state (computed, never stored): `reviewed` when none of its facts is `auto` any more; `skipped`
when it still has unreviewed facts and the latest action on it (not undone) was a skip; otherwise
`unreviewed`. A product without facts is not in the queue (enrichment never touched it).

Audit. Each action is one row of `product_review_events` (a table of this module, in the catalog
database, so an action and its record commit together): who, what, when, and a snapshot of every
touched product before and after (its enriched Product columns and its fact rows). `learning_review_events`
does not fit: it lives in the learning database and points at messages. Undo restores a user's latest
action not yet undone from its `before` snapshots, exactly, but only for products still as that action
left them (another reviewer's later change stands), and marks it undone; undo again goes one further back.

Search reads the Product columns and, on SQLite, the FTS5 table `product_fts`: a correction (and an undo)
writes both in the same transaction, so the bot's next search sees the fix.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from actions.catalog.db import create_schema, rebuild_fts, session_for
from actions.catalog.models import (
    AGE_GROUPS,
    ENRICHED_ATTRIBUTES,
    GENDERS,
    REVIEW_ACCEPTED,
    REVIEW_AUTO,
    REVIEW_CORRECTED,
    SOURCE_INFERRED,
    SOURCE_REVIEWED,
    AttributeFact,
    Product,
)
from actions.vocabulary import load_synonyms
from enrichment.doubt import needs_review, product_confidence, review_threshold

# Queue filter states. ALL shows every product with facts.
UNREVIEWED, REVIEWED, SKIPPED, ALL = "unreviewed", "reviewed", "skipped", "all"
STATES = (UNREVIEWED, REVIEWED, SKIPPED, ALL)

# product_review_events.action values.
ACCEPT, CORRECT, SKIP, UNDO, BULK_ACCEPT = "accept", "correct", "skip", "undo", "bulk_accept"

CATEGORY = "category"
PRODUCT_TYPE = "product_type"
GIFT_SUITABLE = "gift_suitable"
BOOLEAN_VALUES = ("true", "false")

_metadata = MetaData()

product_review_events = Table(
    "product_review_events",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("product_id", String(16), nullable=True, index=True),  # None for a bulk accept
    Column("username", String(80), nullable=False, index=True),
    Column("action", String(16), nullable=False),
    Column("attribute", String(20), nullable=True),  # the corrected attribute
    Column("before", JSON, nullable=False),  # {"products": [snapshot, ...]}
    Column("after", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("undone_at", DateTime(timezone=True), nullable=True),
)


class ReviewError(ValueError):
    """A request the console must refuse (unknown product, value outside the vocabulary); says why."""


@dataclass
class ProductFilter:
    """What the reviewer narrowed the queue to; None (or False) means no restriction.

    `attribute`: products with a fact on it that is inferred, reviewed or contradicted (something the
    model said about that attribute). `min_confidence`/`max_confidence` bound the product's confidence
    (products with nothing to doubt are outside any range). `below_threshold`:
    `enrichment.doubt.needs_review`.
    """

    category: Optional[str] = None
    product_type: Optional[str] = None
    attribute: Optional[str] = None
    state: str = UNREVIEWED
    min_confidence: Optional[float] = None
    max_confidence: Optional[float] = None
    contradictions: bool = False
    below_threshold: bool = False


@dataclass
class FactView:
    attribute: str
    value: str
    source: str
    confidence: Optional[float]
    inferred_value: Optional[str]
    inferred_confidence: Optional[float]
    review_state: str
    contradicted: bool
    reviewed_by: Optional[str]
    reviewed_at: Optional[str]


@dataclass
class ProductItem:
    """One queue row: the product as a reviewer sees it, each enriched attribute with its fact."""

    id: str
    title: str
    brand: str
    price: float
    category: str
    product_type: str
    confidence: Optional[float]
    state: str
    contradicted: bool
    values: Dict[str, str]  # the value in use of every enriched attribute (the Product column)
    facts: List[FactView] = field(default_factory=list)

    def to_json(self) -> Dict[str, Any]:
        return {
            "id": self.id, "title": self.title, "brand": self.brand, "price": self.price,
            "category": self.category, "product_type": self.product_type, "confidence": self.confidence,
            "state": self.state, "contradicted": self.contradicted, "values": dict(self.values),
            "facts": [vars(f) for f in self.facts],
        }


@dataclass
class ProductPage:
    items: List[ProductItem]
    total: int  # how many products the filters show, over all pages
    threshold: float


@dataclass(frozen=True)
class Vocabularies:
    """The values a correction may set, per attribute (category follows the product type)."""

    types: Dict[str, str]  # product type -> its category
    colours: Tuple[str, ...]
    materials: Tuple[str, ...]

    def allowed(self, attribute: str) -> Tuple[str, ...]:
        if attribute == PRODUCT_TYPE:
            return tuple(sorted(self.types))
        if attribute == "gender":
            return tuple(GENDERS)
        if attribute == "age_group":
            return tuple(AGE_GROUPS)
        if attribute == "colour":
            return self.colours
        if attribute == "material":
            return self.materials
        if attribute == GIFT_SUITABLE:
            return BOOLEAN_VALUES
        return ()

    def to_json(self) -> Dict[str, Any]:
        return {
            "attributes": list(ENRICHED_ATTRIBUTES),
            "values": {name: list(self.allowed(name)) for name in ENRICHED_ATTRIBUTES if name != CATEGORY},
            "type_categories": dict(sorted(self.types.items())),
        }


# --------------------------------------------------------------------------------------------- setup

_ready: weakref.WeakSet[Engine] = weakref.WeakSet()


def _prepare(engine: Engine) -> None:
    """The catalog's tables and this module's audit table, created once per engine."""
    if engine in _ready:
        return
    create_schema(engine)
    _metadata.create_all(engine)
    _ready.add(engine)


def vocabularies(engine: Engine) -> Vocabularies:
    """The catalog's own product types (with their category), colours and materials, plus the synonyms
    file's canonical colours and materials ("" is allowed: a product without colour or material)."""
    _prepare(engine)
    synonyms = load_synonyms()
    with session_for(engine) as session:
        types = {
            str(kind): str(category)
            for kind, category in session.execute(
                select(Product.product_type, Product.category).distinct().order_by(Product.product_type)
            ).all()
        }
        colours = set(session.execute(select(Product.colour).distinct()).scalars())
        materials = set(session.execute(select(Product.material).distinct()).scalars())
    colours |= set(map(str, synonyms.get("colours") or {}))
    materials |= set(map(str, synonyms.get("materials") or {}))
    return Vocabularies(types, tuple(sorted(colours | {""})), tuple(sorted(materials | {""})))


def validate_value(vocab: Vocabularies, attribute: str, value: Any) -> str:
    """A correction's value in stored form ("true"/"false" for gift), or ReviewError naming the problem."""
    if attribute == CATEGORY:
        raise ReviewError("category follows the product type: correct product_type instead")
    if attribute not in ENRICHED_ATTRIBUTES:
        raise ReviewError(f"unknown attribute {attribute!r} (known: {', '.join(ENRICHED_ATTRIBUTES)})")
    if isinstance(value, bool):
        value = "true" if value else "false"
    if not isinstance(value, str):
        raise ReviewError(f"the value of {attribute} must be a string")
    value = value.strip() if attribute in (PRODUCT_TYPE, "colour", "material") else value.strip().lower()
    allowed = vocab.allowed(attribute)
    if value not in allowed:
        shown = ", ".join(repr(v) for v in allowed[:30]) + (" ..." if len(allowed) > 30 else "")
        raise ReviewError(f"unknown value {value!r} for {attribute} (allowed: {shown})")
    return value


# ---------------------------------------------------------------------------------------- pure parts


def product_state(facts: Sequence[Any], skipped: bool) -> str:
    """reviewed (no fact left auto), skipped (unreviewed facts, and skipped last), or unreviewed."""
    if not any(f.review_state == REVIEW_AUTO for f in facts):
        return REVIEWED
    return SKIPPED if skipped else UNREVIEWED


def contradicted(facts: Iterable[Any]) -> bool:
    return any(f.contradicted for f in facts)


def matches(product: Product, facts: Sequence[AttributeFact], state: str, filters: ProductFilter,
            threshold: float) -> bool:
    """Whether a product (with its facts and computed state) passes the filters."""
    if filters.state != ALL and state != filters.state:
        return False
    if filters.category and product.category != filters.category:
        return False
    if filters.product_type and product.product_type != filters.product_type:
        return False
    if filters.attribute and not any(
        f.attribute == filters.attribute and (f.source != "given" or f.contradicted) for f in facts
    ):
        return False
    if filters.contradictions and not contradicted(facts):
        return False
    if filters.below_threshold and not needs_review(facts, threshold):
        return False
    if filters.min_confidence is not None or filters.max_confidence is not None:
        score = product_confidence(facts)
        if score is None:
            return False
        if filters.min_confidence is not None and score < filters.min_confidence:
            return False
        if filters.max_confidence is not None and score > filters.max_confidence:
            return False
    return True


def queue_order(confidence: Optional[float], product_id: str) -> Tuple[int, float, str]:
    """Least confident first; nothing to doubt last; then by id (deterministic)."""
    return (1, 0.0, product_id) if confidence is None else (0, confidence, product_id)


def column_value(product: Product, attribute: str) -> str:
    """A Product column in the facts' stored form ("true"/"false" for gift_suitable)."""
    value = getattr(product, attribute)
    if attribute == GIFT_SUITABLE:
        return "true" if value else "false"
    return "" if value is None else str(value)


def _set_column(product: Product, attribute: str, value: str) -> None:
    setattr(product, attribute, value == "true" if attribute == GIFT_SUITABLE else value)


# --------------------------------------------------------------------------------------------- queue


def queue(engine: Engine, filters: Optional[ProductFilter] = None, limit: int = 50,
          offset: int = 0) -> ProductPage:
    """One page of the product queue (see the module docstring for the order)."""
    filters = filters or ProductFilter()
    if filters.state not in STATES:
        raise ReviewError(f"unknown state filter {filters.state!r} (known: {', '.join(STATES)})")
    if filters.attribute and filters.attribute not in ENRICHED_ATTRIBUTES:
        raise ReviewError(f"unknown attribute {filters.attribute!r}")
    limit, offset = max(0, int(limit)), max(0, int(offset))
    threshold = review_threshold()
    _prepare(engine)
    with session_for(engine) as session:
        rows = _filtered(session, filters, threshold)
        page = rows[offset : offset + limit]
        items = [_item(product, facts, state) for product, facts, state in page]
    return ProductPage(items=items, total=len(rows), threshold=threshold)


def _filtered(session: Session, filters: ProductFilter, threshold: float
              ) -> List[Tuple[Product, List[AttributeFact], str]]:
    """(product, facts, state) of every product the filters show, in queue order."""
    stmt = select(Product).where(Product.id.in_(select(AttributeFact.product_id).distinct()))
    if filters.category:
        stmt = stmt.where(Product.category == filters.category)
    if filters.product_type:
        stmt = stmt.where(Product.product_type == filters.product_type)
    products = {p.id: p for p in session.execute(stmt).scalars()}
    facts = facts_by_product(session, list(products))
    skipped = _skipped(session)
    rows = []
    for pid, product in products.items():
        own = facts.get(pid, [])
        state = product_state(own, pid in skipped)
        if matches(product, own, state, filters, threshold):
            rows.append((product, own, state))
    rows.sort(key=lambda row: queue_order(product_confidence(row[1]), row[0].id))
    return rows


def facts_by_product(session: Session, ids: Sequence[str]) -> Dict[str, List[AttributeFact]]:
    out: Dict[str, List[AttributeFact]] = {}
    if not ids:
        return out
    order = {name: i for i, name in enumerate(ENRICHED_ATTRIBUTES)}
    for chunk_start in range(0, len(ids), 500):
        chunk = list(ids[chunk_start : chunk_start + 500])
        stmt = select(AttributeFact).where(AttributeFact.product_id.in_(chunk))
        for fact in session.execute(stmt).scalars():
            out.setdefault(fact.product_id, []).append(fact)
    for own in out.values():
        own.sort(key=lambda f: order.get(f.attribute, len(order)))
    return out


def _skipped(session: Session) -> Set[str]:
    """Products whose latest action not undone is a skip."""
    e = product_review_events.c
    latest: Dict[str, str] = {}
    rows = session.execute(
        select(e.product_id, e.action)
        .where(e.undone_at.is_(None), e.action.in_([ACCEPT, CORRECT, SKIP]), e.product_id.is_not(None))
        .order_by(e.id.asc())
    )
    for product_id, action in rows:
        latest[product_id] = action
    return {pid for pid, action in latest.items() if action == SKIP}


def _item(product: Product, facts: Sequence[AttributeFact], state: str) -> ProductItem:
    return ProductItem(
        id=product.id,
        title=product.title,
        brand=product.brand,
        price=float(product.price),
        category=product.category,
        product_type=product.product_type,
        confidence=product_confidence(facts),
        state=state,
        contradicted=contradicted(facts),
        values={name: column_value(product, name) for name in ENRICHED_ATTRIBUTES},
        facts=[
            FactView(
                attribute=f.attribute, value=f.value, source=f.source, confidence=f.confidence,
                inferred_value=f.inferred_value, inferred_confidence=f.inferred_confidence,
                review_state=f.review_state, contradicted=f.contradicted, reviewed_by=f.reviewed_by,
                reviewed_at=_iso(f.reviewed_at),
            )
            for f in facts
        ],
    )


def product_item(engine: Engine, product_id: str) -> ProductItem:
    """One product as the queue shows it, whatever the filters."""
    _prepare(engine)
    with session_for(engine) as session:
        product = _product(session, product_id)
        facts = facts_by_product(session, [product_id]).get(product_id, [])
        return _item(product, facts, product_state(facts, product_id in _skipped(session)))


# ------------------------------------------------------------------------------------------- actions


def accept(engine: Engine, product_id: str, username: str) -> int:
    """Every unreviewed fact of the product is right as it is (state accepted); how many facts."""
    _prepare(engine)
    with session_for(engine) as session, session.begin():
        product = _product(session, product_id)
        before = _snapshot(session, product)
        count = _accept_facts(session, product_id, username, _now())
        if count:
            _event(session, product_id, username, ACCEPT, None, [before], [_snapshot(session, product)])
    return count


def correct(engine: Engine, product_id: str, attribute: str, value: Any, username: str) -> str:
    """A reviewer's value for one attribute (validated against the catalog's vocabulary): the fact
    becomes source reviewed, state corrected; the Product column (and the category with the type) and
    the FTS row change in the same transaction. Returns the stored value."""
    _prepare(engine)
    vocab = vocabularies(engine)
    checked = validate_value(vocab, attribute, value)
    with session_for(engine) as session, session.begin():
        product = _product(session, product_id)
        before = _snapshot(session, product)
        now = _now()
        changes = {attribute: checked}
        if attribute == PRODUCT_TYPE:
            changes[CATEGORY] = vocab.types[checked]
        for name, new in changes.items():
            _correct_fact(session, product, name, new, username, now)
        session.flush()
        rebuild_fts(session, product_id)
        _event(session, product_id, username, CORRECT, attribute, [before], [_snapshot(session, product)])
    return checked


def skip(engine: Engine, product_id: str, username: str) -> None:
    """The reviewer passed the product over: it leaves the unreviewed queue until undone; facts unchanged."""
    _prepare(engine)
    with session_for(engine) as session, session.begin():
        product = _product(session, product_id)
        snapshot = _snapshot(session, product)
        _event(session, product_id, username, SKIP, None, [snapshot], [snapshot])


def bulk_accept(engine: Engine, filters: Optional[ProductFilter], username: str,
                expected: Optional[int] = None) -> int:
    """Accept every unreviewed (or skipped) product the filters show, on all pages; how many products.

    `expected`: the count the reviewer confirmed; when the filters now show another number (someone
    else reviewed meanwhile) nothing is accepted and ReviewError says so. One event covers the batch,
    so one undo reverts it.
    """
    filters = filters or ProductFilter()
    if filters.state == REVIEWED:
        return 0
    _prepare(engine)
    threshold = review_threshold()
    with session_for(engine) as session, session.begin():
        rows = [row for row in _filtered(session, filters, threshold) if row[2] != REVIEWED]
        if expected is not None and expected != len(rows):
            raise ReviewError(
                f"the filter now shows {len(rows)} product(s) to accept, not {expected}: "
                "reload and confirm again"
            )
        now = _now()
        before, after = [], []
        for product, _facts, _state in rows:
            before.append(_snapshot(session, product))
            _accept_facts(session, product.id, username, now)
            after.append(_snapshot(session, product))
        if rows:
            _event(session, None, username, BULK_ACCEPT, None, before, after)
    return len(rows)


def undo(engine: Engine, username: str) -> Optional[str]:
    """Revert this user's latest action not yet undone; the product it touched (the first, for a bulk
    accept), or None when there is nothing to undo. Products changed since by someone else stay."""
    _prepare(engine)
    e = product_review_events.c
    with session_for(engine) as session, session.begin():
        target = session.execute(
            select(product_review_events)
            .where(e.username == username, e.undone_at.is_(None), e.action != UNDO)
            .order_by(e.id.desc())
            .limit(1)
        ).first()
        if target is None:
            return None
        restored = []
        after_by_id = {snap["product_id"]: snap for snap in target.after.get("products", [])}
        for old in target.before.get("products", []):
            product = session.get(Product, old["product_id"])
            if product is None or _snapshot(session, product) != after_by_id.get(old["product_id"]):
                continue
            _restore(session, product, old)
            restored.append(old["product_id"])
        now = _now()
        session.execute(update(product_review_events).where(e.id == target.id).values(undone_at=now))
        session.execute(
            insert(product_review_events).values(
                product_id=target.product_id, username=username, action=UNDO, attribute=None,
                before={"undoes": target.id}, after={"undoes": target.id, "restored": restored},
                created_at=now,
            )
        )
        first = target.before.get("products", [])
        return target.product_id or (first[0]["product_id"] if first else None)


def history(engine: Engine, product_id: Optional[str] = None, limit: int = 50) -> List[Dict[str, Any]]:
    """The audit: latest events first (who, what, when, which attribute, undone or not)."""
    _prepare(engine)
    e = product_review_events.c
    stmt = select(e.id, e.product_id, e.username, e.action, e.attribute, e.created_at, e.undone_at)
    if product_id:
        stmt = stmt.where(e.product_id == product_id)
    with engine.connect() as conn:
        rows = conn.execute(stmt.order_by(e.id.desc()).limit(limit)).all()
    return [
        {**row._mapping, "created_at": _iso(row.created_at), "undone_at": _iso(row.undone_at)}
        for row in rows
    ]


# ------------------------------------------------------------------------------------------- helpers


def _product(session: Session, product_id: str) -> Product:
    product = session.get(Product, product_id)
    if product is None:
        raise ReviewError(f"no product {product_id!r}")
    return product


def _accept_facts(session: Session, product_id: str, username: str, now: datetime) -> int:
    facts = session.execute(
        select(AttributeFact).where(
            AttributeFact.product_id == product_id, AttributeFact.review_state == REVIEW_AUTO
        )
    ).scalars().all()
    for fact in facts:
        fact.review_state = REVIEW_ACCEPTED
        fact.reviewed_by = username
        fact.reviewed_at = now
    session.flush()
    return len(facts)


def _correct_fact(session: Session, product: Product, attribute: str, value: str, username: str,
                  now: datetime) -> None:
    fact = session.get(AttributeFact, (product.id, attribute))
    if fact is None:
        fact = AttributeFact(product_id=product.id, attribute=attribute)
        session.add(fact)
    elif fact.source == SOURCE_INFERRED and fact.inferred_value is None:
        # keep what the model read beside the reviewer's value, as for a given one
        fact.inferred_value, fact.inferred_confidence = fact.value, fact.confidence
    fact.value = value
    fact.source = SOURCE_REVIEWED
    fact.review_state = REVIEW_CORRECTED
    fact.reviewed_by = username
    fact.reviewed_at = now
    _set_column(product, attribute, value)


_FACT_FIELDS = ("value", "source", "confidence", "inferred_value", "inferred_confidence", "review_state",
                "reviewed_by", "reviewed_at")


def _snapshot(session: Session, product: Product) -> Dict[str, Any]:
    """A product's enriched columns and fact rows as JSON (what undo restores and compares)."""
    session.flush()
    facts = facts_by_product(session, [product.id]).get(product.id, [])
    return {
        "product_id": product.id,
        "columns": {name: column_value(product, name) for name in ENRICHED_ATTRIBUTES},
        "facts": {
            f.attribute: {
                name: (_iso(getattr(f, name)) if name == "reviewed_at" else getattr(f, name))
                for name in _FACT_FIELDS
            }
            for f in facts
        },
    }


def _restore(session: Session, product: Product, snapshot: Mapping[str, Any]) -> None:
    for name, value in snapshot["columns"].items():
        _set_column(product, name, value)
    wanted = snapshot["facts"]
    for fact in facts_by_product(session, [product.id]).get(product.id, []):
        if fact.attribute not in wanted:
            session.delete(fact)
    for attribute, values in wanted.items():
        fact = session.get(AttributeFact, (product.id, attribute))
        if fact is None:
            fact = AttributeFact(product_id=product.id, attribute=attribute)
            session.add(fact)
        for name, value in values.items():
            setattr(fact, name, _parse_time(value) if name == "reviewed_at" else value)
    session.flush()
    rebuild_fts(session, product.id)


def _event(session: Session, product_id: Optional[str], username: str, action: str,
           attribute: Optional[str], before: List[Dict[str, Any]], after: List[Dict[str, Any]]) -> None:
    session.execute(
        insert(product_review_events).values(
            product_id=product_id, username=username, action=action, attribute=attribute,
            before={"products": before}, after={"products": after}, created_at=_now(),
        )
    )


def _now() -> datetime:
    """Naive UTC, as the catalog's DateTime columns store it."""
    return datetime.now(UTC).replace(tzinfo=None)


def _iso(moment: Optional[datetime]) -> Optional[str]:
    if moment is None:
        return None
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)).isoformat()


def _parse_time(value: Optional[str]) -> Optional[datetime]:
    return datetime.fromisoformat(value).astimezone(UTC).replace(tzinfo=None) if value else None
