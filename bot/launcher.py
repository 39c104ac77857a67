"""Start, wait for and stop Shopcue's processes: the Rasa server, the action server, the phone
channel's voice service (voice/app.py) and the review console (console/app.py).

One place for this, used by `make run` (`python -m bot.launcher`) and by the end-to-end tests, so a
developer's bot and the tested bot come up the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "config.yml"
DEFAULT_DOMAIN = PROJECT_ROOT / "bot" / "domain.yml"
DEFAULT_CREDENTIALS = PROJECT_ROOT / "bot" / "credentials.yml"
DEFAULT_DATA = PROJECT_ROOT / "data"


# The conversation log for learning (learning/broker.py), as endpoints.yml names it.
LOG_BROKER = "learning.broker.ConversationLogBroker"
DATABASE_URL_ENV = "SHOPCUE_DATABASE_URL"

# Library noise that says nothing to a Shopcue user (TensorFlow's C++ log, SQLAlchemy 2.0 and Python
# deprecation warnings from Rasa's pinned dependencies); an explicit setting in the environment wins.
QUIET_ENV = {"PYTHONWARNINGS": "ignore", "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}


def child_env(*overrides: Optional[Mapping[str, str]]) -> Dict[str, str]:
    """The environment for rasa subprocesses: quiet defaults, then ours, then the caller's overrides."""
    env = {**QUIET_ENV, **os.environ}
    for extra in overrides:
        env.update(extra or {})
    return env


def _learning_database_url() -> str:
    # Imported here: learning.db brings SQLAlchemy, which `--help` and the voice-only paths do not need.
    from learning.db import database_url

    return database_url()


def _registry_live_model() -> Optional[Path]:
    """The archive the model registry (learning/registry.py) has live, if any and still on disk."""
    from learning.registry import live_archive

    return live_archive()


def _registry_has_shadow(database_url: str) -> bool:
    """Whether the registry names a shadow model (ops/shadow.py parses live traffic with it)."""
    from learning.db import get_engine
    from learning.registry import shadow_model

    return shadow_model(get_engine(database_url)) is not None


class LaunchError(RuntimeError):
    """A server did not come up; the message holds the tail of its log."""


def free_port() -> int:
    """A TCP port on localhost that nothing listens on right now."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def venv_bin(name: str) -> str:
    """The path of a console script installed beside the running interpreter (the project's .venv)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def http_json(
    method: str, url: str, payload: Optional[Mapping[str, Any]] = None, timeout: float = 60.0
) -> Any:
    """A small JSON-over-HTTP call with the standard library, so launching needs no extra client."""
    data = json.dumps(payload).encode("utf-8") if payload is not None else None
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
    return json.loads(body) if body else None


def tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def train_model(
    out_dir: Path,
    config: Path = DEFAULT_CONFIG,
    domain: Path = DEFAULT_DOMAIN,
    data: Path = DEFAULT_DATA,
    fixed_model_name: Optional[str] = None,
    log_path: Optional[Path] = None,
    extra_env: Optional[Mapping[str, str]] = None,
    timeout: Optional[float] = None,
) -> Path:
    """Run `rasa train` and return the model archive it wrote.

    Rasa's own fingerprinting skips training when nothing changed, so calling this on every start is cheap.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    command = [
        venv_bin("rasa"), "train",
        "--config", str(config), "--domain", str(domain), "--data", str(data), "--out", str(out_dir),
    ]
    if fixed_model_name:
        command += ["--fixed-model-name", fixed_model_name]
    env = child_env(extra_env)
    try:
        if log_path is None:
            result = subprocess.run(command, cwd=PROJECT_ROOT, env=env, timeout=timeout)
        else:
            with log_path.open("w") as log:
                result = subprocess.run(
                    command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout
                )
    except subprocess.TimeoutExpired as error:
        detail = tail(log_path) if log_path else ""
        raise LaunchError(f"rasa train did not finish within {timeout:.0f}s:\n{detail}") from error
    if result.returncode != 0:
        detail = tail(log_path) if log_path else "see the output above"
        raise LaunchError(f"rasa train failed (exit {result.returncode}):\n{detail}")
    archives = sorted(out_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not archives:
        raise LaunchError(f"rasa train wrote no model into {out_dir}")
    return archives[-1]


@dataclass
class BotProcesses:
    """The Rasa server and the action server as child processes, with a REST client for them; with
    `voice` (or `start_voice()` later) also the voice service, talking to this Rasa server; with
    `console` (or `start_console()` alone) also the review console."""

    model: Path
    rasa_port: int = field(default_factory=free_port)
    actions_port: int = field(default_factory=free_port)
    credentials: Path = DEFAULT_CREDENTIALS
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="shopcue-logs-")))
    env: Dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    voice: bool = False
    voice_port: int = field(default_factory=free_port)
    # SHOPCUE_VOICE_* settings for the voice service (voice/settings.py); they win over the environment.
    voice_env: Dict[str, str] = field(default_factory=dict)
    # The learning database (conversation log, issue 13): Rasa's event broker writes there and the action
    # server gets it as SHOPCUE_DATABASE_URL.
    database_url: str = field(default_factory=_learning_database_url)
    # The review console (console/app.py) on `console_port`, over the same learning database.
    console: bool = False
    console_port: int = field(default_factory=free_port)
    # The shadow worker (python -m ops.shadow): None starts it when the registry has a shadow model.
    shadow: Optional[bool] = None
    _processes: List[subprocess.Popen] = field(default_factory=list, init=False, repr=False)
    _voice_process: Optional[subprocess.Popen] = field(default=None, init=False, repr=False)
    _shadow_process: Optional[subprocess.Popen] = field(default=None, init=False, repr=False)

    @property
    def rasa_url(self) -> str:
        return f"http://{self.host}:{self.rasa_port}"

    @property
    def actions_url(self) -> str:
        return f"http://{self.host}:{self.actions_port}"

    @property
    def rasa_log(self) -> Path:
        return self.log_dir / "rasa.log"

    @property
    def actions_log(self) -> Path:
        return self.log_dir / "actions.log"

    @property
    def voice_url(self) -> str:
        return f"http://{self.host}:{self.voice_port}"

    @property
    def voice_log(self) -> Path:
        return self.log_dir / "voice.log"

    @property
    def console_url(self) -> str:
        return f"http://{self.host}:{self.console_port}"

    @property
    def console_log(self) -> Path:
        return self.log_dir / "console.log"

    def start(self, timeout: float = 300.0) -> BotProcesses:
        """Start the servers and return once all answer; on failure stop them and raise."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        endpoints = self.log_dir / "endpoints.yml"
        endpoints.write_text(
            f'action_endpoint:\n  url: "{self.actions_url}/webhook"\n'
            f"event_broker:\n  type: {LOG_BROKER}\n  url: {json.dumps(self.database_url)}\n"
        )
        database = {DATABASE_URL_ENV: self.database_url}
        try:
            self._spawn(
                [venv_bin("rasa"), "run", "actions", "--actions", "actions",
                 "--port", str(self.actions_port)],
                self.actions_log,
                database,
            )
            self._spawn(
                [venv_bin("rasa"), "run", "--model", str(self.model), "--enable-api", "--cors", "*",
                 "--endpoints", str(endpoints), "--credentials", str(self.credentials),
                 "--interface", self.host, "--port", str(self.rasa_port)],
                self.rasa_log,
                database,
            )
            if self.voice:
                self._spawn_voice(self.voice_env)
            if self.console:
                self._spawn_console()
            if self.shadow or (self.shadow is None and _registry_has_shadow(self.database_url)):
                self.start_shadow()
            deadline = time.monotonic() + timeout
            self._wait_until(lambda: http_json("GET", f"{self.actions_url}/health", timeout=5), deadline,
                             "action server", self.actions_log)
            self._wait_until(self._model_loaded, deadline, "Rasa server", self.rasa_log)
            if self.voice:
                self._wait_until(self._voice_ready, deadline, "voice service", self.voice_log)
            if self.console:
                self._wait_until(self._console_ready, deadline, "review console", self.console_log)
        except BaseException:
            self.stop()
            raise
        return self

    def start_console(self, timeout: float = 60.0) -> None:
        """Start the review console alone (no Rasa server needed) and return once it answers; on
        failure stop everything this object started and raise."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._spawn_console()
        try:
            deadline = time.monotonic() + timeout
            self._wait_until(self._console_ready, deadline, "review console", self.console_log)
        except BaseException:
            self.stop()
            raise

    def _spawn_console(self) -> None:
        self._spawn(
            [sys.executable, "-m", "console.app", "--host", self.host, "--port", str(self.console_port)],
            self.console_log,
            {"SHOPCUE_CONSOLE_DATABASE_URL": self.database_url, "SHOPCUE_CONSOLE_RASA_URL": self.rasa_url},
        )

    @property
    def shadow_log(self) -> Path:
        return self.log_dir / "shadow.log"

    def start_shadow(self, poll_s: float = 1.0) -> None:
        """Start the shadow worker (ops/shadow.py) on this bot's learning database; it needs no server."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._spawn([sys.executable, "-m", "ops.shadow", "--poll", str(poll_s)], self.shadow_log,
                    {DATABASE_URL_ENV: self.database_url})
        self._shadow_process = self._processes[-1]

    def stop_shadow(self, grace: float = 10.0) -> None:
        if self._shadow_process is not None:
            _stop_processes([self._shadow_process], grace)
            self._processes.remove(self._shadow_process)
            self._shadow_process = None

    def _console_ready(self) -> bool:
        return bool(http_json("GET", f"{self.console_url}/health", timeout=5))

    def start_voice(self, env: Optional[Mapping[str, str]] = None, timeout: float = 120.0) -> None:
        """Start the voice service on `voice_port` against this (running) Rasa server and return once
        its models are loaded; `env` adds SHOPCUE_VOICE_* settings. On failure stop it and raise."""
        self._spawn_voice({**self.voice_env, **(env or {})})
        try:
            self._wait_until(self._voice_ready, time.monotonic() + timeout, "voice service", self.voice_log)
        except BaseException:
            self.stop_voice()
            raise

    def stop_voice(self, grace: float = 10.0) -> None:
        """Stop the voice service only."""
        if self._voice_process is not None:
            _stop_processes([self._voice_process], grace)
            self._processes.remove(self._voice_process)
            self._voice_process = None

    def _spawn_voice(self, env: Mapping[str, str]) -> None:
        # The launcher knows where its Rasa server is; the public URL (what Twilio calls) stays the
        # environment's when set (a tunnel or proxy), else it is this service's own address.
        settings = {"SHOPCUE_VOICE_RASA_WEBHOOK_URL": f"{self.rasa_url}/webhooks/rest/webhook"}
        if "SHOPCUE_VOICE_PUBLIC_URL" not in os.environ:
            settings["SHOPCUE_VOICE_PUBLIC_URL"] = self.voice_url
        self._spawn(
            [sys.executable, "-m", "voice.app", "--host", self.host, "--port", str(self.voice_port)],
            self.voice_log,
            {**settings, **env},
        )
        self._voice_process = self._processes[-1]

    def _voice_ready(self) -> bool:
        try:
            return bool(http_json("GET", f"{self.voice_url}/health", timeout=5))
        except urllib.error.HTTPError as error:  # 503 while loading its models, or for good on failure
            if b'"failed"' in error.read():
                detail = tail(self.voice_log)
                raise LaunchError(f"the voice service could not load its models:\n{detail}") from error
            raise

    def _model_loaded(self) -> bool:
        status = http_json("GET", f"{self.rasa_url}/status", timeout=5)
        return bool(status and status.get("model_file"))

    def _spawn(self, command: List[str], log_path: Path, extra_env: Optional[Mapping[str, str]] = None
               ) -> None:
        log = log_path.open("w")
        env = child_env({"PYTHONUNBUFFERED": "1"}, self.env, extra_env)
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        self._processes.append(process)

    def _wait_until(self, probe: Any, deadline: float, name: str, log_path: Path) -> None:
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self._processes):
                raise LaunchError(f"the {name} exited while starting:\n{tail(log_path)}")
            try:
                if probe():
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError, ValueError):
                pass
            time.sleep(0.5)
        raise LaunchError(f"the {name} did not answer in time:\n{tail(log_path)}")

    def stop(self, grace: float = 10.0) -> None:
        """Stop every server (their whole process groups), politely first, then for sure."""
        _stop_processes(self._processes, grace)
        self._processes.clear()
        self._voice_process = None
        self._shadow_process = None

    def send(self, sender: str, text: str, timeout: float = 60.0) -> List[Dict[str, Any]]:
        """One user message over the REST channel; the bot's replies."""
        replies = http_json("POST", f"{self.rasa_url}/webhooks/rest/webhook",
                            {"sender": sender, "message": text}, timeout=timeout)
        return list(replies or [])

    def parse(self, text: str, timeout: float = 60.0) -> Dict[str, Any]:
        """The NLU parse of a message (`/model/parse`)."""
        return dict(http_json("POST", f"{self.rasa_url}/model/parse", {"text": text}, timeout=timeout))

    def __enter__(self) -> BotProcesses:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _stop_processes(processes: List[subprocess.Popen], grace: float) -> None:
    """Stop child processes (their whole process groups), politely first, then for sure."""
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=grace)


