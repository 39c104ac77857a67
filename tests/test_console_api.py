"""The review console's HTTP surface with FastAPI's TestClient over a temporary SQLite database:
login, sessions, CSRF, roles, throttling, and the review API end to end (queue, correct, accept, undo,
bulk accept, export)."""

from __future__ import annotations

import hashlib
import io
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Annotated, Iterator

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from rasa.shared.nlu.training_data.loading import load_data
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.launcher import BotProcesses
from console import users as users_cli
from console.app import create_app
from console.auth import SESSION_COOKIE, ConsoleUser, LoginThrottle, require_role
from console.passwords import hash_password, verify_password
from console.settings import ConsoleSettings
from learning.db import ADMIN, get_engine, messages, sessions, users
from nlu.component import is_reviewed
from tests.console_seed import PASSWORD, add_message, add_suggestion, add_users, seed_queue, span

PUBLIC_PATHS = {"/login", "/health"}


@pytest.fixture()
def settings(tmp_path: Path) -> ConsoleSettings:
    return ConsoleSettings(
        database_url=f"sqlite:///{tmp_path / 'console.db'}",
        data_dir=tmp_path / "data",
        heldout_path=tmp_path / "heldout_reviewed.yml",
    )


@pytest.fixture()
def engine(settings: ConsoleSettings) -> Engine:
    engine = get_engine(settings.database_url)
    add_users(engine)
    return engine


@pytest.fixture()
def app(settings: ConsoleSettings, engine: Engine) -> FastAPI:
    return create_app(settings)


@pytest.fixture()
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def login_form_token(client: TestClient) -> str:
    page = client.get("/login")
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD, next_path: str = "/") -> str:
    """Log in through the form; the session's CSRF token (from the review page's meta tag, or the
    sessions table for roles that cannot open it)."""
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": login_form_token(client),
              "next": next_path},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    token = client.cookies.get(SESSION_COOKIE)
    assert token
    engine = get_engine(client.app.state.settings.database_url)  # type: ignore[attr-defined]
    with engine.connect() as connection:
        digest = hashlib.sha256(token.encode()).hexdigest()
        query = select(sessions.c.csrf_token).where(sessions.c.token_hash == digest)
        return connection.execute(query).scalar()


def csrf_from_page(client: TestClient) -> str:
    page = client.get("/review")
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert match, page.text
    return match.group(1)


# ---- no access without login --------------------------------------------------------------------------


def test_nothing_but_login_health_and_static_answers_without_a_session(
    app: FastAPI, client: TestClient
) -> None:
    routes = [r for r in app.routes if isinstance(r, APIRoute) and r.path not in PUBLIC_PATHS]
    assert {"/", "/review", "/api/queue", "/api/export", "/logout"} <= {r.path for r in routes}
    for route in routes:
        path = route.path.replace("{message_id}", "1")
        for method in route.methods:
            response = client.request(method, path, follow_redirects=False)
            if path.startswith("/api/"):
                assert response.status_code == 401, (method, path, response.status_code)
                assert response.json() == {"detail": "login required"}
            else:
                assert response.status_code == 303, (method, path, response.status_code)
                assert response.headers["location"].startswith("/login?next=")
    assert client.get("/review?state=auto", follow_redirects=False).headers["location"] == (
        "/login?next=/review%3Fstate%3Dauto"
    )
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/static/review.js").status_code == 200
    assert client.get("/login").status_code == 200


def test_a_forged_or_expired_cookie_is_no_session(client: TestClient, engine: Engine) -> None:
    client.cookies.set(SESSION_COOKIE, "made-up")
    assert client.get("/api/queue").status_code == 401
    client.cookies.clear()
    login(client, "rita")
    with engine.begin() as connection:
        connection.execute(sessions.update().values(expires_at=sessions.c.created_at))
    assert client.get("/api/queue").status_code == 401


# ---- login, sessions, throttling ----------------------------------------------------------------------


