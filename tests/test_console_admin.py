"""The console's admin API (console/routers/admin.py) over a temporary database: admins only, CSRF,
one retrain at a time with its progress and table, the model list, promote and rollback.

The retrain job's runner is replaced by one the test controls, so this tests the HTTP layer and the job
thread; the real retrain is tested in tests/test_retrain.py."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from console.app import create_app
from console.settings import ConsoleSettings
from learning import registry
from learning.db import get_engine, reset_engines
from learning.retrain import RetrainOptions, RetrainResult
from tests.console_seed import add_users
from tests.test_console_api import login


@pytest.fixture()
def settings(tmp_path: Path) -> ConsoleSettings:
    reset_engines()
    return ConsoleSettings(database_url=f"sqlite:///{tmp_path / 'console.db'}", data_dir=tmp_path / "data",
                           heldout_path=tmp_path / "heldout_reviewed.yml")


@pytest.fixture()
def engine(settings: ConsoleSettings) -> Engine:
    engine = get_engine(settings.database_url)
    add_users(engine)
    return engine


@pytest.fixture()
def app(settings: ConsoleSettings, engine: Engine, tmp_path: Path) -> FastAPI:
    app = create_app(settings)
    app.state.serve_dir = tmp_path / "models"
    return app


@pytest.fixture()
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def _archive(folder: Path, name: str) -> Path:
    path = folder / f"{name}.tar.gz"
    path.write_bytes(os.urandom(32))
    return path


def _wait_for(client: TestClient, state: str) -> Dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        job = client.get("/api/admin/retrain").json()
        if job["state"] == state:
            return job
        time.sleep(0.02)
    raise AssertionError(f"the job never reached {state}: {job}")


def test_only_admins_reach_the_admin_api(client: TestClient) -> None:
    assert client.get("/api/admin/models").status_code == 401
    csrf = login(client, "rita")
    headers = {"X-CSRF-Token": csrf}
    assert client.get("/api/admin/models").status_code == 403
    assert client.get("/api/admin/retrain").status_code == 403
    assert client.post("/api/admin/retrain", headers=headers).status_code == 403
    assert client.post("/api/admin/rollback", headers=headers).status_code == 403


def test_posts_need_the_csrf_token(client: TestClient, app: FastAPI) -> None:
    login(client, "adam")
    app.state.retrain_runner = lambda *args: pytest.fail("must not start")
    assert client.post("/api/admin/retrain").status_code == 403
    assert client.post("/api/admin/retrain", headers={"X-CSRF-Token": "wrong"}).status_code == 403
    assert client.get("/api/admin/retrain").json()["state"] == "idle"


def test_one_retrain_at_a_time_with_progress_and_table(client: TestClient, app: FastAPI, engine: Engine,
                                                      tmp_path: Path) -> None:
    headers = {"X-CSRF-Token": login(client, "adam")}
    release = threading.Event()
    seen: Dict[str, Any] = {}
    figures = {"heldout_nlu": {"entity_micro_f1": 0.9}}
    candidate = registry.register(engine, _archive(tmp_path, "c"), "h", figures)

    def runner(options: RetrainOptions, job_engine: Engine, progress: Any) -> RetrainResult:
        seen["options"], seen["engine"] = options, job_engine
        progress("training the candidate")
        release.wait(10)
        progress("promoted")
        return RetrainResult(candidate, None, figures, {}, "| table |", True, [])

    app.state.retrain_runner = runner
    started = client.post("/api/admin/retrain", json={"epochs": "TEDPolicy=2", "tolerance": 0.01},
                          headers=headers)
    assert started.status_code == 202 and started.json()["state"] == "running"
    again = client.post("/api/admin/retrain", headers=headers)
    assert again.status_code == 409 and "adam" in again.json()["detail"]
    assert client.post("/api/admin/rollback", headers=headers).status_code == 409
    running = client.get("/api/admin/retrain").json()
    assert running["state"] == "running" and running["lines"][0].endswith("training the candidate")
    release.set()
    done = _wait_for(client, "done")
    assert done["table"] == "| table |" and done["promoted"] is True
    assert done["candidate"]["id"] == candidate.id and done["lines"][-1].endswith("promoted")
    options = seen["options"]
    assert options.epochs == {"TEDPolicy": 2} and options.tolerance == 0.01 and options.username == "adam"
    assert options.data == tmp_path / "data" and options.serve_dir == tmp_path / "models"
    assert str(seen["engine"].url).endswith("console.db")


def test_a_failed_retrain_reports_its_error_and_frees_the_slot(client: TestClient, app: FastAPI) -> None:
    headers = {"X-CSRF-Token": login(client, "adam")}

    def runner(*_args: Any) -> RetrainResult:
        raise RuntimeError("rasa train failed (exit 1)")

    app.state.retrain_runner = runner
    assert client.post("/api/admin/retrain", headers=headers).status_code == 202
    failed = _wait_for(client, "failed")
    assert failed["error"] == "RuntimeError: rasa train failed (exit 1)"
    bad = client.post("/api/admin/retrain", json={"epochs": "TEDPolicy=0"}, headers=headers)
    assert bad.status_code == 422


def test_models_promote_and_rollback(client: TestClient, engine: Engine, tmp_path: Path) -> None:
    headers = {"X-CSRF-Token": login(client, "adam")}
    a = registry.register(engine, _archive(tmp_path, "a"), "ha")
    b = registry.register(engine, _archive(tmp_path, "b"), "hb")
    assert client.post(f"/api/admin/models/{a.id}/promote", headers=headers).json()["status"] == "live"
    assert client.post(f"/api/admin/models/{b.id}/promote", headers=headers).json()["status"] == "live"
    assert client.post("/api/admin/models/nope/promote", headers=headers).status_code == 404
    listing = client.get("/api/admin/models").json()
    assert {m["id"]: m["status"] for m in listing["models"]} == {a.id: "retired", b.id: "live"}
    assert [(e["action"], e["model_id"], e["username"]) for e in listing["history"]] == [
        ("promote", a.id, "adam"), ("promote", b.id, "adam")]
    assert (tmp_path / "models" / f"live-{b.id}.tar.gz").is_file()
    assert client.post("/api/admin/rollback", headers=headers).json()["id"] == a.id
    assert registry.live_model(engine).id == a.id
    refused = client.post("/api/admin/rollback", headers=headers)
    assert refused.status_code == 409 and "nothing to roll back" in refused.json()["detail"]
