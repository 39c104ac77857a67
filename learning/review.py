"""The review queue and review actions the console calls: what to look at next, and accept/correct/skip/undo.

Every function takes the loop's SQLAlchemy `Engine` first (learning.db.get_engine). The console imports
only this module for reviewing; the labels it writes are what learning/export.py turns into NLU data.

Review unit. Identical messages (same `text_key`) are one queue row and one review: an action applies
to every message of the group, and a group's state and label are those of its most recently reviewed
message (so a copy that arrives after the review inherits it; a group nobody reviewed is `auto`).

Queue order, in three steps (all deterministic):
1. priority = the stored `doubt` of the group's most recent message, plus `SUGGESTION_BONUS` when any
   message of the group has a suggestion (shoppers' reactions hint the parse was wrong, so those go
   near the top); highest first, then most recent, then highest id.
2. Identical texts collapse into one item with a count (the representative is the most recent message
   that passes the filters).
3. Near-duplicates are spread out: the order is built in blocks of `SPREAD_BLOCK` items. Walking the
   sorted list, an item that is `similar` to one already placed in the current block is deferred; the
   deferred ones come first (in their order) when the next block is built. At most `SPREAD_LOOKAHEAD`
   items are looked at per block; if the block is still not full the deferred ones fill it in order.
   Blocks do not depend on `limit`/`offset`, so pages never overlap; the cost is
   O((offset + limit) * SPREAD_LOOKAHEAD) similarity tests plus one sort.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Tuple, TypedDict

import yaml
from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection, Engine

from actions.settings import acted_on
from common.schema import (
    ENTITY_TYPES,
    PRODUCT_TYPE,
    attribute_output_value,
    neutral_value,
    normalise_attribute_value,
)
from learning.db import (
    ACCEPTED,
    AUTO,
    CORRECTED,
    REVIEW_STATES,
    REVIEWED_STATES,
    SKIPPED,
    messages,
    review_events,
    suggestions,
    utcnow,
)
from nlu import PROJECT_ROOT
from nlu.pipeline_config import attribute_schema_of

DOMAIN_PATH = PROJECT_ROOT / "bot" / "domain.yml"

# Queue filter states beyond the exact ones: "unreviewed" is auto, "reviewed" is accepted or corrected.
UNREVIEWED, REVIEWED = "unreviewed", "reviewed"

# Added to a message's doubt when shoppers' reactions suggested another label (doubt itself is in [0, 1]).
SUGGESTION_BONUS = 0.5
# Near-duplicate spreading (see the module docstring).
SPREAD_BLOCK = 20
SPREAD_LOOKAHEAD = 200
JACCARD_SIMILAR = 0.6

# review_events.action values.
ACCEPT, CORRECT, SKIP, UNDO, BULK_ACCEPT = "accept", "correct", "skip", "undo", "bulk_accept"

_WORD_RE = re.compile(r"[^\W_]+", re.UNICODE)


class ReviewError(ValueError):
    """A review request the console must refuse (unknown message, invalid label); the message says why."""


class LabelEntity(TypedDict):
    start: int
    end: int
    entity: str
    value: str


class Label(TypedDict):
    """A reviewed label. Attribute values are as in the parse output: strings, `gift` a JSON boolean."""

    intent: str
    entities: List[LabelEntity]
    attributes: Dict[str, Any]


@dataclass
class QueueFilter:
    """What the reviewer narrowed the queue to; None means no restriction.

    `state`: "unreviewed" (auto), "reviewed" (accepted or corrected), one exact state, or None (all).
    `text`: a case-insensitive substring of the message text.
    """

    intent: Optional[str] = None
    channel: Optional[str] = None
    since: Optional[datetime] = None
    until: Optional[datetime] = None
    state: Optional[str] = None
    min_doubt: Optional[float] = None
    max_doubt: Optional[float] = None
    text: Optional[str] = None


@dataclass
class QueueItem:
    """One queue row: the most recent message of a group of identical texts, and the group's review."""

    message_id: int
    text: str
    count: int
    channel: str
    created_at: datetime
    intent: str
    intent_confidence: float
    intent_ranking: List[Dict[str, Any]]
    entities: List[Dict[str, Any]]
    attributes: Dict[str, Any]
    doubt: float
    state: str
    label: Optional[Label]
    suggestions: List[Dict[str, Any]] = field(default_factory=list)
    model_id: str = ""

    def to_json(self) -> Dict[str, Any]:
        """A JSON-ready dict (created_at as ISO 8601 UTC)."""
        out = asdict(self)
        out["created_at"] = _as_utc(self.created_at).isoformat()
        out["suggestions"] = [
            {**s, "created_at": _as_utc(s["created_at"]).isoformat() if s.get("created_at") else None}
            for s in self.suggestions
        ]
        return out


