"""The model-serving routes' guard and client (ops/serving.py, ops/serving_client.py): the token when one
is configured (Bearer header or ?token=), loopback clients only without one, and the client sending it;
and bot/launcher.py starting the shadow worker when the registry has a shadow model."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, Iterator, List, Optional

import pytest

from learning import registry
from learning.db import get_engine, reset_engines
from ops import serving_client
from ops.serving import authorised


def _request(ip: str = "127.0.0.1", headers: Optional[Dict[str, str]] = None,
             args: Optional[Dict[str, str]] = None, forwarded_for: str = "") -> Any:
    return SimpleNamespace(ip=ip, headers=headers or {}, args=args or {}, remote_addr=forwarded_for)


def test_without_a_token_only_this_machine_may_switch() -> None:
    assert authorised(_request("127.0.0.1"), None)
    assert authorised(_request("::1"), None)
    assert not authorised(_request("10.1.2.3"), None)
    assert not authorised(_request("not an address"), None)
    # Through nginx on this machine the connection is local, the shopper it forwards for is not.
    assert not authorised(_request("127.0.0.1", forwarded_for="203.0.113.9"), None)


def test_with_a_token_it_is_required_from_everyone() -> None:
    token = "s3cret-token"
    assert not authorised(_request("127.0.0.1"), token)
    assert authorised(_request("10.1.2.3", headers={"Authorization": f"Bearer {token}"}), token)
    assert authorised(_request("10.1.2.3", args={"token": token}), token)
    assert not authorised(_request("10.1.2.3", headers={"Authorization": "Bearer wrong"}), token)
    assert not authorised(_request("10.1.2.3", headers={"Authorization": token}), token)  # not a Bearer


@pytest.fixture()
def fake_rasa() -> Iterator[Dict[str, Any]]:
    """A local HTTP server that records each request and answers like the ops routes."""
    seen: Dict[str, Any] = {"requests": []}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen["requests"].append((self.path, self.headers.get("Authorization"), body))
            status = 409 if body.get("model_id") == "unknown" else 200
            answer = {"error": "no model 'unknown'"} if status == 409 else {"live": {"id": body["model_id"]}}
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    seen["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    yield seen
    server.shutdown()


def test_the_client_sends_the_token_and_reports_refusals(fake_rasa: Dict[str, Any], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serving_client, "TOKEN_FILE", tmp_path / "no_token_file")
    monkeypatch.setenv(serving_client.TOKEN_ENV, "tok")
    assert serving_client.serve_live("abc", url=fake_rasa["url"]) == {"live": {"id": "abc"}}
    assert fake_rasa["requests"][-1] == ("/webhooks/ops/models/live", "Bearer tok", {"model_id": "abc"})
    with pytest.raises(RuntimeError, match=r"refused \(409\).*no model"):
        serving_client.serve_live("unknown", url=fake_rasa["url"])
    monkeypatch.delenv(serving_client.TOKEN_ENV)
    serving_client.serve_candidate("cand", 0.2, url=fake_rasa["url"])
    assert fake_rasa["requests"][-1] == ("/webhooks/ops/models/candidate", None,
                                         {"model_id": "cand", "share": 0.2})
    (tmp_path / "no_token_file").write_text("from-file\n")  # make run's var/rasa_api_token
    serving_client.serve_candidate(None, url=fake_rasa["url"])
    assert fake_rasa["requests"][-1][1] == "Bearer from-file"


def test_the_launcher_starts_the_shadow_worker_when_the_registry_has_one(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch
                                                                          ) -> None:
    from bot import launcher

    reset_engines()
    url = f"sqlite:///{tmp_path / 'loop.db'}"
    engine = get_engine(url)
    spawned: List[List[str]] = []

    def spawn(self: launcher.BotProcesses, command: List[str], log: Path, env: Any = None,
              append_log: bool = False) -> Any:
        spawned.append(command)  # no process: an exited stand-in that stop() leaves alone
        self._processes.append(SimpleNamespace(pid=-1, poll=lambda: 0, wait=lambda timeout=None: 0))
        return self._processes[-1]

    monkeypatch.setattr(launcher.BotProcesses, "_spawn", spawn)
    monkeypatch.setattr(launcher.BotProcesses, "_wait_until", lambda self, *args: None)
    bot = launcher.BotProcesses(model=tmp_path / "m.tar.gz", database_url=url, log_dir=tmp_path / "logs")
    bot.start()
    assert not any("ops.shadow" in command for command in spawned)
    archive = tmp_path / "shadow.tar.gz"
    archive.write_bytes(b"a shadow archive")
    registry.set_shadow(engine, registry.register(engine, archive, "h").id)
    spawned.clear()
    bot.start()
    assert [c for c in spawned if "ops.shadow" in c] == [[launcher.sys.executable, "-m", "ops.shadow",
                                                          "--poll", "1.0"]]
    spawned.clear()
    launcher.BotProcesses(model=archive, database_url=url, log_dir=tmp_path / "logs", shadow=False).start()
    assert not any("ops.shadow" in command for command in spawned)
    reset_engines()
