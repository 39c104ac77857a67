"""The voice service's logging: one `event key=value ...` line per event, quiet, phone numbers redacted.

Callers' numbers arrive in every Twilio webhook (From, To, Caller) and a caller may say one aloud, so
no voice log line may carry one: every voice logger, and the handler `configure` installs, masks any
run of 7 or more digits that looks like a phone number before the line is written.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

# +1 (555) 010-0000, 07700 900123, +447700900123: 7 to 15 digits with the usual separators, standing
# alone (not inside a SID such as CA0123456789abcdef...).
PHONE_NUMBER = re.compile(r"(?<![\w+])\+?\d(?:[ ().-]{0,2}\d){6,14}(?!\w)")
REDACTED = "[redacted number]"

# Libraries whose INFO lines are noise for an operator (every HTTP request, every connection).
QUIET_LOGGERS = ("httpx", "httpcore", "uvicorn.access", "websockets", "faster_whisper")


def redact(text: str) -> str:
    """The text with anything that looks like a phone number masked."""
    return PHONE_NUMBER.sub(REDACTED, text)


class RedactPhoneNumbers(logging.Filter):
    """Rewrites a record's message with phone numbers masked (the arguments are merged in first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_REDACT = RedactPhoneNumbers()


def get_logger(name: str) -> logging.Logger:
    """A voice module's logger, with the redaction on it even when no handler of ours is installed."""
    logger = logging.getLogger(name)
    if _REDACT not in logger.filters:
        logger.addFilter(_REDACT)
    return logger


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    text = str(value)
    return f'"{text}"' if not text or any(c in text for c in ' ="') else text


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    """One structured line: `event key=value ...` (values with spaces are quoted)."""
    if logger.isEnabledFor(level):
        pairs = " ".join(f"{key}={_value(value)}" for key, value in fields.items())
        logger.log(level, f"{event} {pairs}".rstrip())


def configure(level: str = "INFO") -> None:
    """Logging for the voice service's process: one line per record on stderr, numbers redacted."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(_REDACT)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("voice").setLevel(level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
