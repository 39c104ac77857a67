"""Test data for the review console: logged messages with a known doubt, and console users.

Shared by tests/test_console_api.py and tests/test_console_browser.py; rows go straight into the
tables of learning/db.py, the way the bot's message log leaves them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional, Sequence

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from console.users import add_user
from learning.db import messages, suggestions, utcnow
from learning.store import text_key

PASSWORD = "correct horse battery"
BASE_TIME = datetime(2026, 11, 20, 12, 0)


def add_message(
    engine: Engine,
    text: str,
    doubt: float,
    intent: str = "search_product",
    entities: Sequence[Dict[str, Any]] = (),
    attributes: Optional[Dict[str, Dict[str, Any]]] = None,
    channel: str = "webchat",
    created_at: Optional[datetime] = None,
    ranking: Optional[List[Dict[str, Any]]] = None,
) -> int:
    """One logged message whose parse is as sure as `doubt` says (intent confidence 1 - doubt)."""
    confidence = round(1.0 - doubt, 6)
    attributes = attributes or {
        "gender": {"value": "unknown", "confidence": 0.97, "source": "model"},
        "age_group": {"value": "unknown", "confidence": 0.97, "source": "model"},
        "gift": {"value": False, "confidence": 0.97, "source": "model"},
    }
    with engine.begin() as connection:
        result = connection.execute(
            insert(messages).values(
                sender_id="shopper-1",
                channel=channel,
                text=text,
                text_key=text_key(text),
                intent=intent,
                intent_confidence=confidence,
                intent_ranking=ranking or [
                    {"name": intent, "confidence": confidence},
                    {"name": "refine_search" if intent != "refine_search" else "search_product",
                     "confidence": round(doubt * 0.8, 6)},
                ],
                entities=[{**e, "extractor": "JointShoppingNLU"} for e in entities],
                attributes=attributes,
                replies=[],
                model_id="model-test",
                redactions={},
                doubt=doubt,
                created_at=created_at or BASE_TIME,
                state="auto",
            )
        )
        return int(result.inserted_primary_key[0])


def span(text: str, word: str, entity: str, confidence: float = 0.95) -> Dict[str, Any]:
    """An entity on the first occurrence of `word` in `text`."""
    start = text.index(word)
    return {"start": start, "end": start + len(word), "entity": entity, "value": word,
            "confidence_entity": confidence}


def add_suggestion(engine: Engine, message_id: int, kind: str, label: Dict[str, Any], evidence: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(suggestions).values(
                message_id=message_id, kind=kind, label=label, evidence=evidence, created_at=utcnow()
            )
        )


# Thirty distinct requests (no two share words enough to count as near-duplicates in the queue), each
# with its doubt: the queue shows them highest doubt first.
PRODUCTS = (
    "trainers", "umbrella", "backpack", "headphones", "scarf", "kettle", "jacket", "watch", "sandals",
    "blender", "lamp", "wallet", "hoodie", "toaster", "mittens", "sunglasses", "notebook", "drone",
    "pillow", "bicycle", "raincoat", "speaker", "mug", "gloves", "perfume", "tent", "keyboard", "skates",
    "teapot", "belt",
)


def seed_queue(engine: Engine, count: int = 30) -> List[Dict[str, Any]]:
    """`count` messages "cheap <product> please" with doubts 0.05 .. 0.92, inserted in shuffled order.

    Returns their rows (id, text, doubt) sorted by doubt, highest first: the queue's expected order.
    """
    seeded = []
    for n, product in enumerate(PRODUCTS[:count]):
        doubt = round(0.05 + 0.03 * ((n * 7) % count), 4)
        text = f"cheap {product} please"
        message_id = add_message(
            engine, text, doubt, entities=[span(text, product, "product_type")],
            channel="voice" if n % 3 == 0 else "webchat", created_at=BASE_TIME + timedelta(hours=n),
        )
        seeded.append({"id": message_id, "text": text, "doubt": doubt})
    return sorted(seeded, key=lambda row: -row["doubt"])


def add_users(engine: Engine) -> None:
    """reviewer 'rita', admin 'adam', agent 'aggie', all with PASSWORD."""
    add_user(engine, "rita", PASSWORD, "reviewer")
    add_user(engine, "adam", PASSWORD, "admin")
    add_user(engine, "aggie", PASSWORD, "agent")
