"""The monitoring figures: PSI, confidence histograms, per-message stats, series, alerts and the
dashboard API (roles, window, alert banner data) over a temporary learning database."""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from console.app import create_app
from console.settings import ConsoleSettings
from learning.db import get_engine, messages, suggestions
from ops import alerts, dashboard, drift
from ops.monitor_baseline import BASELINE_ENV, baseline_path
from tests.console_seed import PASSWORD, add_users

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)


def test_psi_is_zero_for_the_same_mix_and_grows_with_the_shift() -> None:
    training = {"search_product": 80, "greet": 10, "help": 10}
    assert drift.psi(training, {"search_product": 8, "greet": 1, "help": 1}) == pytest.approx(0.0)
    small = drift.psi(training, {"search_product": 70, "greet": 20, "help": 10})
    large = drift.psi(training, {"search_product": 20, "greet": 70, "help": 10})
    assert 0 < small < drift.PSI_MODERATE < drift.PSI_MAJOR < large
    # by hand: (0.7-0.8)ln(0.7/0.8) + (0.2-0.1)ln(0.2/0.1)
    assert small == pytest.approx(-0.1 * math.log(0.7 / 0.8) + 0.1 * math.log(2))
    unseen = drift.psi(training, {"search_product": 80, "greet": 10, "help": 5, "new_intent": 5})
    assert unseen > small  # an intent training never saw counts at epsilon, not infinity
    assert drift.psi({}, {"a": 1}) == 0.0 and drift.psi({"a": 1}, {}) == 0.0
    assert [drift.psi_level(v) for v in (0.05, 0.1, 0.3)] == ["stable", "moderate", "major"]
    terms = drift.psi_terms(training, {"search_product": 20, "greet": 70, "help": 10})
    assert sum(terms.values()) == pytest.approx(large) and terms["help"] == pytest.approx(0.0)
    assert max(terms, key=terms.get) == "greet" and min(terms.values()) >= 0


def test_confidence_histogram_and_summary() -> None:
    counts = drift.confidence_histogram([0.0, 0.049, 0.05, 0.5, 0.99, 1.0, 1.7, -0.2])
    assert len(counts) == drift.CONFIDENCE_BINS and sum(counts) == 8
    assert counts[0] == 3 and counts[1] == 1 and counts[10] == 1 and counts[-1] == 3
    assert drift.normalised([1, 3]) == [0.25, 0.75] and drift.normalised([0, 0]) == [0.0, 0.0]
    s = drift.confidence_summary([0.2, 0.5, 0.9, 1.0], threshold=0.4)
    assert (s.count, s.below_threshold) == (4, 0.25)
    assert (s.mean, s.median) == (pytest.approx(0.65), pytest.approx(0.7))
    assert drift.confidence_summary([], 0.4).count == 0


def row(at: datetime, intent: str = "search_product", confidence: float = 0.9,
        replies: Optional[List[Dict[str, Any]]] = None, channel: str = "rest") -> Dict[str, Any]:
    return {"created_at": at, "channel": channel, "intent": intent, "intent_confidence": confidence,
            "replies": replies if replies is not None else []}


def test_a_logged_message_as_a_stat() -> None:
    at = NOW - timedelta(minutes=5)
    stat = dashboard.message_stat(row(at.replace(tzinfo=None), replies=[
        {"text": "Here you go", "action": "action_search_products", "ts": at.timestamp() + 0.25},
        {"text": "more", "ts": at.timestamp() + 0.5}]))
    assert stat.created_at == at and stat.search and not stat.fallback and not stat.handoff
    assert stat.latency_s == pytest.approx(0.25)  # the first reply, naive times read as UTC
    assert dashboard.message_stat(row(at, "nlu_fallback")).fallback
    assert dashboard.message_stat(row(at, replies=[{"action": "action_clarify_low_confidence"}])).fallback
    assert dashboard.message_stat(row(at, replies=[{"custom_type": "handoff"}])).handoff
    assert dashboard.message_stat(row(at, "human_handoff")).handoff
    assert dashboard.message_stat(row(at, replies=[{"text": "old row"}])).latency_s is None
    assert dashboard.message_stat(row(at, replies=[{"ts": at.timestamp() - 3}])).latency_s is None


def test_series_and_daily_psi() -> None:
    day = NOW.replace(hour=0)
    stats = [dashboard.message_stat(r) for r in (
        row(day + timedelta(hours=1), replies=[{"ts": (day + timedelta(hours=1, seconds=1)).timestamp()}]),
        row(day + timedelta(hours=1, minutes=30), "nlu_fallback"),
        row(day + timedelta(hours=3), "greet"),
        row(day - timedelta(hours=2), "greet"),
    )]
    series = dashboard.time_series(stats, day, day + timedelta(hours=4), hours=1)
    assert series["messages"] == [0, 2, 0, 1, 0]
    assert series["fallback_rate"] == [None, 0.5, None, 0.0, None]
    assert series["p50_s"][1] == pytest.approx(1.0) and series["p50_s"][3] is None
    daily = dashboard.daily_psi(stats, {"search_product": 1, "greet": 1})
    assert [(d["day"], d["messages"]) for d in daily] == [("2026-11-19", 1), ("2026-11-20", 3)]
    assert daily[1]["movers"][0][0] == "nlu_fallback"  # training never saw it: the biggest term
    assert daily[1]["psi"] == pytest.approx(drift.psi({"search_product": 1, "greet": 1},
                                                      {"search_product": 1, "nlu_fallback": 1, "greet": 1}),
                                            abs=1e-4)


