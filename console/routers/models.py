"""The console's Models page (admins): the shadow model's agreement, the A/B test's arms, and the
switch of the running Rasa server after a promote or rollback.

    GET  /models                     the page (console/templates/models.html, static/models.js)
    GET  /api/admin/shadow           the registry's shadow, agreement per shadow model, its latest
                                     disagreements
    POST /api/admin/shadow           {"model_id": id | null}: choose the shadow (the worker follows it)
    GET  /api/admin/ab?days=N        what the Rasa server serves (live, candidate, share) and the arms
                                     compared on the last N days of the log (ops/ab.py)
    POST /api/admin/ab               {"model_id": id | null, "share": 0..1}: start, change or stop a test

Promote and rollback stay in console/routers/admin.py; they call `switch_running_server` so the Rasa
server (SHOPCUE_CONSOLE_RASA_URL, token SHOPCUE_RASA_TOKEN) serves the new live model without a restart.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Annotated, Any, Dict, Optional

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from console.auth import ConsoleUser, require_role
from console.deps import EngineDep
from console.shell import NavPage, register_page, render
from learning import registry
from learning.db import ADMIN, utcnow
from ops import ab, shadow
from ops.serving_client import DEFAULT_SHARE, RASA_URL_ENV, serve_candidate, serve_live, serving

Admin = Annotated[ConsoleUser, Depends(require_role(ADMIN))]
page_router = APIRouter()
router = APIRouter(prefix="/api/admin", tags=["admin"])
register_page(NavPage("/models", "Models", (ADMIN,)))


class ShadowRequest(BaseModel):
    model_id: Optional[str] = None


class ABRequest(BaseModel):
    model_id: Optional[str] = None
    share: float = Field(default=DEFAULT_SHARE, ge=0, le=1)


def switch_running_server(model_id: str) -> Dict[str, Any]:
    """Ask the Rasa server to serve `model_id` (loaded beside the old one, then swapped in): the
    server's view, or the reason it was not switched (the registry change stands either way). Only a
    server named in SHOPCUE_CONSOLE_RASA_URL is asked: never a guessed one."""
    if not os.environ.get(RASA_URL_ENV):
        return {"serving_error": f"{RASA_URL_ENV} is not set: restart the bot to serve the new live model"}
    try:
        return {"serving": serve_live(model_id)}
    except RuntimeError as error:
        return {"serving_error": str(error)}


@page_router.get("/models", include_in_schema=False)
def models_page(request: Request, user: Admin) -> Any:
    return render(request, "models.html", user, title="Models")


@router.get("/shadow")
def shadow_view(engine: EngineDep, _user: Admin) -> Dict[str, Any]:
    current = registry.shadow_model(engine)
    return {
        "shadow": current.as_dict() if current else None,
        "agreement": shadow.agreement_by_model(engine),
        "disagreements": shadow.recent_disagreements(engine, current.id) if current else [],
    }


@router.post("/shadow")
def choose_shadow(body: ShadowRequest, engine: EngineDep, _user: Admin) -> Dict[str, Any]:
    try:
        chosen = registry.set_shadow(engine, body.model_id)
    except registry.RegistryError as error:
        status = 404 if "no model" in str(error) else 409
        raise HTTPException(status_code=status, detail=str(error)) from error
    return {"shadow": chosen.as_dict() if chosen else None}


@router.get("/ab")
def ab_view(engine: EngineDep, _user: Admin, days: int = Query(default=14, ge=1, le=365)) -> Dict[str, Any]:
    if not os.environ.get(RASA_URL_ENV):
        return {"serving_error": f"{RASA_URL_ENV} is not set", "comparison": None}
    try:
        view = serving(timeout=10.0)
    except RuntimeError as error:
        return {"serving_error": str(error), "comparison": None}
    live, candidate = view.get("live") or {}, view.get("candidate") or {}
    comparison = None
    if live.get("id") and candidate.get("id"):
        comparison = ab.arm_comparison(engine, live["id"], candidate["id"], utcnow() - timedelta(days=days))
    return {"serving": view, "comparison": comparison, "days": days}


@router.post("/ab")
def ab_start(body: ABRequest, _user: Admin) -> Dict[str, Any]:
    try:
        return {"serving": serve_candidate(body.model_id, body.share)}
    except RuntimeError as error:
        raise HTTPException(status_code=502, detail=str(error)) from error
