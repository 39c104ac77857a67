"""Which models the running Rasa server answers with: switch the live model and load an A/B candidate
with no downtime (the console and `python -m learning.registry` ask through ops/serving_client.py).

Why not Rasa's own `PUT /model`: in Rasa 3.6 it loads the new archive on the event loop (every shopper
waits for the whole load, seconds) and builds a new agent from endpoints.yml, so with the default
in-memory tracker store every conversation forgets its search and cart at the switch. Here the new
agent is loaded in a worker thread while the old one keeps answering, and it shares the old one's
domain, tracker store (and so event broker), lock store, action endpoint and response generator; the
swap is one assignment of `app.ctx.agent`, which Rasa's channel handler reads per message.

The routes live in a Rasa input channel (bot/credentials.yml: `ops.serving.ServingInput`), so they are
served by the Rasa process itself, under /webhooks/ops/:

    GET  /webhooks/ops/models             {"live": {id, model_file, rasa_model_id}, "candidate": ... | null,
                                           "share"}
    POST /webhooks/ops/models/live        {"model_id"?}: serve this registered model (default: the
                                          registry's live one)
    POST /webhooks/ops/models/candidate   {"model_id": id | null, "share"?}: start, change or stop an A/B test

A candidate must have the live model's domain (slots, actions): the shared tracker store keeps one
domain, and Rasa sets it from each model it loads (a retrained model from the same data has it).

Only registered models (learning/registry.py) are loaded, never a path from a request. With
`SHOPCUE_RASA_TOKEN` set the routes need it (`Authorization: Bearer ...`); without one they answer only
clients on this machine. At start the candidate comes from `SHOPCUE_AB_CANDIDATE` (a registry id or an
archive path) and `SHOPCUE_AB_SHARE` (default 0.1).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Optional, Tuple

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from common.trust import local_client
from ops.serving_client import DEFAULT_SHARE, TOKEN_ENV

logger = logging.getLogger(__name__)

AB_CANDIDATE_ENV, AB_SHARE_ENV = "SHOPCUE_AB_CANDIDATE", "SHOPCUE_AB_SHARE"
STATE_KEY = "shopcue_serving"


@dataclass
class ServingState:
    """What this Rasa process serves besides `app.ctx.agent`: the ids to log and the A/B candidate."""

    live_id: str = ""
    candidate: Any = None  # a loaded rasa Agent, or None
    candidate_id: str = ""
    share: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one load at a time

    def view(self, live_agent: Any) -> Dict[str, Any]:
        def describe(agent: Any, model_id: str) -> Optional[Dict[str, Any]]:
            if agent is None or getattr(agent, "processor", None) is None:
                return None
            return {"id": model_id, "model_file": agent.processor.model_filename,
                    "rasa_model_id": agent.model_id}

        return {"live": describe(live_agent, self.live_id),
                "candidate": describe(self.candidate, self.candidate_id), "share": self.share}


_app: Any = None


def active_app() -> Any:
    """The Rasa app whose ops channel started in this process (one server per process), or None."""
    return _app


def serving_state(app: Any) -> Optional[ServingState]:
    """This app's serving state; None when the ops channel is not configured (the live agent only)."""
    return getattr(app.ctx, STATE_KEY, None)


def archive_id(path: Path) -> str:
    """The registry id of an archive (its SHA-256 prefix), registered or not."""
    from learning.registry import ID_LENGTH, file_digest

    return file_digest(Path(path), ID_LENGTH)


def registered_archive(model_id: Optional[str]) -> Tuple[str, Path]:
    """The id and archive of a registered model (the live one when `model_id` is None); RegistryError if
    there is none or its file is gone."""
    from learning import registry
    from learning.db import get_engine

    engine = get_engine()
    record = registry.get_model(engine, model_id) if model_id else registry.live_model(engine)
    if record is None:
        raise registry.RegistryError("the registry has no live model")
    if not Path(record.path).is_file():
        raise registry.RegistryError(f"the archive of {record.id} is gone: {record.path}")
    return record.id, Path(record.path)


def load_sharing(live: Any, archive: Path) -> Any:
    """A new Agent for `archive` sharing the live agent's stores, endpoints and generator (blocking: run
    it in a thread). The domain is passed in so the shared tracker store never sees a missing one."""
    from rasa.core.agent import Agent

    agent = Agent(domain=live.domain, generator=live.nlg, tracker_store=live.tracker_store,
                  lock_store=live.lock_store, action_endpoint=live.action_endpoint,
                  http_interpreter=live.http_interpreter)
    agent.load_model(str(archive))
    return agent


