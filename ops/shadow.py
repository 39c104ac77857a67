"""The shadow model: reads every live message again, off the request path, and records where it disagrees
with the live model.

`python -m ops.shadow` is its own process (bot/launcher.py starts it when the registry has a SHADOW
model). It never touches the Rasa server: it tails the conversation log (`learning_messages` rows with an
id above the last one it handled for this shadow), parses each text in-process with the shadow archive's
NLU (a Rasa Agent, as nlu/tools/evaluate.py does), and compares with the live parse stored on the row:

- intent: the names;
- entities: the spans as a set of (start, end, type);
- attributes: the values the bot would act on (the review queue's neutral rule, so a guess below the
  threshold counts as neutral on both sides).

Every parse is a `shadow_parses` row (agreement rate per shadow: `agreement`); each disagreement is also a
`learning_suggestions` row of kind "shadow" with the evidence a reviewer reads ("shadow model X reads
this as intent Y"), so the message gets the queue's suggestion bonus and rises to the top.

Why a separate, niced process with one thread: the live path's cost is then only the CPU the shadow takes
when the machine is busy (benchmarks/bench_shadow.py measures it). Rows from a quick reply's payload
("/intent{...}") and rows with no text are skipped: the live parse did not come from the NLU.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, FrozenSet, Iterable, List, Mapping, Optional, Tuple

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from learning.db import messages, shadow_parses, utcnow

logger = logging.getLogger(__name__)

SHADOW = "shadow"  # the suggestion kind
DEFAULT_POLL_S = 1.0
DEFAULT_BACKLOG = 500  # a new shadow starts with this many of the latest messages
BATCH = 50

Span = Tuple[int, int, str]


@dataclass(frozen=True)
class Reading:
    """What a parse says, in the terms shadow and live are compared on."""

    intent: str
    spans: FrozenSet[Span]
    attributes: Dict[str, Any]


def reading(intent: str, entities: Iterable[Any], attributes: Any) -> Reading:
    """The comparable reading of a parse (entities without offsets are left out: no span to compare)."""
    from learning.review import _parse_attributes  # the neutral rule reviewers' labels use

    spans = frozenset(
        (int(e["start"]), int(e["end"]), str(e.get("entity")))
        for e in entities or () if isinstance(e, Mapping) and e.get("start") is not None
        and e.get("end") is not None
    )
    return Reading(intent=str(intent or ""), spans=spans, attributes=_parse_attributes(attributes or {}))


def differences(live: Reading, shadow: Reading) -> Dict[str, Any]:
    """Where the shadow's reading differs from the live one; {} when they agree."""
    out: Dict[str, Any] = {}
    if live.intent != shadow.intent:
        out["intent"] = {"live": live.intent, "shadow": shadow.intent}
    if live.spans != shadow.spans:
        out["entities"] = {"live_only": sorted(live.spans - shadow.spans),
                           "shadow_only": sorted(shadow.spans - live.spans)}
    attributes = {
        name: {"live": live.attributes.get(name), "shadow": shadow.attributes.get(name)}
        for name in sorted(set(live.attributes) | set(shadow.attributes))
        if live.attributes.get(name) != shadow.attributes.get(name)
    }
    if attributes:
        out["attributes"] = attributes
    return out


def evidence(model_id: str, text: str, diff: Mapping[str, Any]) -> str:
    """The sentence a reviewer reads for a disagreement."""
    parts: List[str] = []
    if "intent" in diff:
        parts.append(f"intent {diff['intent']['shadow']} (live: {diff['intent']['live']})")
    spans = diff.get("entities") or {}
    for start, end, kind in spans.get("shadow_only", ()):
        parts.append(f"span '{text[start:end]}' as {kind}")
    for start, end, kind in spans.get("live_only", ()):
        parts.append(f"no {kind} span '{text[start:end]}'")
    for name, values in (diff.get("attributes") or {}).items():
        parts.append(f"{name} {values['shadow']} (live: {values['live']})")
    return f"shadow model {model_id} reads this as " + "; ".join(parts)


def agreement(agrees: Iterable[bool]) -> Dict[str, Any]:
    """How many parses, how many agreed, and the rate (None before the first parse)."""
    flags = list(agrees)
    agreed = sum(1 for flag in flags if flag)
    return {"parsed": len(flags), "agreed": agreed, "rate": agreed / len(flags) if flags else None}


def agreement_by_model(engine: Engine) -> Dict[str, Dict[str, Any]]:
    """The agreement of every shadow model that parsed anything (GET /api/admin/shadow)."""
    s = shadow_parses.c
    with engine.connect() as conn:
        rows = conn.execute(select(s.model_id, s.agrees)).all()
    by_model: Dict[str, List[bool]] = {}
    for model_id, agrees in rows:
        by_model.setdefault(model_id, []).append(bool(agrees))
    return {model_id: agreement(flags) for model_id, flags in by_model.items()}


def recent_disagreements(engine: Engine, model_id: str, limit: int = 20) -> List[Dict[str, Any]]:
    s, m = shadow_parses.c, messages.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(s.message_id, m.text, m.intent, s.intent.label("shadow_intent"), s.differences)
            .join(messages, m.id == s.message_id)
            .where(s.model_id == model_id, s.agrees.is_(False))
            .order_by(s.id.desc()).limit(limit)
        ).all()
    return [dict(r._mapping) for r in rows]


def skipped(row: Mapping[str, Any]) -> bool:
    """A row the NLU did not parse: a payload, a quick reply's title (labelled by construction)."""
    text = str(row.get("text") or "")
    by_button = float(row.get("doubt") or 0.0) == 0.0 and float(row.get("intent_confidence") or 0.0) >= 1.0
    return not text.strip() or text.startswith("/") or by_button