def test_login_sets_a_strict_httponly_cookie_whose_hash_alone_is_stored(
    client: TestClient, engine: Engine
) -> None:
    response = client.post(
        "/login",
        data={"username": "rita", "password": PASSWORD, "csrf_token": login_form_token(client), "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    cookie = [c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)][0]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    token = client.cookies.get(SESSION_COOKIE)
    with engine.connect() as connection:
        stored = connection.execute(select(sessions.c.token_hash)).scalars().all()
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]
    # / sends a reviewer to the review page, which carries the session's CSRF token
    assert client.get("/", follow_redirects=False).headers["location"] == "/review"
    assert 'name="csrf-token"' in client.get("/review").text


@pytest.mark.parametrize("cookie_secure", [None, True])
def test_the_cookie_is_secure_over_https_or_when_configured(
    settings: ConsoleSettings, engine: Engine, cookie_secure: bool
) -> None:
    app = create_app(settings.copy(update={"cookie_secure": cookie_secure}))
    with TestClient(app, base_url="https://console.example") as client:
        token = login_form_token(client)
        response = client.post("/login", data={"username": "rita", "password": PASSWORD, "csrf_token": token},
                               follow_redirects=False)
    cookie = [c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)][0]
    assert "Secure" in cookie


def test_the_login_form_needs_its_double_submit_token(client: TestClient) -> None:
    login_form_token(client)  # sets the cookie
    missing = client.post("/login", data={"username": "rita", "password": PASSWORD}, follow_redirects=False)
    wrong = client.post("/login", data={"username": "rita", "password": PASSWORD, "csrf_token": "forged"},
                        follow_redirects=False)
    assert missing.status_code == 403 and wrong.status_code == 403
    assert client.cookies.get(SESSION_COOKIE) is None


def test_a_wrong_password_is_refused_and_repeated_failures_are_throttled(client: TestClient) -> None:
    for _ in range(5):
        token = login_form_token(client)
        form = {"username": "rita", "password": "not it at all", "csrf_token": token}
        refused = client.post("/login", data=form, follow_redirects=False)
        assert refused.status_code == 401
        assert "Wrong username or password" in refused.text
    token = login_form_token(client)
    throttled = client.post("/login", data={"username": "rita", "password": PASSWORD, "csrf_token": token},
                            follow_redirects=False)
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0
    # the same address is blocked for other usernames too
    token = login_form_token(client)
    other = client.post("/login", data={"username": "adam", "password": PASSWORD, "csrf_token": token},
                        follow_redirects=False)
    assert other.status_code == 429
    assert client.cookies.get(SESSION_COOKIE) is None


def test_the_throttle_forgives_after_its_window() -> None:
    now = [100.0]
    throttle = LoginThrottle(attempts=2, window_s=60, clock=lambda: now[0])
    throttle.failed(["user:a"])
    assert throttle.retry_after(["user:a"]) == 0
    throttle.failed(["user:a"])
    assert throttle.retry_after(["user:a"]) == pytest.approx(60)
    now[0] += 30
    assert throttle.retry_after(["user:a", "user:b"]) == pytest.approx(30)
    now[0] += 31
    assert throttle.retry_after(["user:a"]) == 0


def test_disabled_users_and_unknown_users_cannot_log_in(client: TestClient, engine: Engine) -> None:
    users_cli.disable_user(engine, "rita")
    for name in ("rita", "nobody"):
        token = login_form_token(client)
        response = client.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": token},
                               follow_redirects=False)
        assert response.status_code == 401


