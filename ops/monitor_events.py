"""Fallback, handoff and zero-result counts from the tracker events the conversation log broker sees.

`learning.broker.ConversationLogBroker.publish` hands every event here on Rasa's event loop, so this is
a few dictionary operations per event and never touches a database. Each count is taken at most once per
shopper message (a fallback parse answered by a fallback action is one fallback), and the channel is the
one of the sender's latest message (bot and slot events do not carry it).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Mapping

from learning.reactions import FALLBACK_ACTIONS, FALLBACK_INTENT, SEARCH_ACTION
from ops import metrics

# What says "a person takes over": the response (bot/domain.yml) and its custom payload type, which the
# phone channel already acts on; an action named here counts too.
HANDOFF_ACTIONS = frozenset({"utter_handoff", "action_handoff"})
HANDOFF_PAYLOAD = "handoff"
MAX_SENDERS = 10_000  # senders whose latest turn is remembered, least recent dropped


@dataclass
class _Turn:
    channel: str = "unknown"
    action: str = ""
    fallback: bool = False
    handoff: bool = False
    zero_results: bool = False


class TurnCounter:
    """Turns tracker events into the fallback, handoff and zero-result counters of `ops.metrics`."""

    def __init__(self, max_senders: int = MAX_SENDERS) -> None:
        self._turns: OrderedDict[str, _Turn] = OrderedDict()
        self._max = max_senders

    def observe(self, event: Mapping[str, Any]) -> None:
        """Count what `event` says about its sender's latest turn; never raises on odd events."""
        sender = event.get("sender_id")
        if not isinstance(sender, str):
            return
        kind = event.get("event")
        if kind == "user":
            turn = self._new_turn(sender, str(event.get("input_channel") or ""))
            parse = event.get("parse_data")
            intent = parse.get("intent") if isinstance(parse, Mapping) else None
            if isinstance(intent, Mapping) and intent.get("name") == FALLBACK_INTENT:
                self._fallback(turn)
            return
        turn = self._turns.get(sender)
        if turn is None:
            return  # events before any message of this process (a session start, a restart)
        if kind == "action":
            turn.action = str(event.get("name") or "")
            self._by_action(turn, turn.action)
        elif kind == "bot":
            metadata = event.get("metadata")
            if isinstance(metadata, Mapping) and metadata.get("utter_action"):
                self._by_action(turn, str(metadata["utter_action"]))
            data = event.get("data")
            custom = data.get("custom") if isinstance(data, Mapping) else None
            if isinstance(custom, Mapping) and custom.get("type") == HANDOFF_PAYLOAD:
                self._handoff(turn)
        elif kind == "slot" and _found_nothing(event, turn):
            turn.zero_results = True
            metrics.count_zero_results(turn.channel)

    def _new_turn(self, sender: str, channel: str) -> _Turn:
        turn = _Turn(channel=metrics.channel_label(channel))
        self._turns.pop(sender, None)
        self._turns[sender] = turn
        while len(self._turns) > self._max:
            self._turns.popitem(last=False)
        return turn

    def _by_action(self, turn: _Turn, action: str) -> None:
        if action in FALLBACK_ACTIONS:
            self._fallback(turn)
        if action in HANDOFF_ACTIONS:
            self._handoff(turn)

    @staticmethod
    def _fallback(turn: _Turn) -> None:
        if not turn.fallback:
            turn.fallback = True
            metrics.count_fallback(turn.channel)

    @staticmethod
    def _handoff(turn: _Turn) -> None:
        if not turn.handoff:
            turn.handoff = True
            metrics.count_handoff(turn.channel)


def _found_nothing(event: Mapping[str, Any], turn: _Turn) -> bool:
    """A search action set `ranked_ids` to [] (not yet counted for this message)."""
    return (event.get("name") == "ranked_ids" and event.get("value") == [] and turn.action == SEARCH_ACTION
            and not turn.zero_results)
