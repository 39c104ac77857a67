"""The conversation log for learning: the doubt score, shoppers' reactions as suggested labels,
retention and delete-by-shopper, and the event broker writing rows from Rasa's own event dicts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
from rasa.core.actions.action import create_bot_utterance
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from sqlalchemy import create_engine, select, text

from actions import cart_store
from actions.cart import CartLine
from actions.catalog.db import get_engine as catalog_engine
from actions.catalog.db import session_for
from common.message_metadata import REDACTED_KEY
from learning import reactions, retention, store
from learning.broker import ConversationLogBroker, message_row
from learning.db import get_engine, messages, reset_engines, suggestions
from learning.doubt import doubt
from learning.gaps import gap_report
from learning.log import main as log_main
from learning.reactions import LoggedMessage
from ops.handoff_view import AGENT_KEY

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
MODEL_ID = "0b1c2d3e4f"


def parse(text: str, intent: str, confidence: float = 0.95, entities: Optional[List[Dict[str, Any]]] = None,
          attributes: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """A parse shaped like the joint model's (docs/architecture.md, Parse output)."""
    attrs = {"gender": {"value": "unknown", "confidence": 0.9, "source": "model"},
             "age_group": {"value": "unknown", "confidence": 0.9, "source": "model"},
             "gift": {"value": False, "confidence": 0.97, "source": "model"}}
    attrs.update(attributes or {})
    return {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "intent_ranking": [{"name": intent, "confidence": confidence}, {"name": "greet", "confidence": 0.01}],
        "entities": entities or [],
        "attributes": attrs,
    }


def span(text: str, words: str, entity: str, confidence: float = 0.9) -> Dict[str, Any]:
    start = text.index(words)
    return {"entity": entity, "start": start, "end": start + len(words), "value": words,
            "confidence_entity": confidence, "extractor": "JointShoppingNLU"}


# --- doubt --------------------------------------------------------------------------------------------

def test_doubt_is_one_minus_the_least_confidence_of_intent_spans_and_attributes() -> None:
    text = "red trainers for my son"
    base = parse(text, "search_product", 0.97, [span(text, "trainers", "product_type", 0.93)])
    assert doubt(base) == pytest.approx(1 - 0.9)  # the attributes' 0.9 is the weakest
    weak_span = parse(text, "search_product", 0.97, [span(text, "red", "color", 0.41)])
    assert doubt(weak_span) == pytest.approx(0.59)
    weak_attribute = parse(text, "search_product", 0.97,
                           attributes={"gender": {"value": "male", "confidence": 0.35, "source": "model"}})
    assert doubt(weak_attribute) == pytest.approx(0.65)
    assert doubt(parse(text, "search_product", 0.2)) == pytest.approx(0.8)
    # a product the tagger nearly found but left out: no weak span, a weak reading of the words
    missed = {**parse(text, "search_product", 0.97), "tagging_confidence": 0.55}
    assert doubt(missed) == pytest.approx(0.45)


def test_doubt_of_a_parse_without_intent_is_one_and_payload_spans_count_as_sure() -> None:
    assert doubt({"text": "x"}) == 1.0
    payload = {"intent": {"name": "search_product", "confidence": 1.0},
               "entities": [{"entity": "product_type", "value": "trainers"}]}
    assert doubt(payload) == 0.0
    odd = {"intent": {"name": "greet", "confidence": 0.8}, "attributes": {"gender": {"confidence": "high"}}}
    assert doubt(odd) == pytest.approx(0.2)


# --- reactions (pure) -----------------------------------------------------------------------------------

def logged(id: int, text: str, intent: str, minutes: float = 0,
           replies: Optional[List[Dict[str, Any]]] = None, entities: Optional[List[Dict[str, Any]]] = None,
           attributes: Optional[Dict[str, Any]] = None,
           button: bool = False) -> LoggedMessage:
    return LoggedMessage(
        id=id, sender_id="s1", text=text, created_at=T0 + timedelta(minutes=minutes), intent=intent,
        entities=entities or [], attributes=parse(text, intent, attributes=attributes)["attributes"],
        replies=replies or [], button=button,
    )