@dataclass
class QueuePage:
    items: List[QueueItem]
    total: int  # how many queue rows (collapsed groups) the filters show, over all pages


@dataclass(frozen=True)
class _Group:
    """A collapsed group as the ordering sees it."""

    text_key: str
    message_id: int
    created_at: datetime
    priority: float
    count: int
    intent: str
    words: FrozenSet[str]
    product_words: FrozenSet[str]


# ---------------------------------------------------------------------------------------------- schema


@lru_cache(maxsize=4)
def domain_intents(domain_path: Path = DOMAIN_PATH) -> Tuple[str, ...]:
    """The intents of the bot's domain, read once per path."""
    domain = yaml.safe_load(Path(domain_path).read_text(encoding="utf-8")) or {}
    names: List[str] = []
    for item in domain.get("intents") or []:
        names.append(next(iter(item)) if isinstance(item, Mapping) else str(item))
    return tuple(names)


@lru_cache(maxsize=1)
def attribute_schema() -> Dict[str, List[str]]:
    """The attributes the live model reads (config.yml's JointShoppingNLU step, else common/schema.py)."""
    return attribute_schema_of()


# ----------------------------------------------------------------------------------------- pure parts


def snap_span(text: str, start: int, end: int) -> Tuple[int, int]:
    """A span trimmed of white space and extended to whole words (a cut word is taken whole)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start == end:
        return start, end
    while start > 0 and text[start - 1].isalnum() and text[start].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum() and text[end - 1].isalnum():
        end += 1
    return start, end


def validate_label(text: str, label: Any, domain_path: Path = DOMAIN_PATH) -> Label:
    """The label the client sent, re-checked against `text` and the schema, in normal form.

    Spans are snapped to whole words and their value taken from the text; attributes not given take
    their neutral value. Raises ReviewError naming the first problem.
    """
    if not isinstance(label, Mapping):
        raise ReviewError("a label must be an object with intent, entities and attributes")
    unknown_keys = set(label) - {"intent", "entities", "attributes"}
    if unknown_keys:
        raise ReviewError(f"unknown label field(s): {', '.join(sorted(map(str, unknown_keys)))}")
    intent = label.get("intent")
    intents = domain_intents(domain_path)
    if not isinstance(intent, str) or intent not in intents:
        raise ReviewError(f"unknown intent {intent!r} (the domain's intents: {', '.join(intents)})")
    entities = _validate_entities(text, label.get("entities") or [])
    attributes = _validate_attributes(label.get("attributes") or {})
    return Label(intent=intent, entities=entities, attributes=attributes)


def _validate_entities(text: str, raw: Any) -> List[LabelEntity]:
    if not isinstance(raw, list):
        raise ReviewError("entities must be a list")
    spans: List[LabelEntity] = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise ReviewError("each entity must be an object with start, end and entity")
        start, end, kind = item.get("start"), item.get("end"), item.get("entity")
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in (start, end)):
            raise ReviewError(f"entity start and end must be integers, got {start!r} and {end!r}")
        if kind not in ENTITY_TYPES:
            raise ReviewError(f"unknown entity type {kind!r} (known: {', '.join(ENTITY_TYPES)})")
        if not 0 <= start < end <= len(text):
            raise ReviewError(f"entity span {start}-{end} is outside the text (length {len(text)})")
        start, end = snap_span(text, start, end)
        if start == end:
            raise ReviewError(f"entity span of {kind} covers only white space")
        spans.append(LabelEntity(start=start, end=end, entity=kind, value=text[start:end]))
    spans.sort(key=lambda e: (e["start"], e["end"]))
    for before, after in zip(spans, spans[1:], strict=False):
        if after["start"] < before["end"]:
            raise ReviewError(
                f"entities overlap: '{before['value']}' ({before['entity']}) and "
                f"'{after['value']}' ({after['entity']})"
            )
    return spans


def _validate_attributes(raw: Any) -> Dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise ReviewError("attributes must be an object")
    schema = attribute_schema()
    unknown = [str(name) for name in raw if name not in schema]
    if unknown:
        raise ReviewError(f"unknown attribute(s) {', '.join(unknown)} (known: {', '.join(schema)})")
    out: Dict[str, Any] = {}
    for name, values in schema.items():
        given = raw.get(name)
        value = neutral_value(name, values) if given is None else normalise_attribute_value(given)
        if value not in values:
            raise ReviewError(f"unknown value {given!r} for {name} (allowed: {', '.join(values)})")
        out[name] = attribute_output_value(value)
    return out


def parse_as_label(text: str, intent: str, entities: Any, attributes: Any) -> Label:
    """The model's parse as a label: its intent and spans, and each attribute by its neutral rule.

    An attribute's predicted value is kept when it is not neutral and its confidence reaches the
    attribute's threshold; otherwise the neutral value. Raises ReviewError when the parse is not a
    valid label (e.g. the intent is nlu_fallback, not a domain intent).
    """
    spans = [
        {"start": e.get("start"), "end": e.get("end"), "entity": e.get("entity")}
        for e in (entities or [])
        if isinstance(e, Mapping)
    ]
    return validate_label(
        text, {"intent": intent, "entities": spans, "attributes": _parse_attributes(attributes)}
    )


def remap_label(label: Label, from_text: str, to_text: str) -> Label:
    """`label` (made on `from_text`) carried onto `to_text`.

    Texts that differ only in case or white space (one queue group) keep every span exactly. Otherwise
    each span's value is looked for in `to_text`, left to right; a span whose value is gone is dropped.
    """
    if from_text == to_text:
        return label
    from_map, from_norm = _collapse(from_text)
    to_map, to_norm = _collapse(to_text)
    same_words = from_norm.lower() == to_norm.lower() and len(from_norm) == len(to_norm)
    positions = {index: i for i, index in enumerate(from_map)}
    entities: List[LabelEntity] = []
    searched_from = 0
    for ent in sorted(label["entities"], key=lambda e: (e["start"], e["end"])):
        first, last = positions.get(ent["start"]), positions.get(ent["end"] - 1)
        if same_words and first is not None and last is not None:
            new_start, new_end = to_map[first], to_map[last] + 1
        else:
            new_start = to_text.lower().find(ent["value"].lower(), searched_from)
            if new_start < 0 or not ent["value"]:
                continue
            new_end = new_start + len(ent["value"])
        searched_from = new_end
        entities.append({**ent, "start": new_start, "end": new_end, "value": to_text[new_start:new_end]})
    return Label(intent=label["intent"], entities=entities, attributes=dict(label["attributes"]))


def _collapse(text: str) -> Tuple[List[int], str]:
    """Text with runs of white space as one space and no edges, and each kept character's old index."""
    kept: List[int] = []
    chars: List[str] = []
    for index, char in enumerate(text):
        if char.isspace():
            if chars and chars[-1] != " ":
                chars.append(" ")
                kept.append(index)
            continue
        chars.append(char)
        kept.append(index)
    if chars and chars[-1] == " ":
        chars.pop()
        kept.pop()
    return kept, "".join(chars)


