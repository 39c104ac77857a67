"""GET /metrics on the Rasa server: the Prometheus exposition of ops/metrics.py.

An input channel because that is how Rasa lets a project add a route to its own server (listed in
bot/credentials.yml); it takes no messages. Its `url_prefix` is absolute, so the route is /metrics and
not /webhooks/metrics/. The figures say how much traffic the shop gets and how often the bot fails, so
they are not public: with SHOPCUE_METRICS_TOKEN set a scraper sends `Authorization: Bearer <token>`,
without it only clients on the loopback interface are answered.
"""

from __future__ import annotations

import hmac
import logging
import os
from typing import Any, Awaitable, Callable, Dict, Optional

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from common.trust import local_client
from ops.metrics import exposition

logger = logging.getLogger(__name__)

TOKEN_ENV = "SHOPCUE_METRICS_TOKEN"


def allowed(authorization: Optional[str], client_ip: str, token: Optional[str], forwarded_for: str = ""
            ) -> bool:
    """Whether a caller is trusted (metrics scrapes, the REST webhook): the bearer token when one is set,
    else a client on this machine (common/trust.py: behind a local proxy, the forwarded client too)."""
    if token:
        scheme, _, given = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    return local_client(client_ip, forwarded_for)


class MetricsInput(InputChannel):
    """Serves the metrics; receives no shopper messages."""

    @classmethod
    def name(cls) -> str:
        return "metrics"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> MetricsInput:
        return cls()

    def url_prefix(self) -> str:
        return "/metrics"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        metrics = Blueprint("shopcue_metrics", __name__)

        @metrics.route("", methods=["GET"], strict_slashes=False)
        async def scrape(request: Request) -> HTTPResponse:
            token = os.environ.get(TOKEN_ENV, "").strip() or None
            if not allowed(request.headers.get("authorization"), request.ip, token, request.remote_addr):
                return response.json({"error": "not allowed"}, status=401 if token else 403)
            body, content_type = exposition()
            return response.raw(body, content_type=content_type)

        return metrics
