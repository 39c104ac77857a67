"""The action server as `make run` (bot/launcher.py) starts it: rasa_sdk's own app, bound to one interface
(loopback by default) and, when SHOPCUE_ACTION_TOKEN is set, refusing every call but /health that lacks
the shared secret in the X-Shopcue-Action-Token header. Rasa sends that header from its endpoints file:

    action_endpoint:
      url: "http://localhost:5055/webhook"
      headers:
        X-Shopcue-Action-Token: ${SHOPCUE_ACTION_TOKEN}

    python -m actions.server [--actions actions] [--host 127.0.0.1] [--port 5055]

For development, plain `rasa run actions --actions actions` still serves the same actions with neither
check (on every interface, as rasa_sdk does).
"""

from __future__ import annotations

import argparse
import hmac
import logging
import os
from typing import List, Optional

TOKEN_ENV = "SHOPCUE_ACTION_TOKEN"
TOKEN_HEADER = "X-Shopcue-Action-Token"
OPEN_PATHS = frozenset({"/health"})

logger = logging.getLogger(__name__)


def authorised(path: str, given: Optional[str], token: Optional[str]) -> bool:
    """Whether a request may reach the actions: always without a token, else only with it (or /health)."""
    if not token or path in OPEN_PATHS:
        return True
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def create_app(actions: str = "actions", token: Optional[str] = None):  # -> sanic.Sanic
    """rasa_sdk's action server app with the token check in front of its routes."""
    from rasa_sdk.endpoint import create_app as create_sdk_app
    from sanic import response

    app = create_sdk_app(actions, cors_origins=None)

    @app.on_request
    async def require_token(request):  # type: ignore[no-untyped-def]
        if not authorised(request.path, request.headers.get(TOKEN_HEADER), token):
            return response.json({"error": "not authorised"}, status=403)
        return None

    return app


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m actions.server", description=__doc__.split("\n")[0])
    parser.add_argument("--actions", default="actions", help="the package of Action classes")
    parser.add_argument("--host", default="127.0.0.1", help="the interface to listen on (default loopback)")
    parser.add_argument("--port", type=int, default=5055)
    args = parser.parse_args(argv)

    from rasa_sdk import utils
    from rasa_sdk.plugin import plugin_manager

    utils.configure_colored_logging("INFO")
    utils.update_sanic_log_level()
    token = os.environ.get(TOKEN_ENV) or None
    app = create_app(args.actions, token)
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    logger.info("Action server on http://%s:%s (%s)", args.host, args.port,
                "calls need the shared token" if token else "no token: any local client may call it")
    app.run(args.host, args.port, workers=utils.number_of_sanic_workers())


if __name__ == "__main__":
    main()