def test_alerts_fire_over_their_thresholds_and_are_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    thresholds = alerts.load_thresholds(env={"SHOPCUE_ALERT_FALLBACK_RATE": "0.1",
                                             "SHOPCUE_ALERT_MIN_MESSAGES": "5"})
    assert thresholds.fallback_rate == 0.1 and thresholds.min_messages == 5 and thresholds.psi == 0.25
    summary = {"messages": 10, "fallback_rate": 0.3, "psi_latest": 0.5, "psi_latest_messages": 4,
               "latency_s": {"p95": 0.5}, "zero_result_rate": 0.1}
    found = alerts.check(summary, thresholds)
    assert [a.metric for a in found] == ["fallback_rate"]  # PSI of a 4-message day is not judged
    assert "fallback rate is 0.3" in found[0].message
    assert alerts.check({**summary, "messages": 4}, thresholds) == []
    log = alerts.AlertLog()
    with caplog.at_level(logging.INFO, logger="ops.alerts"):
        assert log.update(found) == found
        assert log.update(found) == []  # still breached: no second line
        log.update([])
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["ops.alert breach metric=fallback_rate value=0.3000 threshold=0.1000",
                     "ops.alert cleared metric=fallback_rate"]
    with pytest.raises(ValueError):
        alerts.load_thresholds(env={"SHOPCUE_ALERT_PSI": "high"})


# --- the API over a database -------------------------------------------------------------------------

def seed(engine: Engine, now: datetime) -> None:
    """Ten messages in the last hours: 3 fallbacks, one handoff, 4 searches of which 2 found nothing."""
    rows = []
    for n in range(10):
        at = now - timedelta(hours=n % 5, minutes=n)
        intent = "nlu_fallback" if n < 3 else ("human_handoff" if n == 3 else "search_product")
        action = "action_search_products" if n >= 6 else "utter_greet"
        rows.append({"sender_id": f"s{n}", "channel": "rest", "text": f"t{n}", "text_key": f"t{n}",
                     "intent": intent, "intent_confidence": 0.3 if n < 3 else 0.95,
                     "replies": [{"text": "r", "action": action, "ts": at.timestamp() + 0.1 * (n + 1)}],
                     "created_at": at, "state": "auto"})
    with engine.begin() as connection:
        ids = [connection.execute(insert(messages).values(r)).inserted_primary_key[0] for r in rows]
        for message_id, word in zip(ids[6:8], ("kayak", "kayak paddle"), strict=True):
            connection.execute(insert(suggestions).values(
                message_id=message_id, kind="zero_results", label={"phrase": word}, evidence="",
                created_at=now))


@pytest.fixture()
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    settings = ConsoleSettings(database_url=f"sqlite:///{tmp_path / 'c.db'}", data_dir=tmp_path / "data")
    engine = get_engine(settings.database_url)
    add_users(engine)
    seed(engine, datetime.now(UTC) - timedelta(minutes=1))
    model = tmp_path / "model.tar.gz"
    baseline = baseline_path(model)
    baseline.write_text(json.dumps({"model": str(model), "heldout_confidences": [0.9, 0.95, 0.99, 0.2],
                                    "training_intents": {"search_product": 80, "greet": 20}}))
    monkeypatch.setenv(BASELINE_ENV, str(baseline))
    monkeypatch.setenv("SHOPCUE_ALERT_MIN_MESSAGES", "5")
    return TestClient(create_app(settings))


def log_in(client: TestClient, username: str) -> None:
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    reply = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token,
                                        "next": "/"}, follow_redirects=False)
    assert reply.status_code == 303


def test_the_dashboard_api_gives_the_figures_and_alerts_to_reviewers_only(client: TestClient) -> None:
    assert client.get("/api/dashboard").status_code == 401
    log_in(client, "aggie")  # an agent: not a monitoring role
    assert client.get("/api/dashboard").status_code == 403
    client.cookies.clear()
    log_in(client, "rita")
    page = client.get("/dashboard")
    assert page.status_code == 200 and "/static/vendor/uplot/uPlot.iife.min.js" in page.text
    data = client.get("/api/dashboard?days=1").json()
    s = data["summary"]
    assert (s["messages"], s["fallbacks"], s["handoffs"], s["searches"]) == (10, 3, 1, 4)
    assert s["fallback_rate"] == pytest.approx(0.3) and s["zero_result_rate"] == pytest.approx(0.5)
    assert s["latency_s"]["count"] == 10 and s["latency_s"]["p50"] == pytest.approx(0.55)
    assert sum(data["series"]["messages"]) == 10 and data["bucket_hours"] == 1
    assert data["zero_result_words"] == [["kayak", 2], ["paddle", 1]]
    assert data["confidence"]["heldout_summary"]["count"] == 4
    assert sum(data["confidence"]["live"]) == pytest.approx(1.0)
    assert data["psi"] and data["psi"][-1]["psi"] > 0
    assert {a["metric"] for a in data["alerts"]} >= {"fallback_rate", "zero_result_rate"}
    assert client.get("/api/dashboard?days=0").status_code == 422


def test_the_alert_command_checks_a_database_and_exits_1_on_a_breach(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    seed(get_engine(url), datetime.now(UTC) - timedelta(minutes=1))
    baseline = tmp_path / "m.monitor.json"
    baseline.write_text(json.dumps({"training_intents": {"search_product": 9, "nlu_fallback": 1}}))
    monkeypatch.setenv(BASELINE_ENV, str(baseline))
    monkeypatch.setenv("SHOPCUE_ALERT_MIN_MESSAGES", "5")
    assert alerts.main(["--database-url", url]) == 1
    assert "fallback rate is 0.3" in capsys.readouterr().out
    monkeypatch.setenv("SHOPCUE_ALERT_MIN_MESSAGES", "50")  # too few messages to judge: no alert
    assert alerts.main(["--database-url", url]) == 0
