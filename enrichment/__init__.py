"""Catalog enrichment: a raw product feed (id, title, price, ...) typed and tagged by the NLU model."""
