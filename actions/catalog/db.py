"""Where the catalog lives and how to open it.

SQLite by default (a file built from the demo catalog on first use), or any SQLAlchemy URL in
`DATABASE_URL` (e.g. PostgreSQL). Full-text search uses an FTS5 table on SQLite and plain ILIKE
matching elsewhere, so the same search code runs on both.

The action server bounds each catalog statement (`limit_statements`, SHOPCUE_CATALOG_TIMEOUT_S, default
5 s): a slow query is aborted and answered with an apology well within Rasa's wait for the action and
its 60 s conversation lock. Imports and the console are not bounded (a big import's index rebuild may
rightly take longer).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from sqlalchemy import create_engine, event, inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from actions.catalog.models import AttributeFact, Base, Product, StockLevel

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DB_PATH = REPO_ROOT / "var" / "shopcue_catalog.db"

logger = logging.getLogger(__name__)

_engines: Dict[str, Engine] = {}
_lock = threading.Lock()

TIMEOUT_ENV = "SHOPCUE_CATALOG_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 5.0
# SQLite asks the progress handler every this many virtual-machine steps (a few microseconds' work).
_PROGRESS_STEPS = 1000
_DEADLINE = "shopcue_deadline"  # a connection's [monotonic deadline of its running statement]
_QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement cancelled by statement_timeout
# engine -> its statement limit in seconds; the listeners read it, so a new limit applies at once
_limits: weakref.WeakKeyDictionary[Engine, float] = weakref.WeakKeyDictionary()


def catalog_url() -> str:
    """`DATABASE_URL` wins; else `SHOPCUE_CATALOG_DB` (a file path); else the default SQLite file."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    path = os.environ.get("SHOPCUE_CATALOG_DB") or str(DEFAULT_DB_PATH)
    return f"sqlite:///{path}"


