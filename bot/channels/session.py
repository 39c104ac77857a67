"""Server-issued web chat sessions: who a browser is, decided by the server and never by the client.

A session is `<id>.<issued>.<signature>`: a random id (16 bytes, base64url), the Unix second it was
issued, and HMAC-SHA256 over both with the channel's secret. The sender id Rasa sees is `web-<id>`,
derived from a verified session only, so a client can neither pick another shopper's conversation nor
make one up. Sessions are stateless (nothing is stored per session) and expire SESSION_TTL_S after
they were issued; then the widget asks for a new one and the shopper starts a new conversation.

The secret is SHOPCUE_WEBCHAT_SECRET when set, else a random one made once and kept in
var/webchat/secret (mode 0600, its folder ignored by git), so sessions survive a restart. It is never
logged. Changing it ends every session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

SECRET_ENV = "SHOPCUE_WEBCHAT_SECRET"
SECRET_FILE = Path(__file__).resolve().parents[2] / "var" / "webchat" / "secret"
# The header every web chat call but the session request carries (a header, not the URL: URLs end up in
# access logs and Referer headers).
SESSION_HEADER = "X-Shopcue-Session"
SESSION_TTL_S = int(os.environ.get("SHOPCUE_WEBCHAT_SESSION_DAYS", "30")) * 86400
# What Rasa's sender ids of web chat conversations start with; the REST channel refuses it.
SENDER_PREFIX = "web-"
# A session's id: base64url; the server makes 22 characters, tests may mint shorter ones.
_SESSION = re.compile(r"([A-Za-z0-9_-]{1,64})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})")
# Separates this use of the secret from any other (domain separation).
_CONTEXT = b"shopcue-webchat-session-v1:"
# A clock a little behind the issuer's is forgiven this much.
_SKEW_S = 300


@dataclass(frozen=True)
class SessionCheck:
    """A session's verdict: the sender id when it is good, else a short machine code and a reason."""

    sender: Optional[str] = None
    code: str = ""
    reason: str = ""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class SessionSigner:
    """Issues and verifies sessions with one secret (at least 16 bytes)."""

    def __init__(self, secret: Union[str, bytes], ttl_s: int = SESSION_TTL_S) -> None:
        key = secret.encode("utf-8") if isinstance(secret, str) else secret
        if len(key) < 16:
            raise ValueError("the web chat session secret must be at least 16 bytes")
        self._key = key
        self.ttl_s = ttl_s

    def __repr__(self) -> str:  # never the key
        return f"SessionSigner(ttl_s={self.ttl_s})"

    def _signature(self, session_id: str, issued: int) -> str:
        message = _CONTEXT + f"{session_id}.{issued}".encode("ascii")
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest())

    def issue(self, now: Optional[float] = None, session_id: Optional[str] = None) -> str:
        """A new session (a fresh random id unless the server names one, as tests do)."""
        session_id = session_id or _b64(secrets.token_bytes(16))
        issued = int(time.time() if now is None else now)
        return f"{session_id}.{issued}.{self._signature(session_id, issued)}"

    def verify(self, session: object, now: Optional[float] = None) -> SessionCheck:
        """Whose conversation a session opens, or why it opens none. Constant-time signature check."""
        if session is None or session == "":
            return SessionCheck(code="session_missing", reason="a web chat session is required")
        match = _SESSION.fullmatch(session) if isinstance(session, str) else None
        if match is None:
            return SessionCheck(code="session_invalid", reason="the web chat session is malformed")
        session_id, issued_text, signature = match.groups()
        issued = int(issued_text)
        if not hmac.compare_digest(signature.encode("ascii"), self._signature(session_id, issued).encode()):
            return SessionCheck(code="session_invalid", reason="the web chat session is not valid")
        current = time.time() if now is None else now
        if issued > current + _SKEW_S:
            return SessionCheck(code="session_invalid", reason="the web chat session is not valid")
        if current - issued > self.ttl_s:
            return SessionCheck(code="session_expired", reason="the web chat session has expired")
        return SessionCheck(sender=SENDER_PREFIX + session_id)

    def expires_at(self, session: str) -> int:
        """When an (issued) session stops being accepted, in Unix seconds."""
        return int(session.split(".")[1]) + self.ttl_s


def load_secret(path: Path = SECRET_FILE) -> bytes:
    """SHOPCUE_WEBCHAT_SECRET, else the file's secret, made (0600, atomically) on first use."""
    configured = os.environ.get(SECRET_ENV, "").strip()
    if configured:
        return configured.encode("utf-8")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        ignore = path.parent / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# bot/channels/session.py: the web chat secret is never committed\n*\n")
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(temporary, path)  # fails if another process made it first: theirs is kept
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    secret = path.read_text(encoding="utf-8").strip()
    if len(secret) < 16:
        raise RuntimeError(f"{path} holds no usable web chat secret; delete it to make a new one")
    return secret.encode("utf-8")
