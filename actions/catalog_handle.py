"""The action server's handle on the catalog: one engine, one vocabulary and one table of each category's
key attributes per process, opened (and the demo catalog built) on first use."""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Dict, List, Optional

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from actions.catalog.db import ensure_catalog, session_for
from actions.catalog.models import ONE_SIZE, Product, StockLevel
from actions.key_attributes import KeyAttributes, ProductFacts, learn_key_attributes
from actions.retrieval import distinct_catalog_values
from actions.vocabulary import Vocabulary, build_vocabulary, load_synonyms


@dataclass(frozen=True)
class Catalog:
    engine: Engine
    vocabulary: Vocabulary
    key_attributes: KeyAttributes


def catalog_facts(session: Session) -> List[ProductFacts]:
    """Every product's attributes and sizes, read as plain rows (two queries, no Product objects)."""
    sizes: Dict[str, List[str]] = defaultdict(list)
    for product_id, size in session.execute(
        select(StockLevel.product_id, StockLevel.size).order_by(StockLevel.product_id, StockLevel.position)
    ):
        if size != ONE_SIZE:
            sizes[product_id].append(size)
    names = ("category", "product_type", "gender", "age_group", "colour", "material", "brand", "price",
             "rating", "gift_suitable")
    columns = [getattr(Product, name) for name in names]
    rows = session.execute(select(Product.id, *columns).order_by(Product.id))
    return [
        ProductFacts(**dict(zip(names, row[1:], strict=True)), real_sizes=sizes.get(row[0], []))
        for row in rows
    ]


_lock = threading.Lock()
_opened: Optional[Catalog] = None


def catalog() -> Catalog:
    """The opened catalog; the first call opens it (and builds the demo catalog if there is none)."""
    global _opened
    with _lock:
        if _opened is None:
            engine = ensure_catalog()
            with session_for(engine) as session:
                values = distinct_catalog_values(session)
                key_attributes = learn_key_attributes(catalog_facts(session))
            vocabulary = build_vocabulary(
                load_synonyms(), values["types"], values["colours"], values["materials"], values["brands"]
            )
            _opened = Catalog(engine, vocabulary, key_attributes)
        return _opened


def reset_catalog_cache() -> None:
    """Forget the opened catalog (tests point SHOPCUE_CATALOG_DB at a new file)."""
    global _opened
    with _lock:
        _opened = None
