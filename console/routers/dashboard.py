"""The console's Dashboard page (reviewers, admins): live monitoring over the conversation log.

    GET /dashboard              the page (console/templates/dashboard.html, static/dashboard.js, uPlot)
    GET /api/dashboard?days=N   the figures of the last N days (ops/dashboard.py) with the alerts
                                (ops/alerts.py) and the thresholds they were checked against

The held-out confidences and the training intent mix come from the live model's baseline file
(ops/monitor_baseline.py; SHOPCUE_MONITOR_BASELINE names another), else the training mix is read
from the console's data directory (cached) and the held-out histogram is left out.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any, Dict, Optional, Tuple

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.engine import Engine

from console.auth import ConsoleUser, require_role
from console.deps import EngineDep, SettingsDep
from console.shell import NavPage, register_page, render
from learning.db import REVIEWER
from ops import alerts, dashboard
from ops.monitor_baseline import current_baseline_path, load_baseline, training_intent_counts

Reviewer = Annotated[ConsoleUser, Depends(require_role(REVIEWER))]
page_router = APIRouter()
router = APIRouter(prefix="/api", tags=["dashboard"])
register_page(NavPage("/dashboard", "Dashboard", (REVIEWER,)))

_cache: Dict[Tuple[str, float], Optional[Dict[str, Any]]] = {}
_lock = threading.Lock()


def baseline(engine: Engine) -> Optional[Dict[str, Any]]:
    """The current baseline file's contents, read again only when the file changes."""
    path = current_baseline_path(engine)
    if path is None or not path.is_file():
        return None
    key = (str(path), path.stat().st_mtime)
    with _lock:
        if key not in _cache:
            _cache.clear()
            _cache[key] = load_baseline(path)
        return _cache[key]


def training_mix(found: Optional[Dict[str, Any]], data_dir: Path) -> Dict[str, float]:
    stored = (found or {}).get("training_intents")
    if isinstance(stored, dict) and stored:
        return {str(k): float(v) for k, v in stored.items()}
    return {k: float(v) for k, v in training_intent_counts(data_dir).items()}


@page_router.get("/dashboard", include_in_schema=False)
def dashboard_page(request: Request, user: Reviewer) -> Any:
    return render(request, "dashboard.html", user, title="Dashboard")


@router.get("/dashboard")
def dashboard_figures(engine: EngineDep, settings: SettingsDep, user: Reviewer,
                      days: int = Query(7, ge=1, le=dashboard.MAX_DAYS)) -> Dict[str, Any]:
    found = baseline(engine)
    heldout = (found or {}).get("heldout_confidences") or None
    figures = dashboard.build(engine, days, training_mix(found, settings.data_dir), heldout)
    thresholds = alerts.load_thresholds()
    breaches = alerts.check(figures["summary"], thresholds)
    alerts.ALERT_LOG.update(breaches)
    figures["alerts"] = [alert.to_json() for alert in breaches]
    figures["thresholds"] = thresholds.to_json()
    figures["baseline"] = {"model": (found or {}).get("model"), "created_at": (found or {}).get("created_at")}
    return figures
