"""The review console's web app: `create_app(settings)`, and `python -m console.app` to serve it.

Every route needs a session except /login, /health and /static/: the routers that hold pages and API
routes are included with the `current_user` dependency, so a router that forgets its own check is
still closed. Without a session, pages redirect to /login and /api routes answer 401.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
from typing import List, Optional
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from console.auth import SESSION_COOKIE, LoginRequiredError, LoginThrottle, current_user, session_user
from console.deps import get_db
from console.routers import auth, dashboard, handoff, home, models, products, review
from console.settings import ConsoleSettings, get_settings
from console.shell import STATIC_DIR, render

ADMIN_ROUTER_MODULE = "console.routers.admin"
# Scripts and styles only from the console itself: even if message text slipped into markup, no script
# in it would run. Frames are refused (clickjacking).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def is_api(request: Request) -> bool:
    return request.url.path == "/api" or request.url.path.startswith("/api/")


async def login_required(request: Request, _error: Exception) -> Response:
    if is_api(request):
        return JSONResponse({"detail": "login required"}, status_code=401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)


async def http_error(request: Request, error: Exception) -> Response:
    """Pages get the shell's error page for a refused or missing page; the API keeps JSON."""
    assert isinstance(error, StarletteHTTPException)
    if is_api(request) or request.method != "GET" or error.status_code not in (403, 404):
        return await http_exception_handler(request, error)
    settings: ConsoleSettings = request.app.state.settings
    token = request.cookies.get(SESSION_COOKIE)
    user = session_user(get_db(settings), token) if token else None
    return render(request, "error.html", user, status_code=error.status_code, title=str(error.status_code),
                  message=error.detail)


def create_app(settings: Optional[ConsoleSettings] = None) -> FastAPI:
    """The console app; `settings` (else the environment's) reach every route through get_settings."""
    settings = settings or get_settings()
    app = FastAPI(title="Shopcue review console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.login_throttle = LoginThrottle(settings.login_attempts, settings.login_window_s)
    app.dependency_overrides[get_settings] = lambda: settings
    app.add_exception_handler(LoginRequiredError, login_required)
    app.add_exception_handler(StarletteHTTPException, http_error)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: object) -> Response:
        response: Response = await call_next(request)  # type: ignore[operator]
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.include_router(auth.router)
    logged_in = [Depends(current_user)]
    for router in (home.router, review.page_router, review.api_router, models.page_router, models.router,
                   handoff.page_router, handoff.router, dashboard.page_router, dashboard.router,
                   products.page_router, products.api_router):
        app.include_router(router, dependencies=logged_in)
    if importlib.util.find_spec(ADMIN_ROUTER_MODULE) is not None:
        admin = importlib.import_module(ADMIN_ROUTER_MODULE)
        app.include_router(admin.router, dependencies=logged_in)
    return app


def main(argv: Optional[List[str]] = None) -> int:
    """`python -m console.app`: serve the review console with uvicorn."""
    import uvicorn

    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m console.app", description=main.__doc__)
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.port)
    args = parser.parse_args(argv)
    print(f"Shopcue console on http://{args.host}:{args.port}/", flush=True)
    # ws="none": the console has no WebSocket routes, and Rasa pins a websockets too old for uvicorn's.
    uvicorn.run(create_app(settings), host=args.host, port=args.port, access_log=False, ws="none")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