TRAINERS = '/search_product{"product_type": "trainers"}'
RESULTS = [{"text": "Here's what I found for trainers:", "custom_type": "product_cards",
            "product_ids": ["P00042", "P00007"], "action": "action_search_products"}]
FALLBACK_REPLY = [{"text": "Sorry, I didn't quite get that.", "action": "action_clarify_low_confidence"}]


def test_a_message_after_a_fallback_is_suggested_as_the_rephrase_of_the_misread_one() -> None:
    misread = logged(1, "smth comfy 4 runnin", "nlu_fallback", replies=FALLBACK_REPLY)
    text = "comfortable running shoes"
    again = logged(2, text, "search_product", 1, entities=[span(text, "running shoes", "product_type")])
    [found] = reactions.reactions([misread], again)
    assert (found.kind, found.message_id, found.related_message_id) == ("rephrase", 1, 2)
    assert found.label["intent"] == "search_product"
    # "running shoes" is not in the misread text: the suggested span has no offsets.
    assert found.label["entities"] == [{"entity": "product_type", "value": "running shoes"}]
    assert "smth comfy 4 runnin" in found.evidence and "comfortable running shoes" in found.evidence


def test_the_fallback_action_alone_marks_a_misread_message() -> None:
    misread = logged(1, "the thing", "search_product", replies=FALLBACK_REPLY)
    [found] = reactions.reactions([misread], logged(2, "a blue thing", "search_product", 1))
    assert found.kind == "rephrase"


def test_a_rephrase_needs_a_new_request_soon_after() -> None:
    misread = logged(1, "smth comfy", "nlu_fallback", replies=FALLBACK_REPLY)
    assert reactions.reactions([misread], logged(2, "talk to a person", "human_handoff", 1)) == []
    assert reactions.reactions([misread], logged(2, "Smth  comfy", "search_product", 1)) == []
    assert reactions.reactions([misread], logged(2, "running shoes", "search_product", 11)) == []


def test_a_bare_no_links_the_message_before_it_to_the_next_one_unless_it_declined_an_offer() -> None:
    first = logged(1, "show me bags", "search_product", replies=RESULTS)
    no = logged(2, "no", "deny", 1, replies=[{"text": "There's nothing to say yes or no to."}])
    [found] = reactions.reactions([first, no], logged(3, "I meant backpacks", "search_product", 2))
    assert (found.kind, found.message_id, found.related_message_id) == ("rephrase", 1, 3)
    offered = logged(1, "show me bags", "search_product",
                     replies=[{**RESULTS[0], "offer": "gift_wrap"}])
    assert reactions.rephrase([offered, no], logged(3, "backpacks", "search_product", 2)) is None


def test_no_for_a_girl_after_results_suggests_the_new_gender_for_the_search() -> None:
    search = logged(1, "trainers for my kid", "search_product", replies=RESULTS,
                    attributes={"age_group": {"value": "kid", "confidence": 0.9, "source": "model"}})
    girl = {"gender": {"value": "female", "confidence": 0.8, "source": "cues"},
            "age_group": {"value": "kid", "confidence": 0.8, "source": "cues"}}
    [found] = reactions.reactions([search], logged(2, "no, for a girl", "refine_search", 1, attributes=girl))
    assert (found.kind, found.message_id, found.related_message_id) == ("correction", 1, 2)
    assert found.label == {"attributes": {"gender": "female"}}  # age_group was already right
    assert "no, for a girl" in found.evidence
    # The same words with no results shown before, or without the correcting start, suggest nothing.
    bare = logged(1, "trainers for my kid", "search_product")
    assert reactions.corrected_search([bare], logged(2, "no, for a girl", "refine_search", 1,
                                                     attributes=girl)) is None
    assert reactions.corrected_search([search], logged(2, "for a girl", "refine_search", 1,
                                                       attributes=girl)) is None
    # A value the model only guesses (below the confidence the bot acts on) is no correction.
    guessed = {**girl, "age_group": {"value": "adult", "confidence": 0.45, "source": "model"}}
    reply = logged(2, "no, for a girl", "refine_search", 1, attributes=guessed)
    [found] = reactions.reactions([search], reply)
    assert found.label == {"attributes": {"gender": "female"}}


