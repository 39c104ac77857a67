"""The page shell every console page shares: templates, the nav by role, and `render`.

A new area adds its pages with `register_page(NavPage("/monitoring", "Monitoring", (ADMIN,)))` at
import time and renders templates that extend `base.html`; the nav shows each user only the pages
their role may open (admins see all).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Tuple

import jinja2
from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from console.auth import ConsoleUser
from learning.db import ADMIN, REVIEWER

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
# Autoescaping on for every template: message text comes from shoppers.
templates = Jinja2Templates(
    env=jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True)
)


@dataclass(frozen=True)
class NavPage:
    """A page in the nav: its path, its title and the roles that may open it (admins always may)."""

    path: str
    title: str
    roles: Tuple[str, ...]

    def allows(self, role: str) -> bool:
        return role == ADMIN or role in self.roles


PAGES: List[NavPage] = [NavPage("/review", "Review", (REVIEWER,))]


def register_page(page: NavPage) -> None:
    """Add a page to the nav (once; registering the same path again replaces it)."""
    PAGES[:] = [existing for existing in PAGES if existing.path != page.path] + [page]


def pages_for(role: str) -> List[NavPage]:
    return [page for page in PAGES if page.allows(role)]


def render(
    request: Request, template: str, user: Optional[ConsoleUser], status_code: int = 200, **context: Any
) -> Response:
    """A page inside the shell: nav for the user's role, the CSRF meta tag, the active nav entry."""
    nav = pages_for(user.role) if user else []
    return templates.TemplateResponse(
        request, template, {"user": user, "nav": nav, "active": request.url.path, **context},
        status_code=status_code,
    )
