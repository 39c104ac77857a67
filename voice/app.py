"""The phone channel's web service: Twilio's incoming-call webhook, the media-stream WebSocket, health.

    POST /voice/incoming   Twilio's "a call comes in" webhook (form post, signed): TwiML that connects
                           a bidirectional media stream, with a one-time token for this call
    WS   /voice/stream     the media stream; only a `start` carrying an unused token for a call we
                           answered is served, anything else is closed
    GET  /health           200 once the models are loaded (503 while loading or after a failure)
    GET  /voice/turns      the latest turns' latency records and their p50/p95 (?call=CallSid: one call's)

Run it with `python -m voice.app --port 5077` (`make run` does), settings from SHOPCUE_VOICE_*.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import time
from collections import deque
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Annotated, Any, AsyncIterator, Deque, Dict, List, Optional, Tuple

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response, WebSocket
from fastapi.requests import HTTPConnection
from pydantic import BaseModel
from starlette.websockets import WebSocketDisconnect, WebSocketState

from common.stats import percentile
from voice import twilio_api
from voice.call import CallSession, Engines, TurnLatency
from voice.conversation import RasaRest
from voice.logs import configure, get_logger, log_event
from voice.media_stream import StreamStart
from voice.settings import VoiceSettings, get_settings

logger = get_logger("voice.app")  # by name: run as `python -m voice.app`, __name__ is __main__

TWIML_MEDIA_TYPE = "application/xml"
# A stream whose `start` has not arrived by then is closed.
START_TIMEOUT_S = 10.0
# WebSocket close code for a stream we refuse (RFC 6455 "policy violation").
POLICY_VIOLATION = 1008
BUSY = "Sorry, all our lines are busy right now. Please call again in a few minutes. Goodbye."
UNAVAILABLE = "Sorry, the shop assistant can't take calls right now. Please try again later. Goodbye."

SettingsDep = Annotated[VoiceSettings, Depends(get_settings)]


class StreamTokens:
    """One-time tokens that bind a media stream to the call whose incoming webhook we answered."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._tokens: Dict[str, Tuple[str, float]] = {}  # token -> (CallSid, expiry)

    def issue(self, call_sid: str) -> str:
        now = time.monotonic()
        self._tokens = {t: entry for t, entry in self._tokens.items() if entry[1] > now}
        token = secrets.token_urlsafe(24)
        self._tokens[token] = (call_sid, now + self.ttl_s)
        return token

    def redeem(self, token: Optional[str], call_sid: str) -> bool:
        """True once for a token issued for this call and not expired; the token is spent either way."""
        entry = self._tokens.pop(token, None) if token else None
        return entry is not None and entry[0] == call_sid and entry[1] > time.monotonic()


@dataclass
class VoiceService:
    """What the routes share: the models (loaded at startup), stream tokens, calls, latency records."""

    tokens: StreamTokens
    turns: Deque[TurnLatency]
    engines: Optional[Engines] = None
    load_error: str = ""
    active_calls: int = 0
    _loaded: asyncio.Event = field(default_factory=asyncio.Event)

    async def ready_engines(self) -> Optional[Engines]:
        """The loaded models, waiting for startup to finish loading them; None if loading failed."""
        await self._loaded.wait()
        return self.engines

    def set_engines(self, engines: Optional[Engines], error: str = "") -> None:
        self.engines, self.load_error = engines, error
        self._loaded.set()


def get_service(connection: HTTPConnection) -> VoiceService:
    """The service state of the app serving this request or WebSocket."""
    return connection.app.state.voice


ServiceDep = Annotated[VoiceService, Depends(get_service)]


# ---- models -------------------------------------------------------------------------------------------


class IncomingCall(BaseModel):
    """What we keep of Twilio's incoming-call form: its ids, never the numbers (From, To, Caller)."""

    call_sid: str
    account_sid: str


class Health(BaseModel):
    status: str  # ok, loading, failed
    active_calls: int


class LatencySummary(BaseModel):
    turns: int
    p50_ms: float
    p95_ms: float
    vad_p50_ms: float
    stt_p50_ms: float
    bot_p50_ms: float
    tts_p50_ms: float


class TurnsReport(BaseModel):
    summary: LatencySummary
    turns: List[TurnLatency]