def sqlite_path(url: str) -> Optional[Path]:
    """The file behind a SQLite URL, None for other databases or in-memory SQLite."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url in (prefix, "sqlite:///:memory:"):
        return None
    return Path(url[len(prefix) :])


def get_engine(url: Optional[str] = None) -> Engine:
    """One engine per URL for the life of the process (the action server opens it once)."""
    url = url or catalog_url()
    with _lock:
        if url not in _engines:
            path = sqlite_path(url)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            kwargs = {"future": True}
            if url.startswith("sqlite"):
                kwargs["connect_args"] = {"check_same_thread": False}
            engine = create_engine(url, **kwargs)
            if url.startswith("sqlite"):
                event.listen(engine, "connect", _sqlite_pragmas)
            _engines[url] = engine
        return _engines[url]


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def statement_timeout_s(environ: Optional[Mapping[str, str]] = None) -> float:
    """SHOPCUE_CATALOG_TIMEOUT_S in seconds (0 turns the limit off); unreadable values are logged and
    the default applies, so a typo never stops the shop answering."""
    raw = (environ if environ is not None else os.environ).get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        logger.warning("catalog.bad_timeout %s=%r default=%s", TIMEOUT_ENV, raw, DEFAULT_TIMEOUT_S)
        return DEFAULT_TIMEOUT_S
    return value


def limit_statements(engine: Engine, seconds: Optional[float] = None) -> None:
    """Abort any statement of `engine` that runs longer than `seconds` (default `statement_timeout_s()`;
    0 lifts the limit): SQLite through a progress handler that checks the statement's deadline,
    PostgreSQL through `statement_timeout`, set as each connection is checked out. The statement then
    raises OperationalError (`is_statement_timeout` tells it apart). Cheap to call on every turn."""
    seconds = statement_timeout_s() if seconds is None else seconds
    with _lock:
        first = engine not in _limits
        _limits[engine] = seconds
    if not first:
        return
    dialect = engine.dialect.name
    if dialect == "sqlite":
        event.listen(engine, "checkout", _sqlite_checkout)
        event.listen(engine, "before_cursor_execute", _start_deadline)
        for name in ("commit", "rollback"):
            event.listen(engine, name, _end_deadline)
    elif dialect == "postgresql":
        def postgresql_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            milliseconds = max(0, round(_limits.get(engine, 0.0) * 1000))  # 0: no limit
            try:
                cursor = dbapi_connection.cursor()
                cursor.execute(f"SET statement_timeout = {milliseconds:d}")
                cursor.close()
            except engine.dialect.dbapi.Error as error:  # a connection the server dropped: the pool
                raise DisconnectionError() from error  # replaces it (and raises if it cannot)

        event.listen(engine, "checkout", postgresql_checkout)
    else:
        logger.warning("catalog.no_statement_timeout dialect=%s", dialect)


def is_statement_timeout(error: BaseException) -> bool:
    """Whether `error` is a statement stopped by `limit_statements` (not a broken database)."""
    if not isinstance(error, OperationalError):
        return False
    original = error.orig
    if getattr(original, "pgcode", None) == _QUERY_CANCELED:
        return True
    return "interrupted" in str(original)  # sqlite3's message for a progress-handler abort


def _sqlite_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    deadline = record.info.setdefault(_DEADLINE, [math.inf])
    deadline[0] = math.inf

    def past_deadline() -> int:
        return 1 if time.monotonic() > deadline[0] else 0  # non-zero: SQLite interrupts the statement

    dbapi_connection.set_progress_handler(past_deadline, _PROGRESS_STEPS)


def _start_deadline(conn: Any, _cursor: Any, _statement: str, _parameters: Any, _context: Any,
                    _executemany: bool) -> None:
    seconds = _limits.get(conn.engine, 0.0)
    deadline = conn.info.get(_DEADLINE)
    if deadline is not None:
        # The deadline stays while the rows are fetched (SQLite does the work then too), up to the
        # next statement, commit or rollback.
        deadline[0] = time.monotonic() + seconds if seconds > 0 else math.inf


def _end_deadline(conn: Any) -> None:
    deadline = conn.info.get(_DEADLINE)
    if deadline is not None:
        deadline[0] = math.inf


def dispose_engine(url: str) -> None:
    with _lock:
        engine = _engines.pop(url, None)
    if engine is not None:
        engine.dispose()


def session_for(engine: Engine) -> Session:
    return sessionmaker(bind=engine, future=True, expire_on_commit=False)()


def uses_fts(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


# Columns added after a catalog file may have been built: (table, column, SQL type and default).
_ADDED_COLUMNS = (("products", "image_url", "VARCHAR(500) NOT NULL DEFAULT ''"),)


def create_schema(engine: Engine) -> None:
    Base.metadata.create_all(engine)
    _add_missing_columns(engine)
    if uses_fts(engine):
        with engine.begin() as conn:
            conn.execute(
                text(
                    "CREATE VIRTUAL TABLE IF NOT EXISTS product_fts USING fts5("
                    "product_id UNINDEXED, title, description, product_type, brand, "
                    "tokenize='porter unicode61')"
                )
            )


def _add_missing_columns(engine: Engine) -> None:
    """Bring a catalog built by an older version up to date in place (no data is touched)."""
    inspector = inspect(engine)
    with engine.begin() as conn:
        for table, column, sql_type in _ADDED_COLUMNS:
            present = {col["name"] for col in inspector.get_columns(table)}
            if column not in present:
                conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}"))


def rebuild_fts(session: Session, product_id: Optional[str] = None) -> None:
    """Re-index every product's text (an import), or one product's (a reviewer's fix), inside the caller's
    transaction so the index and the rows commit together."""
    if not uses_fts(session.get_bind()):
        return
    one = product_id is not None
    params = {"pid": product_id} if one else {}
    session.execute(text("DELETE FROM product_fts" + (" WHERE product_id = :pid" if one else "")), params)
    session.execute(
        text(
            "INSERT INTO product_fts (product_id, title, description, product_type, brand) "
            "SELECT id, title, description, product_type, brand FROM products"
            + (" WHERE id = :pid" if one else "")
        ),
        params,
    )


def catalog_is_empty(engine: Engine) -> bool:
    try:
        with session_for(engine) as session:
            return session.execute(select(Product.id).limit(1)).first() is None
    except Exception:  # no tables yet
        return True


def products_by_id(session: Session, ids: Sequence[str]) -> List[Product]:
    """The products with these ids, in the order given (unknown ids are skipped)."""
    if not ids:
        return []
    rows = session.execute(select(Product).where(Product.id.in_(list(ids)))).scalars().all()
    found = {product.id: product for product in rows}
    return [found[pid] for pid in ids if pid in found]


def write_products(session: Session, products: Iterable[dict], facts: Iterable[dict] = ()) -> int:
    """Insert product dicts (with `stock` as {size: quantity}) and their attribute facts (dicts of
    AttributeFact columns) in the caller's transaction."""
    product_rows, stock_rows = [], []
    for item in products:
        row = {key: value for key, value in item.items() if key != "stock"}
        product_rows.append(row)
        for position, (size, quantity) in enumerate(item["stock"].items()):
            stock_rows.append(
                {"product_id": row["id"], "size": size, "position": position, "quantity": quantity}
            )
    if product_rows:
        session.execute(Product.__table__.insert(), product_rows)
    if stock_rows:
        session.execute(StockLevel.__table__.insert(), stock_rows)
    fact_rows = list(facts)
    if fact_rows:
        session.execute(AttributeFact.__table__.insert(), fact_rows)
    return len(product_rows)


def build_catalog(
    url: Optional[str], products: Iterable[dict], replace: bool = True, facts: Iterable[dict] = ()
) -> int:
    """Create the schema and load products, their stock and attribute facts in one transaction; with
    `replace`, old rows go first.

    The demo catalog and imports both load through here, so the FTS index is always rebuilt with them.
    """
    engine = get_engine(url)
    create_schema(engine)
    with session_for(engine) as session, session.begin():
        if replace:
            session.execute(AttributeFact.__table__.delete())
            session.execute(StockLevel.__table__.delete())
            session.execute(Product.__table__.delete())
        count = write_products(session, products, facts)
        rebuild_fts(session)
    return count


def ensure_catalog(url: Optional[str] = None) -> Engine:
    """Open the catalog, building the demo catalog first if the database has no products.

    A SQLite file is built under a temporary name and moved into place, so two processes starting
    at once never see a half-built catalog.
    """
    url = url or catalog_url()
    engine = get_engine(url)
    if not catalog_is_empty(engine):
        return engine
    from actions.catalog.demo import generate_demo_catalog

    path = sqlite_path(url)
    if path is None:
        build_catalog(url, generate_demo_catalog())
        return engine
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = path.with_name(f"{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    tmp_url = f"sqlite:///{tmp_path}"
    try:
        build_catalog(tmp_url, generate_demo_catalog())
        dispose_engine(tmp_url)
        dispose_engine(url)
        if catalog_is_empty(get_engine(url)):
            dispose_engine(url)
            os.replace(tmp_path, path)
    finally:
        dispose_engine(tmp_url)
        if tmp_path.exists():
            tmp_path.unlink()
    return get_engine(url)
