"""Settings of the handoff to people, from SHOPCUE_* environment variables, read in one place.

The action server (opening hours), the Rasa server's web chat channel (polling) and the console (the
Rasa API it reads transcripts from) all read the same names, so one environment configures all three.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ops.handoff_hours import OpeningHours, parse_hours
from ops.serving_client import rasa_token

HOURS_ENV = "SHOPCUE_HANDOFF_HOURS"
TIMEZONE_ENV = "SHOPCUE_HANDOFF_TIMEZONE"
RASA_URL_ENV = "SHOPCUE_CONSOLE_RASA_URL"
RASA_TOKEN_ENV = "SHOPCUE_RASA_TOKEN"
DEFAULT_HOURS = "mon-fri 09:00-18:00"
DEFAULT_TIMEZONE = "UTC"


@dataclass(frozen=True)
class HandoffSettings:
    """Opening hours and where the console finds the Rasa server."""

    hours: OpeningHours
    rasa_url: str
    rasa_token: str


def read_settings() -> HandoffSettings:
    """The settings from the environment; a bad hours text or zone raises at once (a config error)."""
    zone_name = os.environ.get(TIMEZONE_ENV, DEFAULT_TIMEZONE).strip() or DEFAULT_TIMEZONE
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"{TIMEZONE_ENV}={zone_name!r} is not a time zone") from error
    hours = parse_hours(os.environ.get(HOURS_ENV, DEFAULT_HOURS), zone)
    rasa_url = os.environ.get(RASA_URL_ENV, "http://127.0.0.1:5005").rstrip("/")
    return HandoffSettings(hours=hours, rasa_url=rasa_url, rasa_token=rasa_token())


@lru_cache(maxsize=1)
def handoff_settings() -> HandoffSettings:
    """The settings, read once per process."""
    return read_settings()
