"""The words enrichment maps the model's spans through: the shopper vocabulary built from synonyms.yml and
the catalog's own values (as the action server builds it, actions/catalog_handle.py), and each product
type's category."""

from __future__ import annotations

from typing import Dict, List, Tuple

from sqlalchemy.engine import Engine

from actions.catalog.db import create_schema, session_for
from actions.vocabulary import Vocabulary, build_vocabulary, load_synonyms
from enrichment.reading import type_category_map


def demo_type_pairs() -> List[Tuple[str, str]]:
    """(product type, category) of every kind in the demo catalog's data file."""
    from actions.catalog.demo import FAMILIES

    return [(kind.product_type, family.category) for family in FAMILIES for kind in family.kinds]


def catalog_vocabulary(engine: Engine) -> Tuple[Vocabulary, Dict[str, str]]:
    """The vocabulary and type -> category map for a catalog. A catalog with no products yet gets the demo
    catalog's types and categories, so a shop starting fresh still has the type -> category map."""
    from actions.retrieval import distinct_catalog_values

    create_schema(engine)
    with session_for(engine) as session:
        values = distinct_catalog_values(session)
    types = [tuple(pair) for pair in values["types"] if pair[0] and pair[1]]
    if not types:
        types = demo_type_pairs()
    vocabulary = build_vocabulary(
        load_synonyms(), types, values["colours"], values["materials"], values["brands"]
    )
    return vocabulary, type_category_map(types)
