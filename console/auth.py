"""Who is asking and what they may do: sessions, the logged-in user, CSRF and role checks.

A session is a random token in an HttpOnly, SameSite=Strict cookie; the database keeps only its
SHA-256, so a leaked database row cannot be replayed as a cookie. Each session has its own CSRF token,
which pages carry in a meta tag and scripts send back in `X-CSRF-Token` on every state-changing request.

Routers protect themselves with dependencies:

    @router.post("/thing")
    def thing(user: Annotated[ConsoleUser, Depends(require_role(ADMIN))]) -> ...

`current_user` (any logged-in user; also checks CSRF on POST/PUT/PATCH/DELETE) raises `LoginRequiredError`
when there is no valid session; the app turns that into a redirect to /login for pages and a 401 for
/api routes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Annotated, Callable, Deque, Dict, Iterable, Optional

from fastapi import Depends, HTTPException, Request, Response
from pydantic import BaseModel
from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Engine

from console.deps import EngineDep
from console.passwords import burn_verification_time, verify_password
from console.settings import ConsoleSettings
from learning.db import ADMIN, sessions, users, utcnow

SESSION_COOKIE = "shopcue_console_session"
LOGIN_CSRF_COOKIE = "shopcue_console_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ConsoleUser(BaseModel):
    """The logged-in user of a request, with the CSRF token of their session."""

    id: int
    username: str
    role: str
    csrf_token: str


class LoginRequiredError(Exception):
    """No valid session: pages redirect to /login, the API answers 401."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def authenticate(engine: Engine, username: str, password: str) -> Optional[int]:
    """The id of the active user with this name and password, else None (same cost either way)."""
    with engine.connect() as connection:
        row = connection.execute(
            select(users.c.id, users.c.password_hash, users.c.disabled).where(
                func.lower(users.c.username) == username.strip().lower()
            )
        ).first()
    if row is None:
        burn_verification_time(password)
        return None
    if not verify_password(password, row.password_hash) or row.disabled:
        return None
    return int(row.id)


def start_session(engine: Engine, user_id: int, lifetime_s: int) -> str:
    """A new session for the user; its cookie token (only the hash is stored). Expired rows go."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(delete(sessions).where(sessions.c.expires_at < now))
        connection.execute(
            insert(sessions).values(
                token_hash=token_hash(token), user_id=user_id, csrf_token=secrets.token_urlsafe(32),
                created_at=now, expires_at=now + timedelta(seconds=lifetime_s),
            )
        )
    return token


def end_session(engine: Engine, token: str) -> None:
    with engine.begin() as connection:
        connection.execute(delete(sessions).where(sessions.c.token_hash == token_hash(token)))


def session_user(engine: Engine, token: str) -> Optional[ConsoleUser]:
    """The active user of an unexpired session, else None."""
    query = (
        select(users.c.id, users.c.username, users.c.role, users.c.disabled, sessions.c.csrf_token,
               sessions.c.expires_at)
        .select_from(sessions.join(users, users.c.id == sessions.c.user_id))
        .where(sessions.c.token_hash == token_hash(token))
    )
    with engine.connect() as connection:
        row = connection.execute(query).first()
    if row is None or row.disabled or _aware(row.expires_at) <= utcnow():
        return None
    return ConsoleUser(id=row.id, username=row.username, role=row.role, csrf_token=row.csrf_token)


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything this module stores is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def cookie_secure(settings: ConsoleSettings, request: Request) -> bool:
    """The cookie's Secure flag: the setting, else whether this request came over https."""
    return settings.cookie_secure if settings.cookie_secure is not None else request.url.scheme == "https"


def set_session_cookie(response: Response, token: str, settings: ConsoleSettings, request: Request) -> None:
    response.set_cookie(
        SESSION_COOKIE, token, max_age=settings.session_seconds, httponly=True, samesite="strict",
        secure=cookie_secure(settings, request), path="/",
    )


def current_user(request: Request, engine: EngineDep) -> ConsoleUser:
    """The logged-in user; state-changing requests must also carry the session's CSRF token."""
    token = request.cookies.get(SESSION_COOKIE)
    user = session_user(engine, token) if token else None
    if user is None:
        raise LoginRequiredError()
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not hmac.compare_digest(sent.encode("utf-8"), user.csrf_token.encode("utf-8")):
            raise HTTPException(status_code=403, detail="missing or wrong CSRF token")
    return user


CurrentUser = Annotated[ConsoleUser, Depends(current_user)]


def require_role(*roles: str) -> Callable[[ConsoleUser], ConsoleUser]:
    """A dependency that lets through users with one of `roles` (admins always), else 403."""
    allowed = frozenset(roles) | {ADMIN}

    def check(user: CurrentUser) -> ConsoleUser:
        if user.role not in allowed:
            raise HTTPException(status_code=403, detail=f"needs the role {' or '.join(sorted(allowed))}")
        return user

    return check


class LoginThrottle:
    """Failed logins per key (a username, a client address) in a sliding window.

    Kept in memory: one console process serves the team, and a restart only forgives recent failures.
    """

    def __init__(self, attempts: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self.clock = clock
        self._failures: Dict[str, Deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, keys: Iterable[str]) -> float:
        """Seconds until any of `keys` may try again; 0 when none is blocked."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                failures = self._recent(key, now)
                if len(failures) >= self.attempts:
                    wait = max(wait, failures[0] + self.window_s - now)
        return wait

    def failed(self, keys: Iterable[str]) -> None:
        now = self.clock()
        with self._lock:
            if len(self._failures) > 10_000:  # many one-off keys (address scans): drop the stale ones
                self._failures = {
                    k: v for k, v in self._failures.items() if v and v[-1] > now - self.window_s
                }
            for key in keys:
                self._recent(key, now).append(now)

    def forget(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> Deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        return failures


def throttle_keys(username: str, request: Request) -> tuple[str, str]:
    client = request.client.host if request.client else "unknown"
    return f"user:{username.strip().lower()}", f"ip:{client}"


def get_throttle(request: Request) -> LoginThrottle:
    return request.app.state.login_throttle


ThrottleDep = Annotated[LoginThrottle, Depends(get_throttle)]
