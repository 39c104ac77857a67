"""A/B tests of a candidate model: which shopper talks to which arm, and how the arms compare.

The split is stable by shopper: SHA-256 of the sender id, mod 10,000, below `share * 10,000` is arm B
(the candidate). The same shopper always lands in the same arm, across restarts and processes, so a
conversation never changes model half-way.

Arms are compared per shopper, not per message: shoppers are what is randomised, and one shopper's
messages are not independent trials, so "did this shopper ever fall back / rephrase / click a card / add
to the cart / ask for a person" are the Bernoulli outcomes. Each rate has a 95% Wilson interval; the
difference B - A has a two-proportion interval (Newcombe's, from the two Wilson intervals), and a
difference whose interval includes 0 is reported as "not yet significant".

The channels wrap their handler with `routed` (bot/channels/webchat.py, bot/channels/rest.py): arm-B
shoppers' messages go to the candidate agent that ops/serving.py loaded beside the live one, sharing its
tracker store, lock store, action endpoint and event broker, so the dialogue keeps its state whichever
agent answers.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Mapping, Optional, Sequence

from sqlalchemy import select
from sqlalchemy.engine import Engine

from learning.db import messages, suggestions
from learning.reactions import CARDS, CLICK, FALLBACK_ACTIONS, FALLBACK_INTENT, REPHRASE

BUCKETS = 10_000
Z95 = 1.959963984540054
ARM_LIVE, ARM_CANDIDATE = "A", "B"
# What each compared outcome is, for one shopper (see `shopper_outcomes`).
OUTCOMES = ("fallback", "rephrase", "card_click", "add_to_cart", "handoff")
# Who can have the outcome: a card can be clicked only by a shopper who was shown cards.
ELIGIBLE = {"card_click": "saw_cards"}
ADD_TO_CART_ACTION = "action_add_to_cart"
HANDOFF_INTENT = "human_handoff"
# The metadata key Rasa's tracker puts on events; set first, it names the registry model that answered.
MODEL_ID_KEY = "model_id"


# ------------------------------------------------------------------------------------------- the split


def bucket(sender_id: str) -> int:
    """The shopper's bucket in [0, 10,000): SHA-256 of the sender id, so stable everywhere."""
    return int.from_bytes(hashlib.sha256(sender_id.encode("utf-8")).digest()[:8], "big") % BUCKETS


def in_candidate_arm(sender_id: str, share: float) -> bool:
    """True when this shopper talks to the candidate (arm B) at the configured share (0..1)."""
    return bucket(sender_id) < round(max(0.0, min(1.0, share)) * BUCKETS)


def arm_of(sender_id: str, share: float) -> str:
    return ARM_CANDIDATE if in_candidate_arm(sender_id, share) else ARM_LIVE


def routed(on_new_message: Callable[[Any], Awaitable[Any]]) -> Callable[[Any], Awaitable[None]]:
    """A channel's message handler that sends each message to its shopper's arm (`handle`), in the Rasa
    app the ops channel started in (ops/serving.py); the channels wrap theirs with it once."""
    from ops.serving import active_app

    async def handler(message: Any) -> None:
        app = active_app()
        if app is None:
            await on_new_message(message)
        else:
            await handle(app, message, on_new_message)

    return handler


async def handle(app: Any, message: Any, on_new_message: Callable[[Any], Awaitable[Any]]) -> None:
    """Send a channel's `UserMessage` to the agent of the shopper's arm, naming its model in the message
    metadata (so the log row says which model parsed it). Without an A/B test, the live agent."""
    from ops.serving import serving_state

    state = serving_state(app)
    if state is None:
        await on_new_message(message)
        return
    candidate = state.candidate
    arm_b = candidate is not None and in_candidate_arm(str(message.sender_id), state.share)
    model_id = state.candidate_id if arm_b else state.live_id
    if model_id:
        message.metadata = {**(message.metadata or {}), MODEL_ID_KEY: model_id}
    if arm_b:
        await candidate.handle_message(message)
    else:
        await on_new_message(message)


# ------------------------------------------------------------------------------------------- the maths


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def wilson(successes: int, trials: int, z: float = Z95) -> Interval:
    """The Wilson score interval of a proportion (sane at 0, 1 and small n; (0, 1) with no trials)."""
    if trials <= 0:
        return Interval(0.0, 1.0)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def difference_interval(successes_a: int, trials_a: int, successes_b: int, trials_b: int,
                        z: float = Z95) -> Interval:
    """The interval of p_B - p_A: Newcombe's hybrid score interval (method 10), built from the two
    Wilson intervals, so 0/10 against 3/10 is not "certain" the way the Wald interval makes it.
    (-1, 1) when an arm is empty."""
    if trials_a <= 0 or trials_b <= 0:
        return Interval(-1.0, 1.0)
    pa, pb = successes_a / trials_a, successes_b / trials_b
    a, b = wilson(successes_a, trials_a, z), wilson(successes_b, trials_b, z)
    d = pb - pa
    return Interval(d - math.sqrt((pb - b.low) ** 2 + (a.high - pa) ** 2),
                    d + math.sqrt((b.high - pb) ** 2 + (pa - a.low) ** 2))