def words_of(text: str) -> FrozenSet[str]:
    """A message's normalised words: lower-case runs of letters and digits."""
    return frozenset(_WORD_RE.findall(text.lower()))


def similar(a: _Group, b: _Group) -> bool:
    """Near-duplicates: word sets with Jaccard >= JACCARD_SIMILAR, or same intent and same product words."""
    if a.product_words and a.intent == b.intent and a.product_words == b.product_words:
        return True
    union = len(a.words | b.words)
    return union > 0 and len(a.words & b.words) / union >= JACCARD_SIMILAR


def spread(groups: Sequence[_Group], wanted: int) -> List[_Group]:
    """The first `wanted` groups of the sorted `groups`, near-duplicates pushed to later blocks."""
    order: List[_Group] = []
    pending: List[_Group] = list(groups)
    while pending and len(order) < wanted:
        block: List[_Group] = []
        deferred: List[_Group] = []
        looked = 0
        for item in pending:
            if len(block) == SPREAD_BLOCK or looked == SPREAD_LOOKAHEAD:
                break
            looked += 1
            if any(similar(item, placed) for placed in block):
                deferred.append(item)
            else:
                block.append(item)
        rest = pending[looked:]
        while len(block) < SPREAD_BLOCK and deferred:
            block.append(deferred.pop(0))
        order += block
        pending = deferred + rest
    return order[:wanted] if wanted < len(order) else order