def test_clicks_on_quick_replies_and_shown_cards_confirm_the_search() -> None:
    text = "red trainers"
    entities = [span(text, "trainers", "product_type")]
    search = logged(1, text, "search_product", replies=RESULTS, entities=entities)
    [found] = reactions.reactions([search], logged(2, "Show more", "show_more", 1, button=True))
    assert (found.kind, found.message_id) == ("click", 1)
    assert found.label["entities"] == [{"entity": "product_type", "value": "trainers", "start": 4, "end": 12}]
    assert reactions.reactions([search], logged(2, "show more", "show_more", 1)) == []  # typed, no click
    assert reactions.reactions([search], logged(2, "No thanks", "deny", 1, button=True)) == []
    card = reactions.card_click(search, "P00007")
    assert card is not None and card.kind == "click" and "number 2" in card.evidence
    assert reactions.card_click(search, "P99999") is None  # a product this search never showed


def test_zero_results_keep_the_query_and_its_product_phrase() -> None:
    message = logged(1, "do you have a kayak", "search_product")
    found = reactions.zero_results(message, {"product_words": "Kayak", "terms": ["kayak"], "gift": False},
                                   "Sorry, we don't sell kayak.")
    assert found.kind == "zero_results"
    assert found.label == {"zero_results": True, "query": {"product_words": "Kayak", "terms": ["kayak"]},
                           "phrase": "kayak"}
    assert reactions.gap_phrase({}, "Pink  Jumpsuit") == "pink jumpsuit"


# --- retention, delete, stats, gaps ----------------------------------------------------------------------

@pytest.fixture()
def db_url(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'learning.db'}"
    yield url
    reset_engines()


def add_message(url: str, sender: str, text: str, created: datetime, channel: str = "rest") -> int:
    values, _ = message_row(sender, {"event": "user", "text": text, "timestamp": created.timestamp(),
                                     "input_channel": channel, "parse_data": parse(text, "search_product")})
    with get_engine(url).begin() as connection:
        return int(connection.execute(messages.insert().values(**values)).inserted_primary_key[0])


def add_suggestion(url: str, message_id: int, kind: str, label: Dict[str, Any]) -> None:
    with get_engine(url).begin() as connection:
        connection.execute(suggestions.insert().values(message_id=message_id, kind=kind, label=label,
                                                       evidence="e", created_at=T0))


def count(url: str, table: Any) -> int:
    with get_engine(url).connect() as connection:
        return len(connection.execute(select(table.c.id)).all())


def test_delete_by_shopper_removes_their_messages_suggestions_conversation_and_cart_only(
    db_url: str, tmp_path: Path, capsys: Any
) -> None:
    now = datetime.now(UTC)
    mine = add_message(db_url, "shopper-a", "red trainers", now)
    add_suggestion(db_url, mine, "zero_results", {"phrase": "red trainers"})
    add_message(db_url, "shopper-a", "cheaper", now)
    other = add_message(db_url, "shopper-b", "blue dress", now)
    add_suggestion(db_url, other, "click", {})
    tracker = f"sqlite:///{tmp_path / 'conversations.db'}"
    with create_engine(tracker).begin() as connection:  # Rasa's SQLTrackerStore table, as it makes it
        connection.execute(text("CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id TEXT, data TEXT)"))
        for sender in ("shopper-a", "shopper-a", "shopper-b"):
            connection.execute(text("INSERT INTO events (sender_id, data) VALUES (:s, '{}')"), {"s": sender})
    catalog = f"sqlite:///{tmp_path / 'catalog.db'}"
    cart_store.create_table(catalog_engine(catalog))
    with session_for(catalog_engine(catalog)) as session, session.begin():
        for sender in ("shopper-a", "shopper-b"):
            cart_store.save_line(session, sender, CartLine("P1", "Red trainers", "9", 1, 59.0))
    assert log_main(["--database-url", db_url, "delete", "--sender", "shopper-a", "--tracker-url", tracker,
                     "--catalog-url", catalog]) == 0
    assert ("deleted 2 messages and 1 suggestions of shopper-a, 2 conversation events and 1 cart lines"
            in capsys.readouterr().out)
    assert (count(db_url, messages), count(db_url, suggestions)) == (1, 1)
    with create_engine(tracker).connect() as connection:
        assert connection.execute(text("SELECT sender_id FROM events")).scalars().all() == ["shopper-b"]
    assert cart_store.delete_shopper(catalog_engine(catalog), "shopper-b") == 1, "another's cart was kept"


