"""Login, logout and the health probe: the only routes (besides static files) open without a session.

    GET  /login    the login form, with a fresh double-submit CSRF token (cookie + hidden field)
    POST /login    username + password; on success a session cookie and a redirect to `next` or /
    POST /logout   ends the session (needs X-CSRF-Token like every other state-changing request)
    GET  /health   {"status": "ok"} when the database answers
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Dict, Optional

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import text

from console.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    CurrentUser,
    ThrottleDep,
    authenticate,
    cookie_secure,
    end_session,
    session_user,
    set_session_cookie,
    start_session,
    throttle_keys,
)
from console.deps import EngineDep, SettingsDep
from console.shell import render

router = APIRouter(tags=["auth"])


def safe_next(target: Optional[str]) -> str:
    """Only a path on this site: never another host (`//evil`, `https://evil`), else /."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _login_page(
    request: Request, settings: SettingsDep, next_path: str, error: str = "", status_code: int = 200
) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(
        request, "login.html", None, status_code=status_code, title="Log in", login_csrf=token,
        next_path=next_path, error=error,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
        secure=cookie_secure(settings, request), path="/login",
    )
    return response


@router.get("/login", include_in_schema=False)
def login_form(request: Request, settings: SettingsDep, engine: EngineDep, next: str = "/") -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token and session_user(engine, token):
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, settings, safe_next(next))


@router.post("/login", include_in_schema=False)
def login(
    request: Request,
    settings: SettingsDep,
    engine: EngineDep,
    throttle: ThrottleDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    next_path = safe_next(next)
    cookie_token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not csrf_token or not hmac.compare_digest(csrf_token.encode(), cookie_token.encode()):
        return _login_page(request, settings, next_path, "The form expired; please try again.", 403)
    keys = throttle_keys(username, request)
    wait = throttle.retry_after(keys)
    if wait > 0:
        message = f"Too many failed logins; try again in {int(wait) + 1} seconds."
        response = _login_page(request, settings, next_path, message, 429)
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    user_id = authenticate(engine, username, password)
    if user_id is None:
        throttle.failed(keys)
        return _login_page(request, settings, next_path, "Wrong username or password.", 401)
    throttle.forget(keys[0])
    response = RedirectResponse(next_path, status_code=303)
    set_session_cookie(response, start_session(engine, user_id, settings.session_seconds), settings, request)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout", status_code=204, include_in_schema=False)
def logout(request: Request, engine: EngineDep, _user: CurrentUser) -> Response:
    end_session(engine, request.cookies.get(SESSION_COOKIE, ""))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/health")
def health(engine: EngineDep) -> Dict[str, str]:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return {"status": "ok"}