@contextlib.contextmanager
def running_bot(model: Path, **kwargs: Any) -> Iterator[BotProcesses]:
    """`with running_bot(model) as bot:` both servers up for the block, down after it, even on errors."""
    bot = BotProcesses(model=model, **kwargs)
    bot.start()
    try:
        yield bot
    finally:
        bot.stop()


def main(argv: Optional[List[str]] = None) -> int:
    """`make run`: train if needed, start the servers, print the URLs, stop them all on Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m bot.launcher", description=main.__doc__)
    parser.add_argument("--rasa-port", type=int, default=5005)
    parser.add_argument("--actions-port", type=int, default=5055)
    parser.add_argument("--voice-port", type=int, default=5077)
    parser.add_argument("--console-port", type=int, default=5088)
    parser.add_argument("--models", type=Path, default=PROJECT_ROOT / "models")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--logs", type=Path, default=PROJECT_ROOT / "artifacts" / "logs")
    parser.add_argument("--train", action="store_true",
                        help="train from data/ even when the model registry has a live model")
    args = parser.parse_args(argv)

    model = None if args.train else _registry_live_model()
    if model is not None:
        print(f"Shopcue: serving the model registry's live model {model.name} (promoted in the console or "
              "by python -m learning.retrain; --train trains from data/ instead)", flush=True)
    else:
        print("Shopcue: training the model if the data or config changed ...", flush=True)
        model = train_model(args.models, config=args.config)
    print(f"Shopcue: model {model.name}; starting the action server, the Rasa server, the voice "
          "service and the review console ...", flush=True)
    bot = BotProcesses(model=model, rasa_port=args.rasa_port, actions_port=args.actions_port,
                       log_dir=args.logs, host="localhost", voice=True, voice_port=args.voice_port,
                       console=True, console_port=args.console_port)
    stop_requested = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        bot.start()
        print(
            "Shopcue is running.\n"
            f"  web chat:      {bot.rasa_url}/webhooks/webchat/\n"
            f"  REST webhook:  {bot.rasa_url}/webhooks/rest/webhook\n"
            f"  action server: {bot.actions_url}/webhook\n"
            f"  phone channel: {bot.voice_url}/voice/incoming (Twilio's voice webhook; README: Phone)\n"
            f"  try a call:    {venv_bin('python')} -m voice.simulate_call --say 'running shoes'\n"
            f"  review console: {bot.console_url}/ (the first user: "
            f"{venv_bin('python')} -m console.users add NAME --role admin)\n"
            f"  logs:          {bot.log_dir}\n"
            "Press Ctrl-C to stop.",
            flush=True,
        )
        while not stop_requested and all(p.poll() is None for p in bot._processes):
            time.sleep(0.5)
        if not stop_requested:
            print("Shopcue: a server exited; see the logs above. Stopping.", file=sys.stderr)
            return 1
        return 0
    except LaunchError as error:
        print(f"Shopcue: {error}", file=sys.stderr)
        return 1
    finally:
        print("Shopcue: stopping ...", flush=True)
        bot.stop()


if __name__ == "__main__":
    sys.exit(main())