async def switch_live(app: Any, model_id: Optional[str]) -> Dict[str, Any]:
    """Load a registered model beside the live agent, then swap it in (the old one answers meanwhile)."""
    state = _state(app)
    async with state.lock:
        new_id, archive = await asyncio.to_thread(registered_archive, model_id)
        agent = await asyncio.to_thread(load_sharing, app.ctx.agent, archive)
        app.ctx.agent = agent
        state.live_id = new_id
        if state.candidate_id == new_id:  # the candidate was promoted: the A/B test is over
            state.candidate, state.candidate_id, state.share = None, "", 0.0
        logger.info("ops.serving: now serving %s (%s)", new_id, archive.name)
    return state.view(app.ctx.agent)


async def set_candidate(app: Any, reference: Optional[str], share: float, allow_path: bool = False
                        ) -> Dict[str, Any]:
    """Load an A/B candidate (a registry id; an archive path too when `allow_path`: the operator's
    SHOPCUE_AB_CANDIDATE, never a request) beside the live agent, or drop it (None)."""
    state = _state(app)
    async with state.lock:
        if not reference:
            state.candidate, state.candidate_id, state.share = None, "", 0.0
        else:
            path = Path(reference)
            if allow_path and path.is_file():
                archive, candidate_id = path, await asyncio.to_thread(archive_id, path)
            else:
                candidate_id, archive = await asyncio.to_thread(registered_archive, reference)
            agent = await asyncio.to_thread(load_sharing, app.ctx.agent, archive)
            state.candidate, state.candidate_id, state.share = agent, candidate_id, share
            logger.info("ops.serving: A/B candidate %s for %.1f%% of shoppers", candidate_id, share * 100)
    return state.view(app.ctx.agent)


def _state(app: Any) -> ServingState:
    state = serving_state(app)
    if state is None:
        state = ServingState()
        setattr(app.ctx, STATE_KEY, state)
    return state


def _share(value: Any) -> float:
    share = float(value)
    if not 0.0 <= share <= 1.0:
        raise ValueError("share must be between 0 and 1")
    return share


def authorised(request: Request, token: Optional[str]) -> bool:
    """The configured token (Bearer header or ?token=), or without one a client on this machine."""
    if token:
        header = request.headers.get("Authorization", "")
        given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        given = given or request.args.get("token", "")
        return hmac.compare_digest(given.encode(), token.encode())
    return local_client(request.ip, request.remote_addr)


class ServingInput(InputChannel):
    """The model-serving routes and the start-up of the serving state, as a Rasa input channel."""

    @classmethod
    def name(cls) -> str:
        return "ops"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> ServingInput:
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        ops = Blueprint("shopcue_ops_serving", __name__)

        @ops.listener("after_server_start")
        async def start(app: Any, _loop: Any) -> None:
            global _app
            state = _state(app)
            _app = app
            app.add_task(_start_up(app, state))

        async def guarded(request: Request, work: Callable[[], Awaitable[Dict[str, Any]]]) -> HTTPResponse:
            if not authorised(request, os.environ.get(TOKEN_ENV)):
                return response.json({"error": "not authorised"}, status=401)
            try:
                return response.json(await work())
            except (ValueError, TypeError) as error:  # RegistryError is a ValueError
                return response.json({"error": str(error)}, status=409)
            except Exception as error:  # a broken archive: the old agent keeps serving
                logger.warning("ops.serving: loading failed (%s); still serving the previous model",
                               type(error).__name__, exc_info=True)
                reason = f"loading failed: {type(error).__name__}: {error}"
                return response.json({"error": reason}, status=500)

        @ops.route("/models", methods=["GET"])
        async def models(request: Request) -> HTTPResponse:
            async def view() -> Dict[str, Any]:
                return _state(request.app).view(request.app.ctx.agent)

            return await guarded(request, view)

        @ops.route("/models/live", methods=["POST"])
        async def live(request: Request) -> HTTPResponse:
            body = request.json if isinstance(request.json, dict) else {}
            return await guarded(request, lambda: switch_live(request.app, body.get("model_id") or None))

        @ops.route("/models/candidate", methods=["POST"])
        async def candidate(request: Request) -> HTTPResponse:
            body = request.json if isinstance(request.json, dict) else {}
            return await guarded(request, lambda: set_candidate(
                request.app, body.get("model_id") or None, _share(body.get("share", DEFAULT_SHARE))))

        return ops


async def _start_up(app: Any, state: ServingState) -> None:
    """After Rasa loaded its agent: the live archive's id, then the configured candidate (both in
    threads; arm-B shoppers talk to the live model until the candidate is loaded)."""
    try:
        while getattr(getattr(app.ctx, "agent", None), "processor", None) is None:
            await asyncio.sleep(0.2)
        state.live_id = await asyncio.to_thread(archive_id, app.ctx.agent.processor.model_path)
        reference = os.environ.get(AB_CANDIDATE_ENV, "").strip()
        if reference:
            await set_candidate(app, reference, _share(os.environ.get(AB_SHARE_ENV, DEFAULT_SHARE)),
                                allow_path=True)
    except Exception:  # the live model keeps serving; the log says why there is no candidate
        logger.exception("ops.serving: start-up failed; serving the live model only")
