"""The review queue: its page and its JSON API (reviewers and admins).

    GET  /review                        the review page (console/templates/review.html + static/review.js)
    GET  /api/queue                     messages in doubt order; filters as query parameters, limit/offset
    GET  /api/schema                    intents (bot/domain.yml), entity types, attributes (common/schema.py)
    POST /api/messages/{id}/accept      the model's parse is right
    POST /api/messages/{id}/correct     a reviewer's label (JSON: intent, entities, attributes)
    POST /api/messages/{id}/skip        pass it over
    POST /api/undo                      undo this reviewer's latest action; the message it touched
    POST /api/bulk-accept               accept every unreviewed message a filter shows; how many
    POST /api/export                    write reviewed examples under <data dir>/nlu/reviewed/
    GET  /api/agreement                 how often reviewers agreed with the model

The work itself is learning/review.py's and learning/export.py's; this module maps HTTP to it (a
`ReviewError` is a 422 with its message).
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Dict, List, Optional

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from common.schema import ENTITY_TYPES, neutral_value
from console.auth import ConsoleUser, require_role
from console.deps import EngineDep, SettingsDep
from console.shell import render
from learning import export, review
from learning.db import ACCEPTED, CORRECTED, REVIEWER, SKIPPED

# The words a reviewer's selection snaps to: runs of letters and digits, or any other single character.
# learning.review.snap_span widens a stored span to exactly these runs, so a span is saved as drawn.
SPAN_WORD = re.compile(r"[^\W_]+|\S")

Reviewer = Annotated[ConsoleUser, Depends(require_role(REVIEWER))]

page_router = APIRouter(tags=["review"])
api_router = APIRouter(prefix="/api", tags=["review"])


# ---- request and response models ----------------------------------------------------------------------


class Span(BaseModel):
    """An entity span by character offsets. `value` may be sent but the message's text decides it."""

    start: int = Field(ge=0)
    end: int = Field(gt=0)
    entity: str
    value: Optional[str] = None


class Label(BaseModel):
    """A reviewer's label for one message; attribute values as the schema spells them ("true", "kid")."""

    intent: str
    entities: List[Span] = []
    attributes: Dict[str, str] = {}


class Filters(BaseModel):
    """Which messages a queue page or a bulk action covers; every field optional."""

    intent: Optional[str] = None
    channel: Optional[str] = None
    since: Optional[datetime] = None
    until: Optional[datetime] = None
    # "unreviewed", "reviewed", or one review state exactly (auto, accepted, corrected, skipped)
    state: Optional[str] = None
    min_doubt: Optional[float] = Field(default=None, ge=0, le=1)
    max_doubt: Optional[float] = Field(default=None, ge=0, le=1)
    text: Optional[str] = None

    def to_queue_filter(self) -> review.QueueFilter:
        return review.QueueFilter(**self.dict())


class QueuePage(BaseModel):
    items: List[Dict[str, Any]]
    total: int
    limit: int
    offset: int


class SchemaOut(BaseModel):
    intents: List[str]
    entity_types: List[str]
    attributes: Dict[str, List[str]]
    neutral: Dict[str, str]  # each attribute's "no evidence" value


class Reviewed(BaseModel):
    """What a review action left: the message's state and, when accepted or corrected, its label."""

    message_id: int
    state: str
    label: Optional[Dict[str, Any]] = None


class Undone(BaseModel):
    message_id: Optional[int]


class BulkAccepted(BaseModel):
    accepted: int


def filters_from_query(
    intent: Optional[str] = None,
    channel: Optional[str] = None,
    since: Optional[datetime] = None,
    until: Optional[datetime] = None,
    state: Optional[str] = None,
    min_doubt: Annotated[Optional[float], Query(ge=0, le=1)] = None,
    max_doubt: Annotated[Optional[float], Query(ge=0, le=1)] = None,
    text: Optional[str] = None,
) -> Filters:
    """The queue's filters from query parameters; empty strings (blank form fields) count as unset."""
    return Filters(
        intent=intent or None, channel=channel or None, since=since, until=until, state=state or None,
        min_doubt=min_doubt, max_doubt=max_doubt, text=text or None,
    )