# ------------------------------------------------------------------------------------------- the worker


class ShadowParser:
    """A shadow archive's NLU, loaded once, parsing one text at a time on its own event loop."""

    def __init__(self, archive: Path) -> None:
        from rasa.core.agent import Agent

        self.archive = archive
        self.agent = Agent.load(str(archive))
        self.loop = asyncio.new_event_loop()

    def parse(self, text: str) -> Dict[str, Any]:
        return self.loop.run_until_complete(self.agent.parse_message(text))

    def close(self) -> None:
        self.loop.close()


def last_handled(engine: Engine, model_id: str) -> Optional[int]:
    with engine.connect() as conn:
        return conn.execute(select(func.max(shadow_parses.c.message_id))
                            .where(shadow_parses.c.model_id == model_id)).scalar()


def start_after(engine: Engine, model_id: str, backlog: int) -> int:
    """The message id to tail from: the last handled, or for a new shadow `backlog` messages back."""
    handled = last_handled(engine, model_id)
    if handled is not None:
        return handled
    with engine.connect() as conn:
        ids = conn.execute(select(messages.c.id).order_by(messages.c.id.desc()).limit(backlog + 1)).scalars()
        ids = list(ids)
    return ids[-1] if len(ids) > backlog else 0


def handle(engine: Engine, parser: ShadowParser, model_id: str, row: Mapping[str, Any]) -> bool:
    """Parse one logged row with the shadow, store the comparison (and a suggestion when it disagrees);
    whether it agreed."""
    from learning.reactions import Suggestion
    from learning.review import ReviewError, parse_as_label
    from learning.store import insert_suggestions

    started = time.perf_counter()
    parsed = parser.parse(row["text"])
    seconds = time.perf_counter() - started
    intent = (parsed.get("intent") or {}).get("name") or ""
    entities = [e for e in parsed.get("entities") or () if isinstance(e, Mapping)]
    attributes = parsed.get("attributes") or {}
    diff = differences(reading(row["intent"], row["entities"], row["attributes"]),
                       reading(intent, entities, attributes))
    found = []
    if diff:
        try:
            label: Dict[str, Any] = dict(parse_as_label(row["text"], intent, entities, attributes))
        except ReviewError:  # e.g. the shadow says nlu_fallback: evidence only, no label to accept
            label = {}
        found.append(Suggestion(row["id"], SHADOW, label, evidence(model_id, row["text"], diff)))
    with engine.begin() as conn:  # the parse row and its suggestion commit together
        conn.execute(insert(shadow_parses).values(
            message_id=row["id"], model_id=model_id, intent=intent[:64],
            intent_confidence=float((parsed.get("intent") or {}).get("confidence") or 0.0),
            entities=[{k: e.get(k) for k in ("entity", "start", "end", "value", "confidence_entity")}
                      for e in entities],
            attributes={str(k): dict(v) for k, v in attributes.items() if isinstance(v, Mapping)},
            agrees=not diff, differences=diff, seconds=seconds, created_at=utcnow(),
        ))
        insert_suggestions(conn, found)
    return not diff


def pending(engine: Engine, after: int, limit: int = BATCH) -> List[Dict[str, Any]]:
    m = messages.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(m.id, m.text, m.intent, m.intent_confidence, m.entities, m.attributes, m.doubt)
            .where(m.id > after).order_by(m.id).limit(limit)
        ).all()
    return [dict(r._mapping) for r in rows]


def run(engine: Engine, poll_s: float = DEFAULT_POLL_S, backlog: int = DEFAULT_BACKLOG,
        once: bool = False) -> int:
    """Tail the log with the registry's shadow model (reloaded when the shadow changes); with `once`,
    stop when caught up. Returns how many messages were parsed."""
    from learning.registry import shadow_model

    parser: Optional[ShadowParser] = None
    model_id, after, done, agreed = "", 0, 0, 0
    try:
        while True:
            record = shadow_model(engine)
            if record is None:
                if once:
                    return done
                time.sleep(poll_s)
                continue
            if record.id != model_id:
                if parser is not None:
                    parser.close()
                parser, model_id = ShadowParser(Path(record.path)), record.id
                after = start_after(engine, model_id, backlog)
                logger.info("ops.shadow: shadow %s loaded; tailing after message %d", model_id, after)
            rows = pending(engine, after)
            for row in rows:
                after = row["id"]
                if skipped(row):
                    continue
                try:
                    agreed += handle(engine, parser, model_id, row)
                    done += 1
                except Exception:  # one bad row must not stop the shadow; the next one is tried
                    logger.warning("ops.shadow: message %d not compared", row["id"], exc_info=True)
            if rows and done:
                logger.debug("ops.shadow: %d parsed, %d agreed", done, agreed)
            if not rows:
                if once:
                    return done
                time.sleep(poll_s)
    finally:
        if parser is not None:
            parser.close()


def main(argv: Optional[List[str]] = None) -> int:
    """`python -m ops.shadow`: parse live messages with the registry's shadow model, off the request path."""
    parser = argparse.ArgumentParser(prog="python -m ops.shadow", description=main.__doc__)
    parser.add_argument("--poll", type=float, default=DEFAULT_POLL_S, help="seconds between looks at the log")
    parser.add_argument("--backlog", type=int, default=DEFAULT_BACKLOG,
                        help="a new shadow first parses this many of the latest messages")
    parser.add_argument("--once", action="store_true", help="stop when caught up")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Yield the CPU to the live path: a low priority, one thread for torch and TensorFlow.
    os.nice(10)
    for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ.setdefault(name, "1")
    import torch

    torch.set_num_threads(1)
    from learning.db import get_engine

    done = run(get_engine(args.database_url), args.poll, args.backlog, args.once)
    logger.info("ops.shadow: stopped after %d messages", done)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