def test_purge_removes_rows_older_than_the_retention_setting(db_url: str, monkeypatch: Any, capsys: Any
                                                             ) -> None:
    now = datetime.now(UTC)
    old = add_message(db_url, "s", "old one", now - timedelta(days=40))
    add_suggestion(db_url, old, "click", {})
    add_message(db_url, "s", "new one", now - timedelta(days=5))
    assert retention.purge(get_engine(db_url)) == retention.Removed(0, 0)  # 90 days by default
    monkeypatch.setenv(retention.RETENTION_ENV, "30")
    assert retention.purge(get_engine(db_url)) == retention.Removed(1, 1)
    assert log_main(["--database-url", db_url, "purge", "--days", "1"]) == 0
    assert "purged 1 messages" in capsys.readouterr().out
    assert count(db_url, messages) == 0
    monkeypatch.setenv(retention.RETENTION_ENV, "0")
    with pytest.raises(ValueError):
        retention.retention_days()


def test_stats_and_the_gap_report(db_url: str, capsys: Any) -> None:
    now = datetime.now(UTC)
    for phrase, channel in [("kayak", "webchat"), ("kayak", "rest"), ("pink jumpsuit", "rest")]:
        message_id = add_message(db_url, "s", f"a {phrase}", now, channel)
        add_suggestion(db_url, message_id, "zero_results", {"phrase": phrase})
    assert log_main(["--database-url", db_url, "stats"]) == 0
    out = capsys.readouterr().out
    assert "2  rest" in out and "1  webchat" in out and "3  auto" in out and "3  zero_results" in out
    report = gap_report(get_engine(db_url))
    assert report.searches == 3 and report.phrases[0] == ("kayak", 2)
    assert ("jumpsuit", 1) in report.words
    assert log_main(["--database-url", db_url, "gaps"]) == 0
    assert "2  kayak" in capsys.readouterr().out


# --- the broker, fed Rasa's own event dicts ---------------------------------------------------------------

