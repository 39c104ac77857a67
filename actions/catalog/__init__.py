"""The product catalog: tables, database access, the demo catalog and the importer."""

from actions.catalog.db import catalog_url, ensure_catalog, get_engine, products_by_id, session_for
from actions.catalog.models import ONE_SIZE, Product, StockLevel

__all__ = [
    "ONE_SIZE",
    "Product",
    "StockLevel",
    "catalog_url",
    "ensure_catalog",
    "get_engine",
    "products_by_id",
    "session_for",
]
