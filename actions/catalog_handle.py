"""The action server's handle on the catalog: one engine and one vocabulary per process, opened (and
the demo catalog built) on first use."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Optional

from sqlalchemy.engine import Engine

from actions.catalog.db import ensure_catalog, session_for
from actions.retrieval import distinct_catalog_values
from actions.vocabulary import Vocabulary, build_vocabulary, load_synonyms


@dataclass(frozen=True)
class Catalog:
    engine: Engine
    vocabulary: Vocabulary


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
            vocabulary = build_vocabulary(
                load_synonyms(), values["types"], values["colours"], values["materials"], values["brands"]
            )
            _opened = Catalog(engine, vocabulary)
        return _opened


def reset_catalog_cache() -> None:
    """Forget the opened catalog (tests point SHOPCUE_CATALOG_DB at a new file)."""
    global _opened
    with _lock:
        _opened = None
