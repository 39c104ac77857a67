"""The shopper's cart in the project's database, keyed by the conversation's sender id: the truth the cart
actions read and write (the `cart` slot is only a mirror of it), kept past a restart of the bot.

The table lives in the catalog's database (the one the action server holds; SQLite or PostgreSQL), on its
own metadata and without a foreign key to `products`: a catalog re-import replaces products and must not
take carts with it; a line whose product has gone is reported when the cart is next read
(actions.cart.recheck). Carts untouched for `SHOPCUE_CART_RETENTION_DAYS` (default 30) are purged, by
the action server once a day and by the command line:

    python -m actions.cart_store purge [--days N]
    python -m actions.cart_store delete --sender ID
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
import time
import weakref
from datetime import UTC, datetime, timedelta
from typing import List, Optional, Sequence, Tuple

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    delete,
    func,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from actions.cart import CartChange, CartLine, recheck
from actions.catalog.db import get_engine, products_by_id
from common.limits import MAX_SENDER_CHARS

logger = logging.getLogger(__name__)

RETENTION_ENV = "SHOPCUE_CART_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 30
PURGE_EVERY_S = 24 * 3600

metadata = MetaData()

# One row per shopper, product and size; adding the same product and size again raises `quantity`.
cart_lines = Table(
    "cart_lines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # also the lines' order
    Column("sender_id", String(MAX_SENDER_CHARS), nullable=False),
    Column("product_id", String(32), nullable=False),
    Column("size", String(20), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", Float, nullable=False),  # when added, or when a re-check last saw it change
    Column("title", String(200), nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, index=True),
    UniqueConstraint("sender_id", "product_id", "size", name="uq_cart_lines_sender_item"),
)

_lock = threading.Lock()
# engine -> when this process last purged it (monotonic seconds)
_prepared: weakref.WeakKeyDictionary[Engine, float] = weakref.WeakKeyDictionary()


def _now() -> datetime:
    return datetime.now(UTC)


def _sender(sender_id: str) -> str:
    """The key as given: cutting a long one short could join two shoppers' carts, so it is refused."""
    if not sender_id or len(sender_id) > MAX_SENDER_CHARS:
        raise ValueError(f"a cart's sender id must have 1 to {MAX_SENDER_CHARS} characters")
    return sender_id


def retention_days(value: Optional[int] = None) -> int:
    """`value` if given, else `SHOPCUE_CART_RETENTION_DAYS`, else 30; at least one day."""
    if value is None:
        setting = os.environ.get(RETENTION_ENV, "").strip()
        try:
            value = int(setting) if setting else DEFAULT_RETENTION_DAYS
        except ValueError:
            raise ValueError(f"{RETENTION_ENV} must be a whole number of days (got {setting!r})") from None
    if value < 1:
        raise ValueError(f"a cart is kept at least 1 day (got {value})")
    return value


def create_table(engine: Engine) -> None:
    """Create `cart_lines` if the database lacks it (a catalog built before carts were kept)."""
    try:
        metadata.create_all(engine, checkfirst=True)
    except SQLAlchemyError:
        if not inspect(engine).has_table(cart_lines.name):  # else another process created it first
            raise


def ready(engine: Engine) -> Engine:
    """The engine with the table in place; the first use in a process, and then once a day, also purges
    carts past the retention period (a failed purge is logged and retried a day later, never raised)."""
    with _lock:
        last_purge = _prepared.get(engine)
        if last_purge is None:
            create_table(engine)
        if last_purge is not None and time.monotonic() - last_purge < PURGE_EVERY_S:
            return engine
        _prepared[engine] = time.monotonic()
    try:
        purge(engine)
    except (SQLAlchemyError, ValueError) as error:
        logger.warning("cart.purge failed: %s", type(error).__name__)
    return engine


