"""The console's client for Rasa's HTTP API: read a handed-off conversation's tracker and append an
agent's message to it as a bot event.

The console is a separate process from the Rasa server, so it goes through the API the server already
has (`--enable-api`): `GET /conversations/{id}/tracker` and `POST /conversations/{id}/tracker/events`,
the latter under the same conversation lock the web chat channel takes.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Dict
from urllib.parse import quote

import httpx

from ops.handoff_settings import HandoffSettings
from ops.handoff_view import AGENT_KEY

logger = logging.getLogger(__name__)

TIMEOUT_S = 10.0


class RasaUnavailableError(RuntimeError):
    """The Rasa server did not answer, or answered with an error."""


class RasaConversations:
    """One conversation API client per console process."""

    def __init__(self, settings: HandoffSettings, timeout_s: float = TIMEOUT_S) -> None:
        self.base = settings.rasa_url
        self.params = {"token": settings.rasa_token} if settings.rasa_token else {}
        self.timeout_s = timeout_s

    def _url(self, sender: str, tail: str) -> str:
        return f"{self.base}/conversations/{quote(sender, safe='')}/{tail}"

    async def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await client.request(method, url, **kwargs)
                response.raise_for_status()
                return response.json()
        except (httpx.HTTPError, ValueError) as error:
            logger.warning("handoff.rasa_failed method=%s error=%s", method, type(error).__name__)
            raise RasaUnavailableError(f"{type(error).__name__} from the Rasa server") from error

    async def tracker(self, sender: str) -> Dict[str, Any]:
        """The conversation's tracker as JSON (its events since the last restart, and its slots)."""
        params = {**self.params, "include_events": "AFTER_RESTART"}
        tracker = await self._call("GET", self._url(sender, "tracker"), params=params)
        return tracker if isinstance(tracker, dict) else {}

    async def append_agent_message(self, sender: str, text: str, agent: str) -> None:
        """The agent's message as a bot event (metadata agent=name), so the widget's poll and a
        reloaded history show it."""
        event = {"event": "bot", "text": text, "metadata": {AGENT_KEY: agent}, "timestamp": time.time()}
        params = {**self.params, "include_events": "NONE"}
        await self._call("POST", self._url(sender, "tracker/events"), params=params, json=event)