# ------------------------------------------------------------------------------------------ the queue


def queue(
    engine: Engine, filters: Optional[QueueFilter] = None, limit: int = 50, offset: int = 0
) -> QueuePage:
    """One page of the review queue (see the module docstring for the order)."""
    filters = filters or QueueFilter()
    limit, offset = max(0, int(limit)), max(0, int(offset))
    with engine.connect() as conn:
        groups = _filtered_groups(conn, filters)
        page = spread(groups, offset + limit)[offset : offset + limit]
        items = [_queue_item(conn, group) for group in page]
    return QueuePage(items=items, total=len(groups))


def _filtered_groups(conn: Connection, filters: QueueFilter) -> List[_Group]:
    """The groups the filters show, sorted by priority (highest first), then most recent."""
    if filters.state not in (None, UNREVIEWED, REVIEWED, *REVIEW_STATES):
        raise ReviewError(f"unknown state filter {filters.state!r}")
    m = messages.c
    rows = conn.execute(
        select(m.id, m.text_key, m.text, m.created_at, m.doubt, m.intent, m.entities)
        .where(and_(True, *_row_conditions(filters)))
        .order_by(m.created_at.desc(), m.id.desc())
    ).all()
    states = _group_reviews(conn)
    wanted_states = _wanted_states(filters.state)
    hinted = set(
        conn.execute(
            select(m.text_key).join(suggestions, suggestions.c.message_id == m.id).distinct()
        ).scalars()
    )
    firsts: Dict[str, Any] = {}
    counts: Dict[str, int] = {}
    for row in rows:
        state = states[row.text_key]["state"] if row.text_key in states else AUTO
        if wanted_states is not None and state not in wanted_states:
            continue
        firsts.setdefault(row.text_key, row)
        counts[row.text_key] = counts.get(row.text_key, 0) + 1
    groups = [
        _Group(
            text_key=key,
            message_id=row.id,
            created_at=row.created_at,
            priority=float(row.doubt) + (SUGGESTION_BONUS if key in hinted else 0.0),
            count=counts[key],
            intent=row.intent,
            words=words_of(row.text),
            product_words=frozenset(
                str(e.get("value", "")).lower()
                for e in row.entities or []
                if isinstance(e, Mapping) and e.get("entity") == PRODUCT_TYPE
            ),
        )
        for key, row in firsts.items()
    ]
    groups.sort(key=lambda g: (-g.priority, -_as_utc(g.created_at).timestamp(), -g.message_id))
    return groups


def _row_conditions(filters: QueueFilter) -> List[Any]:
    m = messages.c
    conditions: List[Any] = []
    if filters.intent:
        conditions.append(m.intent == filters.intent)
    if filters.channel:
        conditions.append(m.channel == filters.channel)
    if filters.since is not None:
        conditions.append(m.created_at >= _as_utc(filters.since))
    if filters.until is not None:
        conditions.append(m.created_at < _as_utc(filters.until))
    if filters.min_doubt is not None:
        conditions.append(m.doubt >= float(filters.min_doubt))
    if filters.max_doubt is not None:
        conditions.append(m.doubt <= float(filters.max_doubt))
    if filters.text:
        conditions.append(func.lower(m.text).contains(filters.text.lower(), autoescape=True))
    return conditions


def _wanted_states(state: Optional[str]) -> Optional[Tuple[str, ...]]:
    if state is None:
        return None
    if state == UNREVIEWED:
        return (AUTO,)
    if state == REVIEWED:
        return REVIEWED_STATES
    return (state,)


