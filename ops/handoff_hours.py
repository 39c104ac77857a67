"""Opening hours of the people who take handed-off conversations: when someone is there, and when next.

A shopper outside opening hours must be told when someone will answer, so the hours are parsed once
from a short text (`SHOPCUE_HANDOFF_HOURS`, e.g. "mon-fri 09:00-18:00; sat 10:00-14:00") and read in
the shop's time zone; "always" means someone is always there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from typing import Optional, Tuple

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ALWAYS = "always"
_PART = re.compile(r"^(?P<days>[a-z]{3}(?:-[a-z]{3})?(?:,[a-z]{3}(?:-[a-z]{3})?)*)\s+"
                   r"(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})$")
_MINUTES_IN_DAY = 24 * 60


class HoursError(ValueError):
    """The opening hours text cannot be read."""


@dataclass(frozen=True)
class Window:
    """Open on `weekday` (0 = Monday) from `start` to `end`, in minutes after midnight (end may be 1440)."""

    weekday: int
    start: int
    end: int


@dataclass(frozen=True)
class OpeningHours:
    """Weekly opening windows in one time zone."""

    windows: Tuple[Window, ...]
    zone: tzinfo

    def is_open(self, now: datetime) -> bool:
        local = _local(now, self.zone)
        minute = local.hour * 60 + local.minute
        return any(w.weekday == local.weekday() and w.start <= minute < w.end for w in self.windows)

    def next_opening(self, now: datetime) -> Optional[datetime]:
        """The next time (in the shop's zone) someone is there: `now` itself when open, None if never."""
        if self.is_open(now):
            return _local(now, self.zone)
        local = _local(now, self.zone)
        minute = local.hour * 60 + local.minute
        for days_ahead in range(8):
            day = local.date() + timedelta(days=days_ahead)
            starts = sorted(w.start for w in self.windows if w.weekday == day.weekday())
            for start in starts:
                if days_ahead == 0 and start <= minute:
                    continue
                hour, mins = divmod(start, 60)
                return datetime.combine(day, time(hour, mins), tzinfo=self.zone)
        return None


def _local(now: datetime, zone: tzinfo) -> datetime:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(zone)


def _minutes(text: str, allow_24: bool) -> int:
    hour_text, minute_text = text.split(":")
    hour, minute = int(hour_text), int(minute_text)
    if minute > 59 or hour > 24 or (hour == 24 and (minute or not allow_24)):
        raise HoursError(f"not a time of day: {text}")
    return hour * 60 + minute


def _days(spec: str) -> Tuple[int, ...]:
    days: list[int] = []
    for item in spec.split(","):
        first, _, last = item.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise HoursError(f"unknown day in {item!r}: use {', '.join(DAYS)}")
        start, end = DAYS.index(first), DAYS.index(last or first)
        span = range(start, end + 1) if start <= end else [*range(start, 7), *range(0, end + 1)]
        days.extend(span)
    return tuple(dict.fromkeys(days))


def parse_hours(text: str, zone: tzinfo) -> OpeningHours:
    """Hours from e.g. "mon-fri 09:00-18:00; sat 10:00-14:00" or "always"; a window ending before it
    starts runs past midnight into the next day."""
    spec = " ".join(text.strip().lower().split())
    if spec == ALWAYS:
        return OpeningHours(tuple(Window(day, 0, _MINUTES_IN_DAY) for day in range(7)), zone)
    windows: list[Window] = []
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        match = _PART.match(part)
        if not match:
            raise HoursError(f"cannot read {part!r}: expected e.g. 'mon-fri 09:00-18:00'")
        start, end = _minutes(match["start"], False), _minutes(match["end"], True)
        if start == end:
            raise HoursError(f"an empty window: {part!r}")
        for day in _days(match["days"]):
            if start < end:
                windows.append(Window(day, start, end))
            else:  # past midnight: the evening, then the next morning
                windows.append(Window(day, start, _MINUTES_IN_DAY))
                if end:
                    windows.append(Window((day + 1) % 7, 0, end))
    if not windows:
        raise HoursError("no opening hours given (say 'always' for round the clock)")
    return OpeningHours(tuple(windows), zone)


def describe_opening(when: datetime, now: datetime) -> str:
    """When someone will answer, for a shopper: "today at 09:00", "tomorrow at 09:00", "Monday at 09:00"
    (with the zone's name when it is not the shopper's obvious one)."""
    local_now = now.astimezone(when.tzinfo)
    days = (when.date() - local_now.date()).days
    day = "today" if days == 0 else "tomorrow" if days == 1 else DAY_NAMES[when.weekday()]
    return f"{day} at {when:%H:%M} ({when.tzname()})"