def summarise(turns: List[TurnLatency]) -> LatencySummary:
    """p50/p95 of the turns the bot answered aloud (not re-prompts), with the median of each part."""
    timed = [t for t in turns if t.total_ms is not None and t.outcome in ("reply", "handoff")]

    def p50(values: List[float]) -> float:
        return round(percentile(values, 50), 1)

    return LatencySummary(
        turns=len(timed),
        p50_ms=p50([t.total_ms for t in timed]),
        p95_ms=round(percentile([t.total_ms for t in timed], 95), 1),
        vad_p50_ms=p50([t.vad_ms for t in timed]),
        stt_p50_ms=p50([t.stt_ms for t in timed]),
        bot_p50_ms=p50([t.bot_ms for t in timed]),
        tts_p50_ms=p50([t.tts_ms for t in timed]),
    )


# ---- auth ---------------------------------------------------------------------------------------------


async def verified_call(request: Request, settings: SettingsDep) -> IncomingCall:
    """Twilio's form, accepted only with a valid X-Twilio-Signature (403 otherwise) from our account."""
    form = await request.form()
    params = {key: value for key, value in form.items() if isinstance(value, str)}
    url = twilio_api.signed_url(settings.public_url, request.url.path, request.url.query)
    signature = request.headers.get(twilio_api.SIGNATURE_HEADER)
    if not twilio_api.is_valid_signature(settings.signing_token(), url, params, signature):
        log_event(logger, "incoming.refused", reason="bad signature" if signature else "no signature")
        raise HTTPException(status_code=403, detail="invalid Twilio signature")
    call = IncomingCall(call_sid=params.get("CallSid", ""), account_sid=params.get("AccountSid", ""))
    if not call.call_sid or (settings.twilio_account_sid and call.account_sid != settings.twilio_account_sid):
        log_event(logger, "incoming.refused", reason="not a call of our account")
        raise HTTPException(status_code=403, detail="not a call of this account")
    return call


VerifiedCall = Annotated[IncomingCall, Depends(verified_call)]


# ---- routes -------------------------------------------------------------------------------------------

incoming_router = APIRouter(prefix="/voice", tags=["twilio"])
stream_router = APIRouter(prefix="/voice", tags=["twilio"])
health_router = APIRouter(tags=["health"])
turns_router = APIRouter(prefix="/voice", tags=["benchmarks"])


@incoming_router.post("/incoming", response_class=Response)
async def incoming_call(call: VerifiedCall, settings: SettingsDep, service: ServiceDep) -> Response:
    """Answer a call: connect its audio to our media stream (or say why not and hang up)."""
    sender = settings.sender_id(call.call_sid)
    if service.load_error:
        twiml = twilio_api.hangup_twiml(UNAVAILABLE)
        log_event(logger, "incoming.unavailable", call=sender)
    elif service.active_calls >= settings.max_calls:
        twiml = twilio_api.hangup_twiml(BUSY)
        log_event(logger, "incoming.busy", call=sender, active=service.active_calls)
    else:
        twiml = twilio_api.connect_stream_twiml(settings.stream_url, service.tokens.issue(call.call_sid))
        log_event(logger, "incoming.answered", call=sender)
    return Response(content=twiml, media_type=TWIML_MEDIA_TYPE)


class WebSocketTransport:
    """Our side of the media stream: JSON messages out, one at a time; quiet once the socket is gone."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self._lock = asyncio.Lock()

    async def send(self, message: Dict[str, Any]) -> None:
        async with self._lock:
            if self.websocket.application_state != WebSocketState.CONNECTED:
                return
            with suppress(WebSocketDisconnect, RuntimeError, OSError):  # hung up: the reader sees the end
                await self.websocket.send_text(json.dumps(message))

    async def close(self, code: int = 1000) -> None:
        async with self._lock:
            if self.websocket.application_state == WebSocketState.CONNECTED:
                with suppress(WebSocketDisconnect, RuntimeError, OSError):  # the caller was faster
                    await self.websocket.close(code=code)


async def twilio_messages(websocket: WebSocket) -> AsyncIterator[Dict[str, Any]]:
    """Twilio's JSON messages until the socket closes (anything that is not a JSON object is skipped)."""
    try:
        while True:
            text = await websocket.receive_text()
            try:
                message = json.loads(text)
            except ValueError:
                continue
            if isinstance(message, dict):
                yield message
    except (WebSocketDisconnect, RuntimeError):
        return