def _group_reviews(conn: Connection) -> Dict[str, Dict[str, Any]]:
    """{text_key: the most recently reviewed message's id, text, state, label} for every reviewed group."""
    m = messages.c
    rows = conn.execute(
        select(m.id, m.text_key, m.text, m.state, m.label, m.reviewed_at)
        .where(m.state != AUTO)
        .order_by(m.reviewed_at.asc(), m.id.asc())
    ).all()
    return {row.text_key: dict(row._mapping) for row in rows}  # later rows overwrite earlier ones


def reviewed_examples(engine: Engine) -> List[Tuple[str, str, Label]]:
    """(text_key, text, label) of every group whose review is accepted or corrected, by text_key."""
    with engine.connect() as conn:
        reviews = _group_reviews(conn)
    return sorted(
        (key, review["text"], review["label"])
        for key, review in reviews.items()
        if review["state"] in REVIEWED_STATES and review["label"]
    )


def _queue_item(conn: Connection, group: _Group) -> QueueItem:
    m = messages.c
    row = conn.execute(select(messages).where(m.id == group.message_id)).one()
    review = _group_reviews_for(conn, group.text_key)
    ids = list(conn.execute(select(m.id).where(m.text_key == group.text_key)).scalars())
    return QueueItem(
        message_id=row.id,
        text=row.text,
        count=group.count,
        channel=row.channel,
        created_at=_as_utc(row.created_at),
        intent=row.intent,
        intent_confidence=float(row.intent_confidence),
        intent_ranking=list(row.intent_ranking or []),
        entities=list(row.entities or []),
        attributes=dict(row.attributes or {}),
        doubt=float(row.doubt),
        state=review["state"] if review else AUTO,
        label=remap_label(review["label"], review["text"], row.text) if review and review["label"] else None,
        suggestions=_suggestions_of(conn, ids),
        model_id=row.model_id,
    )


def _group_reviews_for(conn: Connection, text_key: str) -> Optional[Dict[str, Any]]:
    m = messages.c
    row = conn.execute(
        select(m.id, m.text, m.state, m.label)
        .where(m.text_key == text_key, m.state != AUTO)
        .order_by(m.reviewed_at.desc(), m.id.desc())
        .limit(1)
    ).first()
    return dict(row._mapping) if row else None


def _suggestions_of(conn: Connection, message_ids: Iterable[int]) -> List[Dict[str, Any]]:
    s, m = suggestions.c, messages.c
    rows = conn.execute(
        select(s.id, s.message_id, s.kind, s.label, s.evidence, s.related_message_id, s.created_at, m.text)
        .select_from(suggestions.outerjoin(messages, m.id == s.related_message_id))
        .where(s.message_id.in_(list(message_ids)))
        .order_by(s.created_at.desc(), s.id.desc())
    ).all()
    return [
        {
            "id": row.id,
            "message_id": row.message_id,
            "kind": row.kind,
            "label": row.label,
            "evidence": row.evidence,
            "related_message_id": row.related_message_id,
            "related_text": row.text,
            "created_at": _as_utc(row.created_at),
        }
        for row in rows
    ]


# -------------------------------------------------------------------------------------- review actions


def accept(engine: Engine, message_id: int, username: str) -> Label:
    """The model's parse of the message becomes its group's label (state accepted); returns the label."""
    with engine.begin() as conn:
        row = _message(conn, message_id)
        label = parse_as_label(row.text, row.intent, row.entities, row.attributes)
        _apply(conn, row, ACCEPTED, label, username, ACCEPT)
    return label


def correct(engine: Engine, message_id: int, label: Any, username: str) -> Label:
    """A reviewer's label (validated against the message's text) for the group (state corrected)."""
    with engine.begin() as conn:
        row = _message(conn, message_id)
        checked = validate_label(row.text, label)
        _apply(conn, row, CORRECTED, checked, username, CORRECT)
    return checked


def skip(engine: Engine, message_id: int, username: str) -> None:
    """The reviewer passed the group over (state skipped, no label)."""
    with engine.begin() as conn:
        row = _message(conn, message_id)
        _apply(conn, row, SKIPPED, None, username, SKIP)


