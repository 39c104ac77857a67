"""The client of the Rasa server's model-serving routes (ops/serving.py), for the console and the CLI.

Kept apart from ops/serving.py so the console and `python -m learning.registry` switch models without
importing Rasa. The Rasa URL is `SHOPCUE_CONSOLE_RASA_URL` (bot/launcher.py passes it to the console);
the Rasa server's API token (`SHOPCUE_RASA_TOKEN`, else the file `make run` keeps in var/rasa_api_token)
is sent as a Bearer header.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, Optional

TOKEN_ENV = "SHOPCUE_RASA_TOKEN"
# Where bot/launcher.py (make run) keeps the token it generated, readable by its owner only.
TOKEN_FILE = Path(__file__).resolve().parent.parent / "var" / "rasa_api_token"
RASA_URL_ENV = "SHOPCUE_CONSOLE_RASA_URL"
DEFAULT_SHARE = 0.1
# Loading a model takes seconds to a minute on a busy machine; the switch answers once it is serving.
SWITCH_TIMEOUT_S = 600.0


def rasa_url() -> str:
    return os.environ.get(RASA_URL_ENV, "http://127.0.0.1:5005").rstrip("/")


def rasa_token() -> str:
    """The Rasa server's API token: SHOPCUE_RASA_TOKEN, else make run's var/rasa_api_token, else ''."""
    given = os.environ.get(TOKEN_ENV, "").strip()
    if given:
        return given
    try:
        return TOKEN_FILE.read_text().strip()
    except OSError:
        return ""


def call(method: str, path: str, payload: Optional[Dict[str, Any]] = None, url: Optional[str] = None,
         token: Optional[str] = None, timeout: float = SWITCH_TIMEOUT_S) -> Dict[str, Any]:
    """One JSON call to the Rasa server's ops routes; RuntimeError with the server's reason on failure."""
    token = token if token is not None else rasa_token()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(f"{(url or rasa_url()).rstrip('/')}/webhooks/ops{path}", data=data,
                                     method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return json.loads(reply.read() or b"{}")
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")[:500]
        raise RuntimeError(f"the Rasa server refused ({error.code}): {detail}") from error
    except (urllib.error.URLError, OSError) as error:
        raise RuntimeError(f"the Rasa server at {url or rasa_url()} did not answer: {error}") from error


def serve_live(model_id: Optional[str] = None, url: Optional[str] = None, token: Optional[str] = None
               ) -> Dict[str, Any]:
    """Ask the running server to serve a registered model (default: the registry's live one)."""
    return call("POST", "/models/live", {"model_id": model_id}, url=url, token=token)


def serve_candidate(model_id: Optional[str], share: float = DEFAULT_SHARE, url: Optional[str] = None,
                    token: Optional[str] = None) -> Dict[str, Any]:
    return call("POST", "/models/candidate", {"model_id": model_id, "share": share}, url=url, token=token)


def serving(url: Optional[str] = None, timeout: float = 10.0, token: Optional[str] = None) -> Dict[str, Any]:
    return call("GET", "/models", url=url, timeout=timeout, token=token)