@dataclass
class RateComparison:
    outcome: str
    a: int
    n_a: int
    b: int
    n_b: int

    def to_json(self) -> Dict[str, Any]:
        rate_a = self.a / self.n_a if self.n_a else None
        rate_b = self.b / self.n_b if self.n_b else None
        diff = difference_interval(self.a, self.n_a, self.b, self.n_b)
        significant = bool(self.n_a and self.n_b) and not diff.contains(0.0)
        return {
            "outcome": self.outcome,
            "a": _arm(self.a, self.n_a),
            "b": _arm(self.b, self.n_b),
            "difference": (rate_b - rate_a) if rate_a is not None and rate_b is not None else None,
            "difference_ci95": asdict(diff),
            "significant": significant,
            "verdict": verdict(self.outcome, rate_a, rate_b, significant),
        }


def _arm(count: int, shoppers: int) -> Dict[str, Any]:
    return {"count": count, "shoppers": shoppers, "rate": count / shoppers if shoppers else None,
            "ci95": asdict(wilson(count, shoppers))}


def verdict(outcome: str, rate_a: Optional[float], rate_b: Optional[float], significant: bool) -> str:
    if rate_a is None or rate_b is None:
        return "no shoppers in one arm yet"
    if not significant:
        return "not yet significant"
    return f"{outcome} {'higher' if rate_b > rate_a else 'lower'} with the candidate"


def compare(outcomes_a: Sequence[Mapping[str, bool]], outcomes_b: Sequence[Mapping[str, bool]]
            ) -> List[Dict[str, Any]]:
    """Per outcome, the arms' rates with their intervals and the difference (see the module docstring)."""
    rows = []
    for outcome in OUTCOMES:
        eligible = ELIGIBLE.get(outcome)
        arm_a = [o for o in outcomes_a if eligible is None or o.get(eligible)]
        arm_b = [o for o in outcomes_b if eligible is None or o.get(eligible)]
        rows.append(RateComparison(outcome, sum(1 for o in arm_a if o.get(outcome)), len(arm_a),
                                   sum(1 for o in arm_b if o.get(outcome)), len(arm_b)).to_json())
    return rows


# ------------------------------------------------------------------------------------- from the log


def shopper_outcomes(rows: Iterable[Mapping[str, Any]], suggestion_kinds: Mapping[int, Iterable[str]]
                     ) -> Dict[str, Dict[str, bool]]:
    """sender -> which outcomes the shopper had, from their logged rows (id, sender_id, intent, replies)
    and the suggestion kinds stored per message id. A card click counts only after a shown card."""
    out: Dict[str, Dict[str, bool]] = {}
    for row in rows:
        o = out.setdefault(str(row["sender_id"]), {name: False for name in OUTCOMES} | {"saw_cards": False})
        replies = [r for r in row.get("replies") or () if isinstance(r, Mapping)]
        actions = {r.get("action") for r in replies}
        kinds = set(suggestion_kinds.get(int(row["id"]), ()))
        o["fallback"] |= row.get("intent") == FALLBACK_INTENT or bool(actions & FALLBACK_ACTIONS)
        o["rephrase"] |= REPHRASE in kinds
        o["card_click"] |= CLICK in kinds and any(r.get("custom_type") == CARDS for r in replies)
        o["saw_cards"] |= any(r.get("custom_type") == CARDS for r in replies)
        o["add_to_cart"] |= ADD_TO_CART_ACTION in actions
        o["handoff"] |= row.get("intent") == HANDOFF_INTENT
    return out


def arm_comparison(engine: Engine, live_id: str, candidate_id: str, since: Optional[datetime] = None
                   ) -> Dict[str, Any]:
    """Compare the shoppers whose messages the live model (`live_id`) and the candidate parsed, by the
    registry ids logged on each row. A shopper seen under both ids (a test started mid-conversation)
    counts in neither: their outcomes cannot be put on one arm."""
    m, s = messages.c, suggestions.c
    query = select(m.id, m.sender_id, m.intent, m.replies, m.model_id).where(
        m.model_id.in_([live_id, candidate_id]))
    if since is not None:
        query = query.where(m.created_at >= since)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
        ids = [r["id"] for r in rows]
        kinds: Dict[int, List[str]] = {}
        for chunk in range(0, len(ids), 500):
            for mid, kind in conn.execute(select(s.message_id, s.kind).where(
                    s.message_id.in_(ids[chunk:chunk + 500]))):
                kinds.setdefault(mid, []).append(kind)
    models_of: Dict[str, set] = {}
    for row in rows:
        models_of.setdefault(row["sender_id"], set()).add(row["model_id"])
    mixed = {sender for sender, seen in models_of.items() if len(seen) > 1}
    arm_rows = {arm: [r for r in rows if r["model_id"] == model and r["sender_id"] not in mixed]
                for arm, model in ((ARM_LIVE, live_id), (ARM_CANDIDATE, candidate_id))}
    outcomes = {arm: list(shopper_outcomes(arm_rows[arm], kinds).values()) for arm in arm_rows}
    return {
        "live_id": live_id, "candidate_id": candidate_id,
        "shoppers": {arm: len(v) for arm, v in outcomes.items()},
        "messages": {arm: len(v) for arm, v in arm_rows.items()},
        "excluded_shoppers": len(mixed),
        "outcomes": compare(outcomes[ARM_LIVE], outcomes[ARM_CANDIDATE]),
    }