def bulk_accept(engine: Engine, filters: Optional[QueueFilter], username: str) -> int:
    """Accept every unreviewed group the filters show (all pages); returns how many groups.

    Groups whose parse is not a valid label (e.g. intent nlu_fallback) are left for a person.
    One review event covers the whole batch, so one undo reverts it.
    """
    filters = filters or QueueFilter()
    state = filters.state
    if state in (REVIEWED, ACCEPTED, CORRECTED, SKIPPED):
        return 0  # the filter shows no unreviewed message
    unreviewed = QueueFilter(**{**asdict(filters), "state": UNREVIEWED})
    with engine.begin() as conn:
        groups = _filtered_groups(conn, unreviewed)
        before: List[Dict[str, Any]] = []
        after: List[Dict[str, Any]] = []
        accepted = 0
        for group in groups:
            row = _message(conn, group.message_id)
            try:
                label = parse_as_label(row.text, row.intent, row.entities, row.attributes)
            except ReviewError:
                continue
            old, new = _update_group(conn, row, ACCEPTED, label, username)
            before += old
            after += new
            accepted += 1
        if accepted:
            _event(conn, groups[0].message_id, username, BULK_ACCEPT, before, after)
    return accepted


def undo(engine: Engine, username: str) -> Optional[int]:
    """Revert this user's last action not yet undone; returns its message id (None when nothing to undo).

    Undo works like a stack: walking the user's events back, each undo cancels the nearest earlier action
    not cancelled yet. Only messages still as that action left them are reverted (another reviewer's
    later change stands).
    """
    e = review_events.c
    with engine.begin() as conn:
        history = conn.execute(select(e.id, e.action).where(e.username == username).order_by(e.id.desc()))
        pending_undos, target_id = 0, None
        for event_id, action in history:
            if action == UNDO:
                pending_undos += 1
            elif pending_undos:
                pending_undos -= 1
            else:
                target_id = event_id
                break
        history.close()
        if target_id is None:
            return None
        target = conn.execute(select(e.id, e.message_id, e.before, e.after).where(e.id == target_id)).one()
        now_rows: List[Dict[str, Any]] = []
        after_by_id = {r["id"]: r for r in (target.after or {}).get("rows", [])}
        for old in (target.before or {}).get("rows", []):
            current = conn.execute(
                select(messages.c.state, messages.c.label).where(messages.c.id == old["id"])
            ).first()
            left = after_by_id.get(old["id"])
            if current is None or left is None:
                continue
            if current.state != left["state"] or current.label != left["label"]:
                continue
            conn.execute(
                messages.update()
                .where(messages.c.id == old["id"])
                .values(
                    state=old["state"],
                    label=old["label"],
                    reviewed_by=old["reviewed_by"],
                    reviewed_at=_parse_time(old["reviewed_at"]),
                )
            )
            now_rows.append(old)
        conn.execute(
            review_events.insert().values(
                message_id=target.message_id,
                username=username,
                action=UNDO,
                before={"undoes": target.id},
                after={"undoes": target.id, "rows": now_rows},
                created_at=utcnow(),
            )
        )
        return int(target.message_id)


def _message(conn: Connection, message_id: int) -> Any:
    row = conn.execute(select(messages).where(messages.c.id == message_id)).first()
    if row is None:
        raise ReviewError(f"no message {message_id}")
    return row


def _apply(
    conn: Connection, row: Any, state: str, label: Optional[Label], username: str, action: str
) -> None:
    before, after = _update_group(conn, row, state, label, username)
    _event(conn, row.id, username, action, before, after)


def _update_group(
    conn: Connection, row: Any, state: str, label: Optional[Label], username: str
) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """Set state and label on every message of the row's group; their rows before and after."""
    m = messages.c
    members = conn.execute(
        select(m.id, m.text, m.state, m.label, m.reviewed_by, m.reviewed_at).where(m.text_key == row.text_key)
    ).all()
    now = utcnow()
    before: List[Dict[str, Any]] = []
    after: List[Dict[str, Any]] = []
    for member in members:
        own = remap_label(label, row.text, member.text) if label is not None else None
        conn.execute(
            messages.update()
            .where(m.id == member.id)
            .values(state=state, label=own, reviewed_by=username, reviewed_at=now)
        )
        before.append(
            _snapshot(member.id, member.state, member.label, member.reviewed_by, member.reviewed_at)
        )
        after.append(_snapshot(member.id, state, own, username, now))
    return before, after


