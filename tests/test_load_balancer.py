"""The load balancer's routing, with the real nginx and its real configuration in front of two small
stand-in servers (each says who it is and which client address nginx gave it): a conversation stays on
one instance, conversations spread over both, an instance that is down loses nothing, a client cannot
choose the address the rate limits see, and only the shoppers' channels are public.

The scaled bot itself behind nginx is tested in test_scaleout_e2e.py.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

import httpx
import pytest

from bot.channels.session import SESSION_HEADER, SessionSigner
from bot.launcher import free_port
from deploy.load_balancer import Nginx, read_access_log, render_config

pytest_plugins = ["tests.services"]

SESSIONS = SessionSigner("a test secret of the load balancer, never a real one")


class StandIn:
    """An HTTP server that answers every request with its name and the X-Real-IP nginx sent it."""

    def __init__(self, name: str) -> None:
        self.name = name

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                body = json.dumps({"instance": name, "client": self.headers.get("X-Real-IP")}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                self.do_POST()

            def log_message(self, *args: object) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def balanced(start_nginx: Callable[[str, int], Nginx], tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple]:
    """nginx with the project's configuration in front of stand-ins "a" and "b"."""
    stand_ins = [StandIn("a"), StandIn("b")]
    log_dir = tmp_path_factory.mktemp("balancer-logs")
    port = free_port()
    nginx = start_nginx(render_config([s.address for s in stand_ins], f"127.0.0.1:{port}", log_dir), port)
    try:
        yield nginx, stand_ins, log_dir
    finally:
        for stand_in in stand_ins:
            stand_in.close()


def ask(nginx: Nginx, path: str, session: Optional[str] = None, headers: Optional[Dict[str, str]] = None,
        source: str = "127.0.0.1") -> httpx.Response:
    """A POST from the local address `source` (any 127.x.y.z is this machine on Linux)."""
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=10) as client:
        sent = {**({SESSION_HEADER: session} if session else {}), **(headers or {})}
        return client.post(f"{nginx.url}{path}", json={"message": "hi"}, headers=sent)


def instances_for(nginx: Nginx, session: str, times: int = 5) -> List[str]:
    return [ask(nginx, "/webhooks/webchat/webhook", session).json()["instance"] for _ in range(times)]


def test_a_conversation_stays_on_one_instance_and_conversations_spread(balanced: tuple) -> None:
    nginx, _, log_dir = balanced
    sessions = [SESSIONS.issue() for _ in range(24)]
    served = {session: set(instances_for(nginx, session)) for session in sessions}
    assert all(len(instances) == 1 for instances in served.values()), served
    assert {next(iter(instances)) for instances in served.values()} == {"a", "b"}
    # The log names each conversation by its session's id alone: the signature, a credential, is not kept.
    records = [r for r in read_access_log(log_dir / "access.log") if r.uri == "/webhooks/webchat/webhook"]
    assert {r.session for r in records} >= {s.split(".")[0] for s in sessions}
    assert not any(s.split(".")[2] in (log_dir / "access.log").read_text() for s in sessions)


def test_a_rest_caller_stays_on_one_instance_per_sender(balanced: tuple) -> None:
    nginx, _, _ = balanced
    by_sender = {
        sender: {ask(nginx, "/webhooks/rest/webhook", headers={"X-Shopcue-Sender": sender}).json()["instance"]
                 for _ in range(4)}
        for sender in (f"caller-{n}" for n in range(16))
    }
    assert all(len(instances) == 1 for instances in by_sender.values()), by_sender
    assert set().union(*by_sender.values()) == {"a", "b"}


def test_the_instances_see_the_clients_address_not_one_the_client_claims(balanced: tuple) -> None:
    nginx, _, _ = balanced
    reply = ask(nginx, "/webhooks/webchat/session", headers={"X-Real-IP": "203.0.113.9",
                                                            "X-Forwarded-For": "203.0.113.9"},
                source="127.0.0.23")
    assert reply.json()["client"] == "127.0.0.23"


def test_only_the_shoppers_channels_are_public(balanced: tuple) -> None:
    nginx, _, _ = balanced
    for path in ("/model", "/conversations/web-x/tracker", "/status", "/webhooks/ops/model",
                 "/webhooks/metrics"):
        assert ask(nginx, path).status_code == 404, path
    health = httpx.get(f"{nginx.url}/health", timeout=10)
    assert health.status_code == 200


def test_an_instance_that_is_down_moves_its_conversations_without_an_error(
        start_nginx: Callable[[str, int], Nginx], tmp_path: Path) -> None:
    stand_ins = [StandIn("a"), StandIn("b")]
    port = free_port()
    nginx = start_nginx(render_config([s.address for s in stand_ins], f"127.0.0.1:{port}", tmp_path), port)
    try:
        sessions = [SESSIONS.issue() for _ in range(12)]
        on_a = [s for s in sessions if instances_for(nginx, s, times=1) == ["a"]]
        assert on_a, "some conversations are on instance a"
        stand_ins[0].close()
        for session in on_a:
            replies = [ask(nginx, "/webhooks/webchat/webhook", session) for _ in range(3)]
            assert [r.status_code for r in replies] == [200, 200, 200]
            assert {r.json()["instance"] for r in replies} == {"b"}
    finally:
        nginx.stop()
        stand_ins[1].close()