def load_cart(session: Session, sender_id: str, now: Optional[datetime] = None
              ) -> Tuple[List[CartLine], List[CartChange]]:
    """The shopper's lines, re-checked against today's catalog, and what the re-check changed. Lines the
    catalog no longer sells are deleted and changed ones updated in the caller's transaction, so the
    shopper hears of each change once."""
    sender = _sender(sender_id)
    ready(session.get_bind())
    rows = session.execute(
        select(cart_lines).where(cart_lines.c.sender_id == sender).order_by(cart_lines.c.id)
    ).all()
    products = {product.id: product for product in products_by_id(session, [row.product_id for row in rows])}
    lines: List[CartLine] = []
    changes: List[CartChange] = []
    for row in rows:
        kept = CartLine(row.product_id, row.title, row.size, row.quantity, row.unit_price)
        line, found = recheck(kept, products.get(row.product_id))
        changes.extend(found)
        if line is None:
            session.execute(delete(cart_lines).where(cart_lines.c.id == row.id))
            continue
        if line != kept:
            session.execute(
                update(cart_lines).where(cart_lines.c.id == row.id).values(
                    title=line.title, unit_price=line.price, quantity=line.quantity, updated_at=now or _now()
                )
            )
        lines.append(line)
    return lines, changes


def save_line(session: Session, sender_id: str, line: CartLine, now: Optional[datetime] = None) -> None:
    """Keep the line as the shopper's only one for its product and size (updated if there is one), in the
    caller's transaction. Rasa runs one message of a conversation at a time, so no other writer races
    this update-then-insert for the same shopper."""
    sender = _sender(sender_id)
    now = now or _now()
    values = {"quantity": line.quantity, "unit_price": line.price, "title": line.title, "updated_at": now}
    updated = session.execute(
        update(cart_lines)
        .where(cart_lines.c.sender_id == sender, cart_lines.c.product_id == line.id,
               cart_lines.c.size == line.size)
        .values(**values)
    )
    if not updated.rowcount:
        session.execute(
            insert(cart_lines).values(sender_id=sender, product_id=line.id, size=line.size, added_at=now,
                                      **values)
        )


def delete_shopper(engine: Engine, sender_id: str) -> int:
    """Remove one shopper's cart (a request to forget them); the number of lines removed."""
    sender = _sender(sender_id)
    create_table(engine)
    with engine.begin() as connection:
        removed = connection.execute(delete(cart_lines).where(cart_lines.c.sender_id == sender)).rowcount
    logger.info("cart.deleted_shopper lines=%d", removed)
    return removed


def purge(engine: Engine, days: Optional[int] = None, now: Optional[datetime] = None) -> int:
    """Remove every cart whose last change is older than the retention period: all of its lines, since a
    cart touched yesterday keeps the line added a month ago. The number of lines removed."""
    cutoff = (now or _now()) - timedelta(days=retention_days(days))
    create_table(engine)
    stale = (
        select(cart_lines.c.sender_id)
        .group_by(cart_lines.c.sender_id)
        .having(func.max(cart_lines.c.updated_at) < cutoff)
    )
    with engine.begin() as connection:
        removed = connection.execute(delete(cart_lines).where(cart_lines.c.sender_id.in_(stale))).rowcount
    if removed:
        logger.info("cart.purged lines=%d", removed)
    return removed


def main(argv: Optional[Sequence[str]] = None) -> int:
    summary = (__doc__ or "").split("\n\n")[0]
    parser = argparse.ArgumentParser(prog="python -m actions.cart_store", description=summary)
    commands = parser.add_subparsers(dest="command", required=True)
    purge_parser = commands.add_parser("purge", help="remove carts untouched for the retention period")
    purge_parser.add_argument("--days", type=int, default=None,
                              help=f"days kept (default {RETENTION_ENV}, else {DEFAULT_RETENTION_DAYS})")
    delete_parser = commands.add_parser("delete", help="remove one shopper's cart")
    delete_parser.add_argument("--sender", required=True, help="the shopper's sender id")
    args = parser.parse_args(argv)
    try:
        if args.command == "purge":
            days = retention_days(args.days)
            print(f"removed {purge(get_engine(), days)} cart line(s) untouched for {days} days")
        else:
            print(f"removed {delete_shopper(get_engine(), args.sender)} cart line(s) of that shopper")
    except ValueError as error:
        parser.error(str(error))
    except (SQLAlchemyError, OSError) as error:
        first_line = (str(error).splitlines() or [""])[0]
        parser.exit(1, f"cannot reach the cart database: {type(error).__name__}: {first_line}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