def _snapshot(
    message_id: int, state: str, label: Any, reviewed_by: Optional[str], reviewed_at: Optional[datetime]
) -> Dict[str, Any]:
    return {
        "id": message_id,
        "state": state,
        "label": label,
        "reviewed_by": reviewed_by,
        "reviewed_at": _as_utc(reviewed_at).isoformat() if reviewed_at else None,
    }


def _event(
    conn: Connection,
    message_id: int,
    username: str,
    action: str,
    before: List[Dict[str, Any]],
    after: List[Dict[str, Any]],
) -> None:
    conn.execute(
        review_events.insert().values(
            message_id=message_id,
            username=username,
            action=action,
            before={"rows": before},
            after={"rows": after},
            created_at=utcnow(),
        )
    )


# ----------------------------------------------------------------------------------------- agreement


def agreement(engine: Engine) -> Dict[str, Any]:
    """How often reviewers kept the model's reading, over reviewed groups (accepted or corrected).

    Per group (its most recently reviewed message): the share where the label keeps the model's intent,
    its entity spans and types exactly, and each attribute (against the parse by the neutral rule). A
    share is None when nothing is reviewed. `states` counts messages per review state.
    """
    m = messages.c
    with engine.connect() as conn:
        reviews = _group_reviews(conn)
        state_counts = dict(conn.execute(select(m.state, func.count()).group_by(m.state)).all())
        reviewed = [r for r in reviews.values() if r["state"] in REVIEWED_STATES and r["label"]]
        parses = {
            row.id: row
            for row in conn.execute(
                select(m.id, m.text, m.intent, m.entities, m.attributes).where(
                    m.id.in_([r["id"] for r in reviewed])
                )
            ).all()
        }
    schema = attribute_schema()
    kept = {"intent": 0, "entities": 0, **{f"attribute:{name}": 0 for name in schema}}
    for review in reviewed:
        parse = parses[review["id"]]
        label = review["label"]
        kept["intent"] += label["intent"] == parse.intent
        model_spans = {
            (e.get("start"), e.get("end"), e.get("entity"))
            for e in parse.entities or []
            if isinstance(e, Mapping)
        }
        kept["entities"] += model_spans == {(e["start"], e["end"], e["entity"]) for e in label["entities"]}
        model_attributes = _parse_attributes(parse.attributes)
        for name in schema:
            kept[f"attribute:{name}"] += label["attributes"].get(name) == model_attributes.get(name)
    n = len(reviewed)
    share = {key: (value / n if n else None) for key, value in kept.items()}
    return {
        "reviewed": n,
        "intent": share["intent"],
        "entities": share["entities"],
        "attributes": {name: share[f"attribute:{name}"] for name in schema},
        "states": {state: int(state_counts.get(state, 0)) for state in REVIEW_STATES},
    }


def _parse_attributes(attributes: Any) -> Dict[str, Any]:
    """The parse's attributes as a label would take them, in output form: a non-neutral value is kept only
    where the bot acts on it (actions.settings.acted_on); below, the attribute is neutral."""
    schema = attribute_schema()
    out: Dict[str, Any] = {}
    for name, values in schema.items():
        item = attributes.get(name) if isinstance(attributes, Mapping) else None
        neutral = neutral_value(name, values)
        value = normalise_attribute_value(item.get("value")) if isinstance(item, Mapping) else neutral
        confidence = item.get("confidence") if isinstance(item, Mapping) else None
        kept = value in values and value != neutral and acted_on(name, confidence)
        out[name] = attribute_output_value(value if kept else neutral)
    return out


# ------------------------------------------------------------------------------------------- helpers


def _as_utc(moment: datetime) -> datetime:
    """Stored times are UTC; SQLite gives them back naive."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _parse_time(value: Optional[str]) -> Optional[datetime]:
    return datetime.fromisoformat(value) if value else None
