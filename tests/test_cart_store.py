"""The cart kept in the database by shopper: the add-to-cart action over a small catalog (SQLite and
PostgreSQL), read back by sender (never from the slot), merged per product and size, capped, re-checked
against today's catalog, purged after the retention period and deleted on request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import insert, inspect, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from actions import cart_store, settings
from actions.cart_actions import ActionAddToCart
from actions.cart_store import cart_lines, delete_shopper, load_cart, purge
from actions.catalog.db import build_catalog, dispose_engine, get_engine, session_for
from actions.catalog_handle import reset_catalog_cache
from tests.services import postgres, postgres_url  # noqa: F401  (fixtures)
from tests.test_search import product

TRAINERS = product("S1", "Fleetfoot Trainers", "trainers", "shoes", price=40.0,
                   stock={"6": 0, "8": 3, "9": 10})
HEADPHONES = product("H1", "Quiet Headphones", "headphones", "electronics", price=20.0,
                     stock={"one size": 50})
CATALOG = [TRAINERS, HEADPHONES]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
           ) -> Iterator[Engine]:
    """A catalog built as an older version did (products only; the cart table comes on first use), in a
    SQLite file or in PostgreSQL (tests/services.py starts one for the session)."""
    monkeypatch.delenv(cart_store.RETENTION_ENV, raising=False)
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'catalog.db'}"
        monkeypatch.setenv("SHOPCUE_CATALOG_DB", url.removeprefix("sqlite:///"))
        monkeypatch.delenv("DATABASE_URL", raising=False)
    else:
        url = request.getfixturevalue("postgres_url")
        monkeypatch.setenv("DATABASE_URL", url)
        with get_engine(url).begin() as connection:  # the database outlives one test
            connection.execute(text("DROP TABLE IF EXISTS cart_lines"))
    build_catalog(url, CATALOG)
    reset_catalog_cache()
    yield get_engine(url)
    reset_catalog_cache()
    dispose_engine(url)


def add(sender: str, pid: str, size: Optional[str] = None, quantity: Optional[int] = None,
        slots: Optional[Dict[str, Any]] = None) -> tuple[str, Dict[str, Any]]:
    """The shopper `sender` says "add the first one to my cart" with `pid` on screen: the reply's text and
    the slots the action set."""
    entities = [{"entity": "size", "value": size}] if size else []
    if quantity is not None:
        entities.append({"entity": "quantity", "value": str(quantity)})
    message = {"text": "add the first one to my cart", "intent": {"name": "add_to_cart", "confidence": 0.95},
               "entities": entities}
    tracker = Tracker(sender, {"shown_ids": [pid], **(slots or {})}, message, [], False, None, {},
                      "action_listen")
    dispatcher = CollectingDispatcher()
    events = ActionAddToCart().run(dispatcher, tracker, {})
    reply = "\n".join(m.get("text") or "" for m in dispatcher.messages)
    return reply, {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def stored(engine: Engine, sender: str) -> List[tuple]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(cart_lines.c.product_id, cart_lines.c.size, cart_lines.c.quantity, cart_lines.c.unit_price)
            .where(cart_lines.c.sender_id == sender).order_by(cart_lines.c.id)
        )
        return [tuple(row) for row in rows]


def test_an_added_product_is_stored_by_shopper_in_a_catalog_that_predates_carts(engine: Engine) -> None:
    assert not inspect(engine).has_table("cart_lines")
    reply, slots = add("web-a", "S1", size="8")
    assert "Added Fleetfoot Trainers (size 8) to your cart" in reply
    assert stored(engine, "web-a") == [("S1", "8", 1, 40.0)]
    assert slots["cart"] == [{"id": "S1", "title": "Fleetfoot Trainers", "size": "8", "quantity": 1,
                              "price": 40.0}], "the slot mirrors the stored cart"


def test_one_shoppers_cart_is_never_seen_by_another(engine: Engine) -> None:
    add("web-a", "S1", size="8", quantity=2)
    reply, slots = add("web-b", "H1")
    assert "You have 1 item in your cart, $20 in total." in reply
    assert [line["id"] for line in slots["cart"]] == ["H1"]
    assert stored(engine, "web-a") == [("S1", "8", 2, 40.0)]
    assert stored(engine, "web-b") == [("H1", "one size", 1, 20.0)]
    with session_for(engine) as session:
        assert [line.id for line in load_cart(session, "web-b")[0]] == ["H1"]
        assert load_cart(session, "web-c") == ([], [])


def test_the_cart_comes_from_the_database_not_from_the_conversation(engine: Engine) -> None:
    """A restarted bot that forgot the conversation still has the cart; a slot a client forged adds
    nothing to it."""
    add("call-1", "S1", size="9")
    forged = [{"id": "H1", "title": "free headphones", "size": "one size", "quantity": 20, "price": 0.01}]
    reply, slots = add("call-1", "H1", slots={"cart": forged})
    assert "You have 2 items in your cart, $60 in total." in reply
    assert [(line["id"], line["quantity"], line["price"]) for line in slots["cart"]] == [
        ("S1", 1, 40.0), ("H1", 1, 20.0)]


def test_the_same_product_and_size_again_raises_the_quantity_of_its_line(engine: Engine) -> None:
    add("web-a", "S1", size="9")
    reply, _ = add("web-a", "S1", size="9", quantity=2)
    assert "Added 2 more of Fleetfoot Trainers (size 9) to your cart, 3 of them now." in reply
    assert "You have 3 items in your cart, $120 in total." in reply
    add("web-a", "S1", size="8")
    assert stored(engine, "web-a") == [("S1", "9", 3, 40.0), ("S1", "8", 1, 40.0)], "a size, a line"


def test_a_line_never_holds_more_than_the_stock_of_its_size(engine: Engine) -> None:
    add("web-a", "S1", size="8", quantity=2)
    reply, _ = add("web-a", "S1", size="8", quantity=2)
    name = "Fleetfoot Trainers (size 8)"
    assert f"Added 1 more of {name} to your cart, 3 of them now. That's all we have." in reply
    reply, _ = add("web-a", "S1", size="8")
    assert f"You already have the last 3 of {name} in your cart; that's all we have." in reply
    assert stored(engine, "web-a") == [("S1", "8", 3, 40.0)]


def test_a_line_never_holds_more_than_the_most_one_item_may(engine: Engine, monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    monkeypatch.setattr(settings, "MAX_QUANTITY", 4)
    add("web-a", "H1", quantity=3)
    add("web-a", "H1", quantity=3)
    reply, _ = add("web-a", "H1")
    assert "You already have 4 of Quiet Headphones in your cart, the most I can add of one item." in reply
    assert stored(engine, "web-a") == [("H1", "one size", 4, 20.0)]


def test_a_price_change_is_told_once_and_the_cart_takes_todays_price(engine: Engine) -> None:
    add("web-a", "S1", size="9", quantity=2)
    with engine.begin() as connection:
        connection.execute(text("UPDATE products SET price = 35 WHERE id = 'S1'"))
    reply, _ = add("web-a", "H1")
    assert reply.startswith("Fleetfoot Trainers (size 9) now costs $35 (it was $40). Added Quiet")
    assert "You have 3 items in your cart, $90 in total." in reply
    reply, _ = add("web-a", "H1")
    assert "costs" not in reply and "$110 in total" in reply


def test_a_product_gone_from_the_catalog_is_taken_out_and_said(engine: Engine) -> None:
    add("web-a", "S1", size="9")
    build_catalog(str(engine.url), [HEADPHONES])  # a re-import without the trainers keeps the carts
    reply, slots = add("web-a", "H1")
    assert reply.startswith("Fleetfoot Trainers (size 9) is no longer sold, so I took it out of your cart.")
    assert "You have 1 item in your cart, $20 in total." in reply
    assert stored(engine, "web-a") == [("H1", "one size", 1, 20.0)]
    assert [line["id"] for line in slots["cart"]] == ["H1"]


def test_less_stock_than_the_cart_holds_is_said_and_the_line_follows_it(engine: Engine) -> None:
    add("web-a", "S1", size="9", quantity=5)
    add("web-a", "S1", size="8")
    with engine.begin() as connection:
        restock = text("UPDATE stock_levels SET quantity = :left WHERE product_id = 'S1' AND size = :size")
        for size, left in (("9", 2), ("8", 0)):
            connection.execute(restock, {"left": left, "size": size})
    reply, _ = add("web-a", "H1")
    assert "Only 2 of Fleetfoot Trainers (size 9) are left, so your cart holds 2, not 5." in reply
    assert "Fleetfoot Trainers (size 8) has sold out, so I took it out of your cart." in reply
    assert stored(engine, "web-a") == [("S1", "9", 2, 40.0), ("H1", "one size", 1, 20.0)]


def _age(engine: Engine, sender: str, product_id: str, days: int) -> None:
    with engine.begin() as connection:
        connection.execute(
            update(cart_lines).where(cart_lines.c.sender_id == sender, cart_lines.c.product_id == product_id)
            .values(updated_at=datetime.now(UTC) - timedelta(days=days))
        )


def test_carts_untouched_for_the_retention_period_are_purged_whole(engine: Engine,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    for sender in ("old", "recent", "mixed"):
        add(sender, "S1", size="9")
        add(sender, "H1")
    _age(engine, "old", "S1", 40)
    _age(engine, "old", "H1", 31)
    _age(engine, "mixed", "S1", 90)  # its other line was touched today: the cart is in use
    assert purge(engine) == 2
    assert stored(engine, "old") == []
    assert len(stored(engine, "mixed")) == 2 and len(stored(engine, "recent")) == 2
    monkeypatch.setenv(cart_store.RETENTION_ENV, "7")
    _age(engine, "recent", "S1", 8)
    _age(engine, "recent", "H1", 8)
    assert purge(engine) == 2 and stored(engine, "recent") == []


def test_the_purge_and_delete_commands(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    add("web-a", "S1", size="9")
    add("web-b", "H1")
    _age(engine, "web-a", "S1", 12)
    assert cart_store.main(["purge", "--days", "30"]) == 0
    assert "removed 0 cart line(s) untouched for 30 days" in capsys.readouterr().out
    assert cart_store.main(["purge", "--days", "10"]) == 0
    assert "removed 1 cart line(s) untouched for 10 days" in capsys.readouterr().out
    assert cart_store.main(["delete", "--sender", "web-b"]) == 0
    assert "removed 1 cart line(s) of that shopper" in capsys.readouterr().out
    assert stored(engine, "web-a") == [] and stored(engine, "web-b") == []


@pytest.mark.parametrize("argv, setting, message", [
    (["purge", "--days", "0"], None, "a cart is kept at least 1 day (got 0)"),
    (["purge"], "a month", "SHOPCUE_CART_RETENTION_DAYS must be a whole number of days (got 'a month')"),
    (["delete", "--sender", ""], None, "a cart's sender id must have 1 to 128 characters"),
])
def test_bad_command_input_is_a_clear_error(engine: Engine, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str], argv: List[str],
                                            setting: Optional[str], message: str) -> None:
    if setting is not None:
        monkeypatch.setenv(cart_store.RETENTION_ENV, setting)
    with pytest.raises(SystemExit) as exited:
        cart_store.main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_deleting_a_shopper_removes_only_their_cart(engine: Engine) -> None:
    add("web-a", "S1", size="9")
    add("web-a", "H1")
    add("web-b", "H1")
    assert delete_shopper(engine, "web-a") == 2
    assert stored(engine, "web-a") == [] and stored(engine, "web-b") == [("H1", "one size", 1, 20.0)]
    reply, _ = add("web-a", "H1")
    assert "You have 1 item in your cart" in reply, "a deleted cart does not come back"


def test_the_database_refuses_a_second_line_for_one_shopper_product_and_size(engine: Engine) -> None:
    add("web-a", "H1")
    now = datetime.now(UTC)
    duplicate = insert(cart_lines).values(sender_id="web-a", product_id="H1", size="one size", quantity=1,
                                          unit_price=20.0, title="Quiet Headphones", added_at=now,
                                          updated_at=now)
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(duplicate)