def review_errors_as_422(call: Any, *args: Any) -> Any:
    """Run a learning.review call; its ReviewError (bad input, unknown message) is the client's 422."""
    try:
        return call(*args)
    except review.ReviewError as error:
        raise HTTPException(status_code=422, detail=str(error)) from error


# ---- the page -----------------------------------------------------------------------------------------


@page_router.get("/review", include_in_schema=False)
def review_page(request: Request, user: Reviewer) -> Response:
    return render(request, "review.html", user, title="Review")


# ---- the API ------------------------------------------------------------------------------------------


@api_router.get("/queue", response_model=QueuePage)
def queue(
    engine: EngineDep,
    _user: Reviewer,
    filters: Annotated[Filters, Depends(filters_from_query)],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> QueuePage:
    """One page of the queue, most doubtful first (learning.review's order). Each item also carries its
    `words` (the units a drawn span snaps to) and its `proposal`: the label an accept would store (the
    parse with low-confidence attributes made neutral), or null when the parse is no valid label."""
    page = review_errors_as_422(review.queue, engine, filters.to_queue_filter(), limit, offset)
    items = []
    for item in page.items:
        data = item.to_json()
        data["words"] = [{"start": m.start(), "end": m.end()} for m in SPAN_WORD.finditer(item.text)]
        try:
            data["proposal"] = review.parse_as_label(item.text, item.intent, item.entities, item.attributes)
        except review.ReviewError:
            data["proposal"] = None
        items.append(data)
    return QueuePage(items=items, total=page.total, limit=limit, offset=offset)


@api_router.get("/schema", response_model=SchemaOut)
def schema(_user: Reviewer) -> SchemaOut:
    """What a label may say: the domain's intents, the entity types, the attributes the live model reads
    (learning.review validates labels against exactly these)."""
    attributes = review.attribute_schema()
    return SchemaOut(
        intents=list(review.domain_intents()),
        entity_types=list(ENTITY_TYPES),
        attributes={name: list(values) for name, values in attributes.items()},
        neutral={name: neutral_value(name, values) for name, values in attributes.items()},
    )


@api_router.post("/messages/{message_id}/accept", response_model=Reviewed)
def accept(message_id: int, engine: EngineDep, user: Reviewer) -> Reviewed:
    label = review_errors_as_422(review.accept, engine, message_id, user.username)
    return Reviewed(message_id=message_id, state=ACCEPTED, label=label)


@api_router.post("/messages/{message_id}/correct", response_model=Reviewed)
def correct(message_id: int, label: Label, engine: EngineDep, user: Reviewer) -> Reviewed:
    checked = review_errors_as_422(review.correct, engine, message_id, label.dict(), user.username)
    return Reviewed(message_id=message_id, state=CORRECTED, label=checked)


@api_router.post("/messages/{message_id}/skip", response_model=Reviewed)
def skip(message_id: int, engine: EngineDep, user: Reviewer) -> Reviewed:
    review_errors_as_422(review.skip, engine, message_id, user.username)
    return Reviewed(message_id=message_id, state=SKIPPED)


@api_router.post("/undo", response_model=Undone)
def undo(engine: EngineDep, user: Reviewer) -> Undone:
    return Undone(message_id=review_errors_as_422(review.undo, engine, user.username))


@api_router.post("/bulk-accept", response_model=BulkAccepted)
def bulk_accept(filters: Filters, engine: EngineDep, user: Reviewer) -> BulkAccepted:
    count = review_errors_as_422(review.bulk_accept, engine, filters.to_queue_filter(), user.username)
    return BulkAccepted(accepted=count)


@api_router.post("/export")
def export_reviewed(engine: EngineDep, settings: SettingsDep, _user: Reviewer) -> Dict[str, Any]:
    """Write the reviewed examples under <data dir>/nlu/reviewed/; the export's counts and paths."""
    result = review_errors_as_422(export.export_reviewed, engine, settings.data_dir, settings.heldout_path)
    return _jsonable(dataclasses.asdict(result))


@api_router.get("/agreement")
def agreement(engine: EngineDep, _user: Reviewer) -> Dict[str, Any]:
    return _jsonable(review.agreement(engine))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