async def read_start(messages: AsyncIterator[Dict[str, Any]]) -> Optional[StreamStart]:
    """The stream's `start` (after `connected`); None when anything else comes first or nothing does."""

    async def first_start() -> Optional[StreamStart]:
        async for message in messages:
            if message.get("event") != "connected":
                return StreamStart.from_message(message)
        return None

    try:
        return await asyncio.wait_for(first_start(), START_TIMEOUT_S)
    except TimeoutError:
        return None


@stream_router.websocket("/stream")
async def media_stream(websocket: WebSocket, settings: SettingsDep, service: ServiceDep) -> None:
    """One call's media stream, from Twilio's `start` to its `stop` (or our hang-up)."""
    await websocket.accept()
    transport = WebSocketTransport(websocket)
    messages = twilio_messages(websocket)
    start = await read_start(messages)
    token = start.custom_parameters.get(twilio_api.TOKEN_PARAMETER) if start else None
    if start is None or not service.tokens.redeem(token, start.call_sid):
        log_event(logger, "stream.refused", reason="no start" if start is None else "bad or used token")
        await transport.close(POLICY_VIOLATION)
        return
    engines = await service.ready_engines()
    if engines is None:
        await transport.close()
        return
    bot = RasaRest(settings.rasa_webhook_url, settings.rasa_timeout_s, settings.rest_token.get_secret_value())
    session = CallSession(
        start,
        settings,
        engines,
        transport,
        bot,
        twilio_api.TwilioCalls(settings),
        on_turn=service.turns.append,
    )
    service.active_calls += 1
    try:
        await session.run(messages)
    finally:
        service.active_calls -= 1
        await bot.aclose()
        await transport.close()


@health_router.get("/health", response_model=Health)
async def health(response: Response, service: ServiceDep) -> Health:
    """ok once the models are loaded; 503 while loading or when loading failed."""
    if service.engines is not None:
        return Health(status="ok", active_calls=service.active_calls)
    response.status_code = 503
    return Health(status="failed" if service.load_error else "loading", active_calls=service.active_calls)


@turns_router.get("/turns", response_model=TurnsReport)
async def turns(service: ServiceDep, settings: SettingsDep, call: Optional[str] = None) -> TurnsReport:
    """The latest turns' latency records (caller's last word -> first reply audio), with p50/p95;
    `call`: only that call's (by its CallSid)."""
    records = list(service.turns)
    if call:
        sender = settings.sender_id(call)
        records = [record for record in records if record.call == sender]
    return TurnsReport(summary=summarise(records), turns=records)


# ---- the app ------------------------------------------------------------------------------------------


def create_app(settings: Optional[VoiceSettings] = None, engines: Optional[Engines] = None) -> FastAPI:
    """The voice service. Without `engines` it loads the real models at startup, in a thread."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service: VoiceService = app.state.voice
        loading = None
        if service.engines is None:
            loading = asyncio.create_task(_load_engines(service, settings))
        try:
            yield
        finally:
            if loading is not None:
                loading.cancel()
            if service.engines is not None:
                service.engines.close()

    app = FastAPI(title="Shopcue voice", lifespan=lifespan)
    app.state.voice = VoiceService(
        tokens=StreamTokens(settings.stream_token_ttl_s), turns=deque(maxlen=settings.latency_records)
    )
    if engines is not None:
        app.state.voice.set_engines(engines)
    app.dependency_overrides[get_settings] = lambda: settings
    for router in (incoming_router, stream_router, health_router, turns_router):
        app.include_router(router)
    return app


async def _load_engines(service: VoiceService, settings: VoiceSettings) -> None:
    try:
        engines = await asyncio.to_thread(Engines.load, settings)
    except Exception as error:  # the service stays up to answer calls politely and report it
        logger.exception("engines.failed")
        service.set_engines(None, f"{type(error).__name__}: {error}")
    else:
        service.set_engines(engines)


def main(argv: Optional[List[str]] = None) -> int:
    """`python -m voice.app`: serve the voice service with uvicorn."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m voice.app", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5077)
    args = parser.parse_args(argv)
    settings = get_settings()
    configure(settings.log_level)
    log_event(logger, "service.starting", incoming=settings.incoming_url, stream=settings.stream_url)
    # wsproto: the websockets package is pinned at 10.4 by Rasa, older than uvicorn's default expects.
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        ws="wsproto",
        log_config=None,
        access_log=False,
        log_level=settings.log_level.lower(),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