def user_event(sender: str, text: str, parse_data: Dict[str, Any], at: datetime,
               metadata: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    event = UserUttered(text, parse_data["intent"], parse_data["entities"], parse_data,
                        timestamp=at.timestamp(), input_channel="webchat",
                        metadata={"model_id": MODEL_ID, **(metadata or {})})
    return {"sender_id": sender, **event.as_dict()}


def bot_event(sender: str, message: Dict[str, Any], utter_action: Optional[str] = None,
              agent: Optional[str] = None) -> Dict[str, Any]:
    message = dict(message)
    if utter_action:
        message["utter_action"] = utter_action
    if agent:
        message[AGENT_KEY] = agent  # written by a person in the console (ops/handoff_view.py)
    return {"sender_id": sender, **create_bot_utterance(message).as_dict()}


def action_event(sender: str, name: str) -> Dict[str, Any]:
    return {"sender_id": sender, **ActionExecuted(name).as_dict()}


def slot_event(sender: str, name: str, value: Any) -> Dict[str, Any]:
    return {"sender_id": sender, **SlotSet(name, value).as_dict()}


def rows(url: str, sender: str) -> List[Dict[str, Any]]:
    with get_engine(url).connect() as connection:
        result = connection.execute(select(messages).where(messages.c.sender_id == sender)
                                    .order_by(messages.c.id))
        return [dict(row) for row in result.mappings()]


def sugg(url: str) -> List[Dict[str, Any]]:
    with get_engine(url).connect() as connection:
        result = connection.execute(select(suggestions).order_by(suggestions.c.id))
        return [dict(r) for r in result.mappings()]


def test_the_broker_logs_messages_replies_and_reactions_off_the_event_loop(db_url: str) -> None:
    broker = ConversationLogBroker(url=db_url)
    s = "web-123"
    text = "running shoes for my son"
    first = parse(text, "search_product", 0.91, [span(text, "running shoes", "product_type", 0.88)],
                  {"gender": {"value": "male", "confidence": 0.93, "source": "model+cues"},
                   "age_group": {"value": "kid", "confidence": 0.7, "source": "model"}})
    cards = {"type": "product_cards", "intro": "Here's what I found:", "closing": "",
             "products": [{"id": "P00042", "title": "Kids runner", "position": 1}]}
    events = [
        user_event(s, "  Running   shoes for my son", first, T0),
        action_event(s, "action_search_products"),
        bot_event(s, {"text": "Here's what I found:\n1. Kids runner", "buttons": [
            {"title": "Show more", "payload": "/show_more"}], "custom": cards}),
        slot_event(s, "ranked_ids", ["P00042"]),
        user_event(s, "no, for a girl", parse("no, for a girl", "refine_search", 0.8, attributes={
            "gender": {"value": "female", "confidence": 0.8, "source": "cues"}}), T0 + timedelta(minutes=1)),
        action_event(s, "action_search_products"),
        slot_event(s, "search_state", {"product_words": "running shoes", "gender": "female"}),
        bot_event(s, {"text": "Sorry, I couldn't find any girls' running shoes in our catalog."}),
        slot_event(s, "ranked_ids", []),
        user_event(s, "hmm the blorp thing", parse("hmm the blorp thing", "nlu_fallback", 0.4),
                   T0 + timedelta(minutes=2)),
        action_event(s, "action_clarify_low_confidence"),
        bot_event(s, {"text": "Sorry, I didn't quite get that.", "buttons": [
            {"title": "Trainers", "payload": TRAINERS}]}),
        user_event(s, TRAINERS,
                   {"intent": {"name": "search_product", "confidence": 1.0},
                    "entities": [{"entity": "product_type", "value": "trainers", "start": 15, "end": 44}]},
                   T0 + timedelta(minutes=3), metadata={"shopcue_display_text": "Trainers"}),
        action_event(s, "utter_greet"),
        bot_event(s, {"text": "Hi!"}, utter_action="utter_greet"),
        action_event(s, "action_session_start"),  # slots carried into a new session are no offer
        slot_event(s, "pending_offer", "gift_wrap"),
        {"sender_id": s, "event": "mystery"},  # unknown events are ignored
        {"event": "user", "text": "no sender"},  # malformed ones too
    ]
    for event in events:
        broker.publish(json.loads(json.dumps(event)))  # as the tracker store sends them: plain JSON
    broker.record_card_click(s, "P00042")
    broker.record_card_click(s, "P99999")  # never shown: ignored
    assert broker.flush(20)

    logged_rows = rows(db_url, s)
    assert [r["text"] for r in logged_rows] == [
        "  Running   shoes for my son", "no, for a girl", "hmm the blorp thing", "Trainers"]
    search = logged_rows[0]
    assert search["text_key"] == "running shoes for my son"
    assert (search["channel"], search["model_id"]) == ("webchat", MODEL_ID)
    assert search["intent"] == "search_product"
    assert search["intent_confidence"] == pytest.approx(0.91)
    assert search["entities"][0]["confidence_entity"] == 0.88
    assert search["attributes"]["age_group"] == {"value": "kid", "confidence": 0.7, "source": "model"}
    assert search["doubt"] == pytest.approx(0.3)
    assert search["created_at"].replace(tzinfo=UTC) == T0
    assert isinstance(search["replies"][0].pop("ts"), float)  # when it was said: the turn latency
    assert search["replies"] == [{"text": "Here's what I found:\n1. Kids runner",
                                  "buttons": [{"title": "Show more", "payload": "/show_more"}],
                                  "custom_type": "product_cards", "product_ids": ["P00042"],
                                  "action": "action_search_products"}]
    button = logged_rows[3]
    assert button["doubt"] == 0.0 and button["intent_confidence"] == 1.0
    # The payload's offsets are of the payload; in the title the value is found again.
    assert button["entities"][0] == {"entity": "product_type", "value": "trainers", "start": 0, "end": 8}
    button["replies"][0].pop("ts")
    assert button["replies"] == [{"text": "Hi!", "action": "utter_greet"}]

    found = {(s_["kind"], s_["message_id"]): s_ for s_ in sugg(db_url)}
    ids = [r["id"] for r in logged_rows]
    assert set(found) == {("correction", ids[0]), ("zero_results", ids[1]), ("rephrase", ids[2]),
                          ("click", ids[0])}
    assert found[("correction", ids[0])]["label"] == {"attributes": {"gender": "female"}}
    assert found[("correction", ids[0])]["related_message_id"] == ids[1]
    assert found[("zero_results", ids[1])]["label"]["phrase"] == "running shoes"
    assert "couldn't find" in found[("zero_results", ids[1])]["evidence"]
    rephrased = found[("rephrase", ids[2])]["label"]
    assert rephrased["entities"] == [{"entity": "product_type", "value": "trainers"}]
    assert "P00042" in found[("click", ids[0])]["evidence"]

    broker.record_card_click(s, "P00042")  # the same click again is the same evidence: stored once
    assert broker.flush(10)
    assert len(sugg(db_url)) == 4


def test_the_log_redacts_again_and_keeps_entity_offsets_true(db_url: str) -> None:
    broker = ConversationLogBroker(url=db_url)
    text = "red trainers, mail me at jo.smith@example.com"
    broker.publish(user_event("rest-1", text, parse(text, "search_product", entities=[
        span(text, "trainers", "product_type"), span(text, "jo.smith@example.com", "brand", 0.3)]), T0))
    broker.publish(bot_event("rest-1", {"text": "I'll write to jo.smith@example.com"}, agent="Ann"))
    broker.publish(bot_event("rest-1", {"text": "Red trainers by Sam Smith & Co, from 59.00"}))
    assert broker.flush(20)
    [row] = rows(db_url, "rest-1")
    assert row["text"] == "red trainers, mail me at <EMAIL>" and row["redactions"] == {"EMAIL": 1}
    assert row["text_key"] == "red trainers, mail me at <email>"
    product, leaked = row["entities"]
    assert (product["value"], product["start"], product["end"]) == ("trainers", 4, 12)
    assert (leaked["value"], leaked["start"], leaked["end"]) == ("<EMAIL>", 25, 32)
    for reply in row["replies"]:
        reply.pop("ts")
    # An agent's typed reply is redacted; the bot's own words (catalog facts, redacted shopper words) stand.
    assert row["replies"] == [{"text": "I'll write to <EMAIL>"},
                              {"text": "Red trainers by Sam Smith & Co, from 59.00"}]


def test_a_message_the_channel_redacted_is_not_redacted_again(db_url: str, monkeypatch: Any) -> None:
    seen: List[str] = []
    real = store.redact
    monkeypatch.setattr(store, "redact", lambda text: (seen.append(text), real(text))[1])
    broker = ConversationLogBroker(url=db_url)
    marked, unmarked = "red trainers for <PERSON>", "red trainers, mail me at jo@example.com"
    broker.publish(user_event("rest-2", marked, parse(marked, "search_product"), T0, {REDACTED_KEY: True}))
    broker.publish(user_event("rest-3", unmarked, parse(unmarked, "search_product"), T0))
    assert broker.flush(20)
    assert seen == [unmarked], "only the message no channel redacted goes through the redactor"
    assert rows(db_url, "rest-2")[0]["text"] == marked
    assert rows(db_url, "rest-3")[0]["text"] == "red trainers, mail me at <EMAIL>"


def test_a_failing_database_costs_the_reply_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    broker = ConversationLogBroker(url=f"sqlite:///{blocker}/x/learning.db")
    text = "hi"
    broker.publish(user_event("s", text, parse(text, "greet"), T0))  # returns at once, does not raise
    assert broker.flush(10)
    assert broker._thread.is_alive()
    reset_engines()


def test_the_web_chat_reports_card_clicks_of_shown_products_to_the_log(db_url: str) -> None:
    from sanic import Sanic

    from tests.test_webchat_channel import make_app, post, session_of

    broker = ConversationLogBroker(url=db_url)
    text = "blue trainers"
    cards = {"type": "product_cards", "products": [{"id": "P00042"}, {"id": "P00043"}]}
    broker.publish(user_event("web-9", text, parse(text, "search_product"), datetime.now(UTC)))
    broker.publish(action_event("web-9", "action_search_products"))
    broker.publish(bot_event("web-9", {"text": "Here's what I found", "custom": cards}))
    assert broker.flush(20)

    previous, Sanic.test_mode = Sanic.test_mode, True
    try:
        app = make_app(object())
        url = "/webhooks/webchat/event"
        web_9 = session_of("web-9")  # the session of the conversation "web-9"
        click = {"type": "card_click", "product_id": "P00043"}
        answer = post(app, url, click, session=web_9)
        assert (answer.status_code, answer.json()) == (202, {"logged": True})
        for bad in ({**click, "type": "purchase"}, {**click, "product_id": "../etc"},
                    {**click, "product_id": 42}, {**click, "sender": "web-10"}, [click]):
            assert post(app, url, bad, session=web_9).status_code == 400, bad
        assert post(app, url, click).status_code == 401  # no session: nobody's click
        assert post(app, url, {**click, "padding": "x" * 2000}, session=web_9).status_code == 413
    finally:
        Sanic.test_mode = previous
    assert broker.flush(10)
    [found] = sugg(db_url)
    assert found["kind"] == "click" and "P00043 (number 2)" in found["evidence"]
    assert found["label"]["intent"] == "search_product"


def test_a_button_title_is_kept_only_when_the_bot_offered_that_button() -> None:
    offered = {TRAINERS: "Trainers", "/show_more": "Show more"}
    event = user_event("s", TRAINERS, {"intent": {"name": "search_product", "confidence": 1.0},
                                       "entities": []}, T0,
                       metadata={"shopcue_display_text": "Trainers"})
    assert message_row("s", event, offered)[0]["text"] == "Trainers"
    forged = {**event, "metadata": {**event["metadata"], "shopcue_display_text": "any words I like"}}
    values, button = message_row("s", forged, offered)
    assert button and values["text"] == TRAINERS and values["doubt"] == 0.0
    assert message_row("s", event, {})[0]["text"] == TRAINERS
    words = "compare the first two"
    typed = user_event("s", words, parse(words, "compare_products", 0.7), T0)
    clicked = {**typed, "metadata": {**typed["metadata"], "shopcue_display_text": "Compare the first two"}}
    assert message_row("s", typed, {words: "Compare the first two"})[1] is False
    values, button = message_row("s", clicked, {words: "Compare the first two"})
    assert button and values["text"] == words and values["doubt"] == pytest.approx(0.3)


def test_the_broker_purges_rows_past_retention_when_it_starts_logging(db_url: str) -> None:
    now = datetime.now(UTC)
    add_message(db_url, "old-shopper", "old one", now - timedelta(days=40))
    broker = ConversationLogBroker(url=db_url, retention_days=30)
    broker.publish(user_event("new-shopper", "hello", parse("hello", "greet"), now))
    assert broker.flush(20)
    assert rows(db_url, "old-shopper") == [] and len(rows(db_url, "new-shopper")) == 1
