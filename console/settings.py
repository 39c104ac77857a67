"""The review console's settings: one object read from SHOPCUE_CONSOLE_* environment variables.

Every field is an environment variable named `SHOPCUE_CONSOLE_` + the field name in capitals, e.g.
`SHOPCUE_CONSOLE_SESSION_HOURS=4`. The app reads them through `get_settings` (a FastAPI dependency that
`create_app(settings)` overrides, so tests pass their own).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Optional

from pydantic import BaseSettings, Field

from learning.db import database_url
from learning.export import DEFAULT_DATA_DIR, DEFAULT_REVIEWED_HELDOUT


class ConsoleSettings(BaseSettings):
    """What the console needs to know; defaults suit `make run` on a developer's machine."""

    # The loop's database (learning/db.py): messages to review, console users and sessions.
    database_url: str = Field(default_factory=database_url)
    # How long a login lasts, in hours; the session row and the cookie expire together.
    session_hours: float = 12.0
    # The Secure flag of the session cookie. Unset: set when the request came over https (behind a
    # reverse proxy on this machine, uvicorn takes the scheme and client address from X-Forwarded-*).
    cookie_secure: Optional[bool] = None
    # Failed logins allowed per username and per client address within `login_window_s` seconds;
    # further attempts are refused (429) until the window has passed.
    login_attempts: int = 5
    login_window_s: float = 60.0
    # Where the export (learning/export.py) writes reviewed training examples (<data_dir>/nlu/reviewed/)
    # and the review-derived held-out slice that retrained models are tested on.
    data_dir: Path = DEFAULT_DATA_DIR
    heldout_path: Path = DEFAULT_REVIEWED_HELDOUT
    host: str = "127.0.0.1"
    port: int = 5088

    class Config:
        env_prefix = "SHOPCUE_CONSOLE_"

    @property
    def session_seconds(self) -> int:
        return int(self.session_hours * 3600)


@lru_cache(maxsize=1)
def get_settings() -> ConsoleSettings:
    """The settings from the environment, read once (a FastAPI dependency; create_app overrides it)."""
    return ConsoleSettings()
