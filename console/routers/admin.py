"""The console's model administration (admins only): retrain in the background, the model registry,
promote and roll back.

    POST /api/admin/retrain               start learning.retrain in a background thread (409 while one runs)
                                          JSON, all optional: {"epochs": "NAME=N,...", "promote": true,
                                          "tolerance": 0.005}
    GET  /api/admin/retrain               the job: state, progress lines, the comparison table, the outcome
    GET  /api/admin/models                registered models (newest first) and the promote/rollback history
    POST /api/admin/models/{id}/promote   make a model live (the live one is retired)
    POST /api/admin/rollback              bring back the model the live one replaced
                                          (both then switch the running Rasa server: `serving` or
                                          `serving_error` in the answer, console/routers/models.py)

The work is learning/retrain.py's and learning/registry.py's. One job per app (`app.state`): a retrain
trains a full model for many minutes, and two at once would share the CPU and race for the registry.
Console POSTs carry the session's X-CSRF-Token (checked by console.auth.current_user).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Callable, Dict, List, Optional

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from console.auth import ConsoleUser, require_role
from console.deps import EngineDep, SettingsDep
from learning import registry
from learning.db import ADMIN
from learning.retrain import DEFAULT_TOLERANCE, RetrainOptions, RetrainResult, parse_epochs, retrain

Admin = Annotated[ConsoleUser, Depends(require_role(ADMIN))]
router = APIRouter(prefix="/api/admin", tags=["admin"])
MAX_LINES = 500

IDLE, RUNNING, DONE, FAILED = "idle", "running", "done", "failed"


class RetrainRequest(BaseModel):
    epochs: str = ""
    promote: bool = True
    tolerance: float = Field(default=DEFAULT_TOLERANCE, ge=0, le=1)


@dataclass
class RetrainJob:
    """The app's one retrain job: its progress lines and outcome, read by GET while the thread writes."""

    state: str = IDLE
    started_by: str = ""
    started_at: Optional[float] = None
    finished_at: Optional[float] = None
    lines: List[str] = field(default_factory=list)
    outcome: Dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, line: str) -> None:
        with self.lock:
            self.lines.append(f"{time.strftime('%H:%M:%S')} {line}")
            del self.lines[:-MAX_LINES]

    def view(self) -> Dict[str, Any]:
        with self.lock:
            return {"state": self.state, "started_by": self.started_by, "started_at": self.started_at,
                    "finished_at": self.finished_at, "lines": list(self.lines), **self.outcome}


Runner = Callable[..., RetrainResult]


def _job(request: Request) -> RetrainJob:
    state = request.app.state
    if not hasattr(state, "retrain_job"):
        state.retrain_job = RetrainJob()
    return state.retrain_job


def _serve_dir(request: Request) -> Path:
    """Where promotion places the live archive: models/, unless the app was given another (tests)."""
    return Path(getattr(request.app.state, "serve_dir", registry.DEFAULT_SERVE_DIR))


def _runner(request: Request) -> Runner:
    """learning.retrain.retrain, unless the app was given another (tests of this HTTP layer)."""
    return getattr(request.app.state, "retrain_runner", retrain)


def summary(result: RetrainResult) -> Dict[str, Any]:
    """The JSON outcome of a finished retrain."""
    return {
        "candidate": result.candidate.as_dict(),
        "live": result.live.as_dict() if result.live else None,
        "table": result.table,
        "promoted": result.promoted,
        "reasons": result.reasons,
    }


@router.post("/retrain", status_code=202)
def start_retrain(request: Request, engine: EngineDep, settings: SettingsDep, user: Admin,
                  body: Optional[RetrainRequest] = None) -> Dict[str, Any]:
    body = body or RetrainRequest()
    try:
        epochs = parse_epochs(body.epochs)
    except ValueError as error:
        raise HTTPException(status_code=422, detail=str(error)) from error
    job, run = _job(request), _runner(request)
    with job.lock:
        if job.state == RUNNING:
            raise HTTPException(status_code=409, detail=f"a retrain started by {job.started_by} is running")
        job.state, job.started_by, job.started_at, job.finished_at = RUNNING, user.username, time.time(), None
        job.lines, job.outcome = [], {}
    serve_dir = _serve_dir(request)
    options = RetrainOptions(data=settings.data_dir, reviewed_heldout=settings.heldout_path, epochs=epochs,
                             promote=body.promote, tolerance=body.tolerance, username=user.username,
                             serve_dir=serve_dir, candidates_dir=serve_dir / "candidates")

    def work() -> None:
        try:
            result = run(options, engine, job.add)
            outcome, state = summary(result), DONE
        except Exception as error:  # the job reports it; the console keeps serving
            outcome, state = {"error": f"{type(error).__name__}: {error}"}, FAILED
            job.add(f"failed: {outcome['error']}")
        with job.lock:
            job.outcome, job.state, job.finished_at = outcome, state, time.time()

    threading.Thread(target=work, name="console-retrain", daemon=True).start()
    return job.view()


@router.get("/retrain")
def retrain_status(request: Request, _user: Admin) -> Dict[str, Any]:
    return _job(request).view()


@router.get("/models")
def models(engine: EngineDep, _user: Admin) -> Dict[str, Any]:
    history = [{**e, "created_at": e["created_at"].isoformat()} for e in registry.history(engine)]
    return {"models": [m.as_dict() for m in registry.list_models(engine)], "history": history}


@router.post("/models/{model_id}/promote")
def promote(model_id: str, request: Request, engine: EngineDep, user: Admin) -> Dict[str, Any]:
    _refuse_while_retraining(request)
    try:
        record = registry.promote(engine, model_id, user.username, _serve_dir(request))
    except registry.RegistryError as error:
        status = 404 if "no model" in str(error) else 409
        raise HTTPException(status_code=status, detail=str(error)) from error
    return {**record.as_dict(), **_switch(record.id)}


@router.post("/rollback")
def rollback(request: Request, engine: EngineDep, user: Admin) -> Dict[str, Any]:
    _refuse_while_retraining(request)
    try:
        record = registry.rollback(engine, user.username, _serve_dir(request))
    except registry.RegistryError as error:
        raise HTTPException(status_code=409, detail=str(error)) from error
    return {**record.as_dict(), **_switch(record.id)}


def _switch(model_id: str) -> Dict[str, Any]:
    """The running Rasa server serves the new live model, without a restart (console/routers/models.py)."""
    from console.routers.models import switch_running_server

    return switch_running_server(model_id)


def _refuse_while_retraining(request: Request) -> None:
    # A retrain decides against the live model it measured; changing it mid-way would make that wrong.
    if _job(request).state == RUNNING:
        raise HTTPException(status_code=409, detail="a retrain is running; wait for it to finish")