def test_next_only_leads_to_this_site(client: TestClient) -> None:
    token = login_form_token(client)
    response = client.post(
        "/login",
        data={"username": "rita", "password": PASSWORD, "csrf_token": token, "next": "//evil.example"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_logout_ends_the_session(client: TestClient, engine: Engine) -> None:
    csrf = login(client, "rita")
    token = client.cookies.get(SESSION_COOKIE)
    assert client.post("/logout").status_code == 403  # no CSRF token
    assert client.post("/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    with engine.connect() as connection:
        assert connection.execute(select(sessions)).first() is None
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, token)
    assert client.get("/api/queue").status_code == 401


# ---- CSRF and roles -----------------------------------------------------------------------------------


def test_state_changing_api_calls_need_the_sessions_csrf_token(client: TestClient, engine: Engine) -> None:
    message_id = add_message(engine, "cheap trainers please", 0.4)
    csrf = login(client, "rita")
    assert csrf_from_page(client) == csrf
    url = f"/api/messages/{message_id}/accept"
    assert client.post(url).status_code == 403
    assert client.post(url, headers={"X-CSRF-Token": "x" + csrf}).status_code == 403
    other = TestClient(client.app)
    other_csrf = login(other, "adam")
    assert client.post(url, headers={"X-CSRF-Token": other_csrf}).status_code == 403  # another session's
    with engine.connect() as connection:
        assert connection.execute(select(messages.c.state)).scalar() == "auto"
    assert client.post(url, headers={"X-CSRF-Token": csrf}).status_code == 200
    with engine.connect() as connection:
        assert connection.execute(select(messages.c.state)).scalar() == "accepted"


def test_roles_are_enforced(app: FastAPI, engine: Engine) -> None:
    admin_only = APIRouter()

    @admin_only.get("/api/admin-thing")
    def thing(user: Annotated[ConsoleUser, Depends(require_role(ADMIN))]) -> dict:
        return {"user": user.username}

    app.include_router(admin_only)
    expected = {"rita": (200, 403), "adam": (200, 200), "aggie": (403, 403)}
    for name, (review_status, admin_status) in expected.items():
        with TestClient(app) as client:
            login(client, name)
            assert client.get("/api/queue").status_code == review_status, name
            assert client.get("/api/admin-thing").status_code == admin_status, name
            page = client.get("/review")
            assert page.status_code == review_status, name
            if review_status == 403:
                assert "text/html" in page.headers["content-type"]
                home = client.get("/")  # an agent lands on the handoff queue, its role's page
                assert home.status_code == 200 and str(home.url).endswith("/handoff"), home.url
                assert 'href="/review"' not in home.text  # the nav shows only pages the role may open


def test_pages_escape_what_they_show(client: TestClient, engine: Engine) -> None:
    users_cli.add_user(engine, "<b>bold</b>", PASSWORD, "reviewer")
    login(client, "<b>bold</b>")
    page = client.get("/review")
    assert "&lt;b&gt;bold&lt;/b&gt;" in page.text and "<b>bold</b>" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


# ---- the review API -----------------------------------------------------------------------------------


def test_the_queue_comes_in_doubt_order_with_filters_and_pages(client: TestClient, engine: Engine) -> None:
    expected = seed_queue(engine)
    login(client, "rita")
    first = client.get("/api/queue", params={"limit": 10}).json()
    assert first["total"] == 30
    assert [item["message_id"] for item in first["items"]] == [row["id"] for row in expected[:10]]
    doubts = [item["doubt"] for item in first["items"]]
    assert doubts == sorted(doubts, reverse=True)
    second = client.get("/api/queue", params={"limit": 10, "offset": 10}).json()
    assert [item["message_id"] for item in second["items"]] == [row["id"] for row in expected[10:20]]

    item = first["items"][0]
    text = item["text"]
    assert [text[w["start"]:w["end"]] for w in item["words"]] == text.split()
    assert item["proposal"]["intent"] == "search_product"
    assert item["proposal"]["entities"][0]["entity"] == "product_type"

    band = client.get("/api/queue", params={"min_doubt": 0.3, "max_doubt": 0.5, "state": ""}).json()
    assert band["total"] == sum(0.3 <= row["doubt"] <= 0.5 for row in expected) > 0
    assert all(0.3 <= i["doubt"] <= 0.5 for i in band["items"])
    voice = client.get("/api/queue", params={"channel": "voice", "limit": 200}).json()
    assert voice["total"] == 10 and {i["channel"] for i in voice["items"]} == {"voice"}
    dated = client.get("/api/queue", params={"since": "2026-11-20T12:00:00+00:00",
                                             "until": "2026-11-20T15:00:00+00:00"}).json()
    assert dated["total"] == 3
    assert client.get("/api/queue", params={"state": "nonsense"}).status_code == 422
    assert client.get("/api/queue", params={"max_doubt": 2}).status_code == 422


def test_schema_lists_the_domain_intents_and_the_label_schema(client: TestClient) -> None:
    from common.schema import DEFAULT_ATTRIBUTES, ENTITY_TYPES, INTENTS

    login(client, "rita")
    schema = client.get("/api/schema").json()
    assert set(schema["intents"]) == set(INTENTS)
    assert schema["entity_types"] == list(ENTITY_TYPES)
    assert schema["attributes"] == DEFAULT_ATTRIBUTES
    assert schema["neutral"] == {"gender": "unknown", "age_group": "unknown", "gift": "false"}


def test_correct_accept_skip_undo_bulk_and_export(
    client: TestClient, engine: Engine, settings: ConsoleSettings
) -> None:
    text = "red scarf for my mum"
    doubtful = add_message(
        engine, text, 0.9, intent="refine_search", entities=[span(text, "scarf", "product_type")]
    )
    sure = add_message(engine, "cheap trainers please", 0.2,
                       entities=[span("cheap trainers please", "trainers", "product_type")])
    voice_ids = [add_message(engine, f"{w} lamp please", 0.3, channel="voice") for w in ("desk", "hall")]
    add_suggestion(engine, doubtful, "rephrase", {"intent": "search_product"}, "the shopper asked again")
    csrf = login(client, "rita")
    headers = {"X-CSRF-Token": csrf}

    top = client.get("/api/queue").json()["items"][0]
    assert top["message_id"] == doubtful and top["suggestions"][0]["evidence"] == "the shopper asked again"

    bad = client.post(f"/api/messages/{doubtful}/correct", headers=headers,
                      json={"intent": "buy_a_boat", "entities": [], "attributes": {}})
    assert bad.status_code == 422 and "buy_a_boat" in bad.json()["detail"]
    assert client.post("/api/messages/999999/accept", headers=headers).status_code == 422

    label = {
        "intent": "search_product",
        "entities": [{"start": 0, "end": 3, "entity": "color", "value": "red"},
                     {"start": 4, "end": 9, "entity": "product_type", "value": "scarf"},
                     {"start": 17, "end": 20, "entity": "recipient", "value": "mum"}],
        "attributes": {"gender": "female", "age_group": "adult", "gift": "true"},
    }
    corrected = client.post(f"/api/messages/{doubtful}/correct", headers=headers, json=label)
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["state"] == "corrected"
    assert corrected.json()["label"]["attributes"] == {"gender": "female", "age_group": "adult", "gift": True}
    shown = client.get("/api/queue", params={"state": "corrected"}).json()["items"]
    assert [i["message_id"] for i in shown] == [doubtful] and shown[0]["label"]["intent"] == "search_product"

    assert client.post(f"/api/messages/{sure}/accept", headers=headers).json()["state"] == "accepted"
    assert client.post("/api/undo", headers=headers).json() == {"message_id": sure}
    with engine.connect() as connection:
        assert connection.execute(select(messages.c.state).where(messages.c.id == sure)).scalar() == "auto"
    assert client.post(f"/api/messages/{sure}/skip", headers=headers).json()["state"] == "skipped"

    bulk = client.post("/api/bulk-accept", headers=headers, json={"channel": "voice", "state": "unreviewed"})
    assert bulk.json() == {"accepted": 2}
    with engine.connect() as connection:
        states = dict(connection.execute(select(messages.c.id, messages.c.state)).all())
    assert [states[i] for i in voice_ids] == ["accepted", "accepted"] and states[sure] == "skipped"
    assert client.get("/api/queue", params={"state": "unreviewed"}).json()["total"] == 0

    agreement = client.get("/api/agreement").json()
    assert agreement["reviewed"] == 3 and agreement["states"]["corrected"] == 1

    exported = client.post("/api/export", headers=headers)
    assert exported.status_code == 200, exported.text
    result = exported.json()
    assert result["train_count"] + result["heldout_count"] == 3
    train_file = settings.data_dir / "nlu" / "reviewed" / "console.yml"
    assert str(train_file) in result["paths"] and str(settings.heldout_path) in result["paths"]
    files = (train_file, settings.heldout_path)
    examples = [example for path in files for example in load_data(str(path)).intent_examples]
    by_text = {example.get("text"): example for example in examples}
    mum = by_text[text]
    assert mum.get("intent") == "search_product"
    assert {(e["start"], e["end"], e["entity"]) for e in mum.get("entities")} == {
        (0, 3, "color"), (4, 9, "product_type"), (17, 20, "recipient")
    }
    attributes = mum.get("metadata")["example"]["attributes"]
    assert attributes == {"gender": "female", "age_group": "adult", "gift": True}
    assert all(is_reviewed(example) for example in examples)  # what reviewed_repeat counts


# ---- users and passwords ------------------------------------------------------------------------------


def test_passwords_are_salted_scrypt_hashes() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first != second and first.startswith("scrypt$16384$8$1$") and PASSWORD not in first
    assert verify_password(PASSWORD, first) and not verify_password(PASSWORD + "!", first)
    assert not verify_password(PASSWORD, "scrypt$broken")


def test_the_users_command(settings: ConsoleSettings, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SHOPCUE_CONSOLE_DATABASE_URL", settings.database_url)
    engine = get_engine(settings.database_url)
    monkeypatch.setattr("sys.stdin", io.StringIO("first password\n"))
    assert users_cli.main(["add", "nina", "--role", "reviewer", "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert users_cli.main(["add", "olga", "--role", "admin", "--password-stdin"]) == 2
    monkeypatch.setattr("sys.stdin", io.StringIO("another one\n"))
    assert users_cli.main(["add", "NINA", "--role", "admin", "--password-stdin"]) == 2  # names ignore case
    with engine.connect() as connection:
        stored = connection.execute(select(users.c.password_hash).where(users.c.username == "nina")).scalar()
    assert stored.startswith("scrypt$") and "first password" not in stored
    monkeypatch.setattr("sys.stdin", io.StringIO("second password\n"))
    assert users_cli.main(["passwd", "nina", "--password-stdin"]) == 0
    with engine.connect() as connection:
        stored = connection.execute(select(users.c.password_hash).where(users.c.username == "nina")).scalar()
    assert verify_password("second password", stored) and not verify_password("first password", stored)
    assert users_cli.main(["disable", "nina"]) == 0
    assert users_cli.main(["disable", "nobody"]) == 2
    capsys.readouterr()
    assert users_cli.main(["list"]) == 0
    assert "nina\treviewer\tdisabled" in capsys.readouterr().out


def test_the_launcher_serves_the_console_over_its_database(tmp_path: Path) -> None:
    """`make run`'s way of starting it: `python -m console.app` as a child process (no Rasa server)."""
    url = f"sqlite:///{tmp_path / 'launched.db'}"
    bot = BotProcesses(model=tmp_path / "no-model.tar.gz", database_url=url, log_dir=tmp_path / "logs")
    bot.start_console()
    try:
        with urllib.request.urlopen(f"{bot.console_url}/login", timeout=10) as page:
            assert "Log in" in page.read().decode()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{bot.console_url}/api/queue", timeout=10)
        assert refused.value.code == 401
    finally:
        bot.stop()
