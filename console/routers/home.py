"""The console's front door: / sends each user to the first page their role may open."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from console.auth import CurrentUser
from console.shell import pages_for, render

router = APIRouter(tags=["home"])


@router.get("/", include_in_schema=False)
def home(request: Request, user: CurrentUser) -> Response:
    pages = pages_for(user.role)
    if pages:
        return RedirectResponse(pages[0].path, status_code=303)
    return render(request, "home.html", user, title="Console")
