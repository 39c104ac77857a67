"""Settings of the handoff to people, from SHOPCUE_* environment variables, read in one place.

The action server (opening hours), the Rasa server's web chat channel (polling) and the console (the
Rasa API it reads transcripts from) all read the same names, so one environment configures all three.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ops.handoff_hours import OpeningHours, parse_hours
from ops.serving_client import rasa_token

HOURS_ENV = "SHOPCUE_HANDOFF_HOURS"
TIMEZONE_ENV = "SHOPCUE_HANDOFF_TIMEZONE"
IDLE_ENV = "SHOPCUE_HANDOFF_IDLE_MINUTES"
RASA_URL_ENV = "SHOPCUE_CONSOLE_RASA_URL"
RASA_TOKEN_ENV = "SHOPCUE_RASA_TOKEN"
DEFAULT_HOURS = "mon-fri 09:00-18:00"
DEFAULT_TIMEZONE = "UTC"
# A claimed conversation with no message from either side for this long goes back to the bot.
DEFAULT_IDLE_MINUTES = 30.0


@dataclass(frozen=True)
class HandoffSettings:
    """Opening hours, when a held conversation counts as abandoned, and where the console finds Rasa."""

    hours: OpeningHours
    rasa_url: str
    rasa_token: str
    # Seconds without a message after which a claimed conversation is handed back (None: never).
    idle_s: Optional[float] = DEFAULT_IDLE_MINUTES * 60


def read_idle_s(value: Optional[str]) -> Optional[float]:
    """`SHOPCUE_HANDOFF_IDLE_MINUTES` in seconds; "0" or "never": never hand back by itself."""
    text = (value or "").strip().lower()
    if not text:
        return DEFAULT_IDLE_MINUTES * 60
    if text == "never":
        return None
    try:
        minutes = float(text)
    except ValueError:
        minutes = math.nan
    if not math.isfinite(minutes) or minutes < 0:
        raise ValueError(f"{IDLE_ENV}={value!r} is not a number of minutes (or 'never')")
    return minutes * 60 if minutes > 0 else None


def read_settings() -> HandoffSettings:
    """The settings from the environment; a bad hours text or zone raises at once (a config error)."""
    zone_name = os.environ.get(TIMEZONE_ENV, DEFAULT_TIMEZONE).strip() or DEFAULT_TIMEZONE
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"{TIMEZONE_ENV}={zone_name!r} is not a time zone") from error
    hours = parse_hours(os.environ.get(HOURS_ENV, DEFAULT_HOURS), zone)
    rasa_url = os.environ.get(RASA_URL_ENV, "http://127.0.0.1:5005").rstrip("/")
    idle_s = read_idle_s(os.environ.get(IDLE_ENV))
    return HandoffSettings(hours=hours, rasa_url=rasa_url, rasa_token=rasa_token(), idle_s=idle_s)


@lru_cache(maxsize=1)
def handoff_settings() -> HandoffSettings:
    """The settings, read once per process."""
    return read_settings()
