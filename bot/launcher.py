"""Start, wait for and stop Shopcue's processes: the Rasa server, the action server, the phone
channel's voice service (voice/app.py) and the review console (console/app.py).

One place for this, used by `make run` (`python -m bot.launcher`) and by the end-to-end tests, so a
developer's bot and the tested bot come up the same way.

Locked down (issue 15): Rasa's HTTP API and our ops routes need a token (TOKEN_ENV, else TOKEN_FILE),
passed to Rasa through its environment (`python -m bot.launcher rasa-with-token ...`), never its argv;
CORS allows only CORS_ENV's origins; the action server (actions/server.py) listens on this host only and
answers only calls with the shared secret Rasa sends. `make run` trains only when model_fingerprint
changed, and sends the children's output to log files.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

from bot import stores

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "config.yml"
DEFAULT_DOMAIN = PROJECT_ROOT / "bot" / "domain.yml"
DEFAULT_CREDENTIALS = PROJECT_ROOT / "bot" / "credentials.yml"
DEFAULT_DATA = PROJECT_ROOT / "data"

# The Rasa HTTP API (/model, /status, /conversations, ...) and the ops routes (ops/serving.py) need this
# token: `?token=` for Rasa's routes, `Authorization: Bearer` or `?token=` for ours. From the environment,
# else generated once into var/rasa_api_token (mode 0600); ops/serving_client.py reads the same two.
TOKEN_ENV = "SHOPCUE_RASA_TOKEN"
TOKEN_FILE = PROJECT_ROOT / "var" / "rasa_api_token"
# Origins besides the bot's own that may call it from a browser (a shop's site embedding the widget),
# comma-separated; unset: none (the served chat page is same-origin and needs no CORS).
CORS_ENV = "SHOPCUE_CORS_ORIGINS"
# The shared secret Rasa sends the action server (actions/server.py checks it) in this header.
ACTION_TOKEN_ENV = "SHOPCUE_ACTION_TOKEN"
ACTION_TOKEN_HEADER = "X-Shopcue-Action-Token"
# `python -m bot.launcher rasa-with-token ARGS`: `rasa ARGS --auth-token=$SHOPCUE_RASA_TOKEN` run
# in-process, so the token never appears in a process's argv (which `ps` shows to every user).
RASA_WITH_TOKEN = "rasa-with-token"
# What the model is trained from: a change in any of these retrains (train_model); see model_fingerprint.
FINGERPRINT_SUFFIX = ".fingerprint"
NLU_PACKAGE = PROJECT_ROOT / "nlu"


# Rasa's listen queue unless SANIC_BACKLOG is set (Rasa's 100 overflowed at 200 shoppers behind nginx).
DEFAULT_BACKLOG = "1024"
# The conversation log for learning (learning/broker.py), as endpoints.yml names it.
LOG_BROKER = "learning.broker.ConversationLogBroker"
DATABASE_URL_ENV = "SHOPCUE_DATABASE_URL"
# How often `make run` looks at the model registry for a shadow model set or cleared in the console.
SHADOW_CHECK_S = 5.0

# Library noise that says nothing to a Shopcue user (TensorFlow's C++ log, SQLAlchemy 2.0 and Python
# deprecation warnings from Rasa's pinned dependencies); an explicit setting in the environment wins.
QUIET_ENV = {"PYTHONWARNINGS": "ignore", "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
# Rasa's usage telemetry off: it would send shop usage data to Rasa's servers, and at every server start it
# unpacks the whole model archive again only to fingerprint it for telemetry (about 4 of make run's seconds).
RASA_DEFAULTS = {"RASA_TELEMETRY_ENABLED": "false"}


def child_env(*overrides: Optional[Mapping[str, str]]) -> Dict[str, str]:
    """The environment for rasa subprocesses: quiet defaults and Rasa's, then ours, then the caller's."""
    env = {**QUIET_ENV, **RASA_DEFAULTS, **os.environ}
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


def api_token(path: Path = TOKEN_FILE, environ: Optional[Mapping[str, str]] = None) -> str:
    """The Rasa API token: SHOPCUE_RASA_TOKEN if set, else the one in `path`, made there (0600) once."""
    given = (os.environ if environ is None else environ).get(TOKEN_ENV, "").strip()
    if given:
        return given
    try:
        kept = path.read_text().strip()
    except FileNotFoundError:
        kept = ""
    if kept:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return kept
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(token + "\n")
    os.replace(partial, path)
    return token


def cors_origins(environ: Optional[Mapping[str, str]] = None) -> List[str]:
    """The extra browser origins allowed to call the Rasa server (SHOPCUE_CORS_ORIGINS); default none."""
    raw = (os.environ if environ is None else environ).get(CORS_ENV, "")
    return [origin.strip().rstrip("/") for origin in raw.replace(" ", ",").split(",") if origin.strip()]


def rasa_arguments(args: List[str], token: str) -> List[str]:
    """Rasa's command line with the token (`=`: a token may start with '-')."""
    return [*args, f"--auth-token={token}"]


def run_rasa_with_token(args: List[str]) -> None:
    """`rasa ARGS` in this process with `--auth-token` from SHOPCUE_RASA_TOKEN added to its arguments."""
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        raise SystemExit(f"{RASA_WITH_TOKEN} needs {TOKEN_ENV} in the environment")
    sys.argv = ["rasa", *rasa_arguments(args, token)]
    from rasa.__main__ import main as rasa_main

    rasa_main()


def _fingerprint_files(config: Path, domain: Path, data: Path) -> Iterator[Tuple[str, Path]]:
    """(name, path) of every file a model is trained from, in a stable order."""
    yield "config", config
    yield "domain", domain
    for label, root in (("data", data), ("nlu", NLU_PACKAGE)):
        for path in sorted(root.rglob("*")):
            parts = path.relative_to(root).parts
            if not path.is_file() or "__pycache__" in parts or any(p.startswith(".") for p in parts):
                continue
            # nlu/tools/ holds offline tools (data checks, evaluation) that no trained model depends on.
            if label == "nlu" and (path.suffix != ".py" or parts[0] == "tools"):
                continue
            yield "/".join((label, *parts)), path


def model_fingerprint(config: Path = DEFAULT_CONFIG, domain: Path = DEFAULT_DOMAIN, data: Path = DEFAULT_DATA
                      ) -> str:
    """A hash of everything a trained model depends on: the config, the domain, every file under data/,
    the nlu/ package's source (the joint model's component, without nlu/tools/) and the Rasa version."""
    from importlib.metadata import PackageNotFoundError, version

    digest = hashlib.sha256()
    try:
        digest.update(f"rasa {version('rasa')}\n".encode())
    except PackageNotFoundError:
        digest.update(b"rasa ?\n")
    for name, path in _fingerprint_files(config, domain, data):
        content = path.read_bytes()
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


def _fingerprint_file(archive: Path) -> Path:
    return archive.with_name(archive.name + FINGERPRINT_SUFFIX)


def trained_model_for(out_dir: Path, fingerprint: str) -> Optional[Path]:
    """The newest archive in `out_dir` trained from files with this fingerprint, if any."""
    matches = [archive for archive in out_dir.glob("*.tar.gz") if _fingerprint_file(archive).is_file()
               and _fingerprint_file(archive).read_text().strip() == fingerprint]
    return max(matches, key=lambda p: p.stat().st_mtime) if matches else None


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
    reuse_unchanged: bool = False,
    progress: Optional[Any] = None,
) -> Path:
    """Run `rasa train` and return the model archive it wrote, or, with `reuse_unchanged` (make run), the
    archive in `out_dir` already trained from the same config, domain, data and nlu/ source
    (model_fingerprint, kept beside each archive as ARCHIVE.fingerprint) without running Rasa at all:
    `rasa train` itself would load and validate the data and write a new archive, minutes on 2 cores,
    even when nothing changed. Without it (a retrain's candidate, the tests' model) it always trains.
    `progress(elapsed_s, last_log_line)` is called once as training starts, then about every 30 s while
    it writes to `log_path`.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    fingerprint = model_fingerprint(config, domain, data)
    if reuse_unchanged:
        reused = trained_model_for(out_dir, fingerprint)
        if reused is not None:
            return reused
    command = [
        venv_bin("rasa"), "train",
        "--config", str(config), "--domain", str(domain), "--data", str(data), "--out", str(out_dir),
    ]
    if fixed_model_name:
        command += ["--fixed-model-name", fixed_model_name]
    env = child_env(extra_env)
    started = time.monotonic()
    if progress is not None:
        progress(0.0, "")
    try:
        if log_path is None:
            returncode = subprocess.run(command, cwd=PROJECT_ROOT, env=env, timeout=timeout).returncode
        else:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with log_path.open("w") as log:
                process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log,
                                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            returncode = _wait_reporting(process, log_path, started, timeout, progress)
    except subprocess.TimeoutExpired as error:
        detail = tail(log_path) if log_path else ""
        raise LaunchError(f"rasa train did not finish within {timeout:.0f}s:\n{detail}") from error
    if returncode != 0:
        detail = tail(log_path) if log_path else "see the output above"
        raise LaunchError(f"rasa train failed (exit {returncode}):\n{detail}")
    archives = sorted(out_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not archives:
        raise LaunchError(f"rasa train wrote no model into {out_dir}")
    _fingerprint_file(archives[-1]).write_text(fingerprint + "\n")
    return archives[-1]


def _wait_reporting(process: subprocess.Popen, log_path: Path, started: float, timeout: Optional[float],
                    progress: Optional[Any], every_s: float = 30.0) -> int:
    """Wait for `process`, calling `progress` every `every_s`; kill it and raise TimeoutExpired on timeout."""
    next_report = started + every_s
    while True:
        try:
            return process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if timeout is not None and now - started > timeout:
            process.kill()
            process.wait()
            raise subprocess.TimeoutExpired(process.args, timeout)
        if progress is not None and now >= next_report:
            lines = [line for line in tail(log_path, 5).splitlines() if line.strip()]
            progress(now - started, lines[-1] if lines else "")
            next_report = now + every_s


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
    # The conversations (Rasa's SQL tracker store, bot/stores.py): None keeps them in
    # LOG_DIR/conversations.db, so a restarted Rasa server resumes them; make run: var/conversations.db.
    tracker_url: Optional[str] = None
    # A redis:// URL for Rasa's lock store (several Rasa instances, one conversation store); None: in memory.
    lock_url: Optional[str] = None
    # The shadow worker (python -m ops.shadow): None starts it when the registry has a shadow model.
    shadow: Optional[bool] = None
    # The Rasa HTTP API's token (`?token=`; api_url() adds it): random per instance unless given (make run
    # passes api_token()). Never in a command line or a log: the Rasa server gets it in its environment.
    api_token: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    # Browser origins besides the bot's own allowed to call the Rasa server (CORS); make run: cors_origins().
    cors_origins: List[str] = field(default_factory=list)
    # The shared secret Rasa sends the action server (actions/server.py), random per instance.
    action_token: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    _processes: List[subprocess.Popen] = field(default_factory=list, init=False, repr=False)
    _rasa_process: Optional[subprocess.Popen] = field(default=None, init=False, repr=False)
    _actions_process: Optional[subprocess.Popen] = field(default=None, init=False, repr=False)
    _voice_process: Optional[subprocess.Popen] = field(default=None, init=False, repr=False)
    _shadow_process: Optional[subprocess.Popen] = field(default=None, init=False, repr=False)
    _registry_unreadable: bool = field(default=False, init=False, repr=False)

    @property
    def rasa_url(self) -> str:
        return f"http://{self.host}:{self.rasa_port}"

    def api_url(self, path: str) -> str:
        """The URL of a Rasa HTTP API route (`/status`, `/conversations/ID/tracker?...`) with the token."""
        separator = "&" if "?" in path else "?"
        return f"{self.rasa_url}{path}{separator}token={urllib.parse.quote(self.api_token, safe='')}"

    def api(self, method: str, path: str, payload: Optional[Mapping[str, Any]] = None, timeout: float = 60.0
            ) -> Any:
        """One authenticated JSON call to the Rasa HTTP API."""
        return http_json(method, self.api_url(path), payload, timeout=timeout)

    @property
    def token_env(self) -> Dict[str, str]:
        """What a client process of this bot's API needs in its environment (ops/serving_client.py)."""
        return {TOKEN_ENV: self.api_token}

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

    @property
    def endpoints_path(self) -> Path:
        return self.log_dir / "endpoints.yml"

    @property
    def conversations_url(self) -> str:
        """The tracker store's SQLAlchemy URL (tracker_url, or the log folder's SQLite file)."""
        return self.tracker_url or f"sqlite:///{self.log_dir.resolve() / 'conversations.db'}"

    def write_endpoints(self) -> Path:
        """endpoints.yml for the Rasa server: action server, learning log, tracker store, lock store.
        Secrets (the action token, database URLs, the Redis password) stay in the environment: Rasa expands
        ${...} when it reads this file."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        lines = [
            "action_endpoint:", f'  url: "{self.actions_url}/webhook"',
            "  headers:", f"    {ACTION_TOKEN_HEADER}: ${{{ACTION_TOKEN_ENV}}}",
            "event_broker:", f"  type: {LOG_BROKER}", f"  url: ${{{DATABASE_URL_ENV}}}",
            *stores.endpoint_sections(self.lock_url),
        ]
        self.endpoints_path.write_text("\n".join(lines) + "\n")
        return self.endpoints_path

    def start(self, timeout: float = 300.0) -> BotProcesses:
        """Start the servers and return once all answer; on failure stop them and raise."""
        self.write_endpoints()
        try:
            self._spawn_actions()
            self._spawn_rasa()
            if self.voice:
                self._spawn_voice(self.voice_env)
            if self.console:
                self._spawn_console()
            if self.shadow or (self.shadow is None and _registry_has_shadow(self.database_url)):
                self.start_shadow()
            deadline = time.monotonic() + timeout
            self._wait_until(self._actions_ready, deadline, "action server", self.actions_log)
            self._wait_until(self._model_loaded, deadline, "Rasa server", self.rasa_log)
            if self.voice:
                self._wait_until(self._voice_ready, deadline, "voice service", self.voice_log)
            if self.console:
                self._wait_until(self._console_ready, deadline, "review console", self.console_log)
        except BaseException:
            self.stop()
            raise
        return self

    def _secrets_env(self) -> Dict[str, str]:
        return {DATABASE_URL_ENV: self.database_url, ACTION_TOKEN_ENV: self.action_token}

    def _spawn_actions(self, append_log: bool = False) -> None:
        self._actions_process = self._spawn(self.actions_command(), self.actions_log, self._secrets_env(),
                                            append_log)

    def _spawn_rasa(self, append_log: bool = False) -> None:
        stores_env = stores.store_env(self.conversations_url, self.lock_url)
        backlog = {"SANIC_BACKLOG": os.environ.get("SANIC_BACKLOG", DEFAULT_BACKLOG)}
        env = {**backlog, **self._secrets_env(), **self.token_env, **stores_env}
        self._rasa_process = self._spawn(self.rasa_command(self.endpoints_path), self.rasa_log, env,
                                         append_log)

    def _actions_ready(self) -> bool:
        return bool(http_json("GET", f"{self.actions_url}/health", timeout=5))

    def kill_rasa(self) -> None:
        """SIGKILL the Rasa server (a crash: no shutdown hooks run), for fault tests."""
        if self._rasa_process is not None:
            _kill_now(self._rasa_process)
            self._processes.remove(self._rasa_process)
            self._rasa_process = None

    def start_rasa(self, timeout: float = 300.0) -> None:
        """Start the Rasa server again (same port, endpoints and stores) and return once its model is up."""
        if self._rasa_process is not None:
            raise LaunchError("the Rasa server is already running")
        self._spawn_rasa(append_log=True)
        self._wait_until(self._model_loaded, time.monotonic() + timeout, "Rasa server", self.rasa_log)

    def stop_actions(self, grace: float = 10.0) -> None:
        """Stop the action server only (Rasa keeps running), for fault tests."""
        if self._actions_process is not None:
            _stop_processes([self._actions_process], grace)
            self._processes.remove(self._actions_process)
            self._actions_process = None

    def start_actions(self, timeout: float = 120.0) -> None:
        """Start the action server again on its port and return once it answers."""
        if self._actions_process is not None:
            raise LaunchError("the action server is already running")
        self._spawn_actions(append_log=True)
        self._wait_until(self._actions_ready, time.monotonic() + timeout, "action server", self.actions_log)

    def pause_actions(self) -> None:
        """Freeze the action server (SIGSTOP): it keeps its port but answers nothing, a hung server."""
        self._signal_actions(signal.SIGSTOP)

    def resume_actions(self) -> None:
        """Let a paused action server run again (SIGCONT)."""
        self._signal_actions(signal.SIGCONT)

    def _signal_actions(self, signum: int) -> None:
        if self._actions_process is None:
            raise LaunchError("the action server is not running")
        os.killpg(self._actions_process.pid, signum)

    def actions_command(self) -> List[str]:
        """The action server (actions/server.py): on this host only, refusing calls without the token."""
        return [sys.executable, "-m", "actions.server", "--actions", "actions", "--host", self.host,
                "--port", str(self.actions_port)]

    def rasa_command(self, endpoints: Path) -> List[str]:
        """The Rasa server's command line; `--auth-token` is added inside the process (run_rasa_with_token)
        from its environment, and CORS allows only `cors_origins` besides same-origin pages."""
        command = [sys.executable, "-m", "bot.launcher", RASA_WITH_TOKEN, "run", "--model", str(self.model),
                   "--enable-api", "--endpoints", str(endpoints), "--credentials", str(self.credentials),
                   "--interface", self.host, "--port", str(self.rasa_port)]
        if self.cors_origins:
            command += ["--cors", *self.cors_origins]
        return command

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
            {"SHOPCUE_CONSOLE_DATABASE_URL": self.database_url, "SHOPCUE_CONSOLE_RASA_URL": self.rasa_url,
             **self.token_env},
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

    def follow_shadow(self) -> None:
        """Run the shadow worker exactly while the registry names a shadow model, so a shadow set (or
        cleared) in the console's Models page takes effect without a restart. The worker itself switches
        when the shadow changes to another model. `shadow=False` keeps it off; True keeps it on."""
        if self.shadow is not None:
            return
        try:
            wanted = _registry_has_shadow(self.database_url)
        except Exception as error:  # the database is unreachable for a moment: the next look decides
            if not self._registry_unreadable:  # said once, not every few seconds
                print(f"Shopcue: could not read the model registry ({type(error).__name__}); the shadow "
                      "worker stays as it is until it can", file=sys.stderr, flush=True)
            self._registry_unreadable = True
            return
        self._registry_unreadable = False
        running = self._shadow_process is not None
        if wanted and not running:
            self.start_shadow()
            print(f"Shopcue: the registry has a shadow model; shadow worker started (log {self.shadow_log})",
                  flush=True)
        elif running and not wanted:
            self.stop_shadow()
            print("Shopcue: the registry has no shadow model now; shadow worker stopped", flush=True)

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
        status = self.api("GET", "/status", timeout=5)
        return bool(status and status.get("model_file"))

    def _spawn(self, command: List[str], log_path: Path, extra_env: Optional[Mapping[str, str]] = None,
               append_log: bool = False) -> subprocess.Popen:
        log = log_path.open("a" if append_log else "w")
        env = child_env({"PYTHONUNBUFFERED": "1"}, self.env, extra_env)
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        self._processes.append(process)
        return process

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
        self._rasa_process = None
        self._actions_process = None

    def send(self, sender: str, text: str, timeout: float = 60.0) -> List[Dict[str, Any]]:
        """One user message over the REST channel; the bot's replies."""
        replies = http_json("POST", f"{self.rasa_url}/webhooks/rest/webhook",
                            {"sender": sender, "message": text}, timeout=timeout)
        return list(replies or [])

    def parse(self, text: str, timeout: float = 60.0) -> Dict[str, Any]:
        """The NLU parse of a message (`/model/parse`)."""
        return dict(self.api("POST", "/model/parse", {"text": text}, timeout=timeout))

    def __enter__(self) -> BotProcesses:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _kill_now(process: subprocess.Popen) -> None:
    """SIGKILL a child's whole process group and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


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

    started = time.monotonic()
    args.logs.mkdir(parents=True, exist_ok=True)
    model = None if args.train else _registry_live_model()
    if model is not None:
        print(f"Shopcue: serving the model registry's live model {model.name} (promoted in the console or "
              "by python -m learning.retrain; --train trains from data/ instead)", flush=True)
    else:
        report = _TrainingReport(args.logs / "train.log")
        model = train_model(args.models, config=args.config, log_path=report.log_path, progress=report,
                            reuse_unchanged=True)
        how = "trained" if report.trained else "data, config and nlu/ unchanged: no training"
        print(f"Shopcue: model {model.name} ({how})", flush=True)
    print("Shopcue: starting the action server, the Rasa server, the voice service and the review console "
          f"(logs in {args.logs}) ...", flush=True)
    bot = BotProcesses(model=model, rasa_port=args.rasa_port, actions_port=args.actions_port,
                       log_dir=args.logs, host="localhost", voice=True, voice_port=args.voice_port,
                       console=True, console_port=args.console_port, api_token=api_token(),
                       cors_origins=cors_origins(),
                       tracker_url=stores.tracker_url(os.environ),
                       lock_url=stores.redis_url(os.environ))
    stop_requested = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        bot.start()
        print(
            f"Shopcue is running (ready in {time.monotonic() - started:.0f} s).\n"
            f"  web chat:      {bot.rasa_url}/webhooks/webchat/\n"
            f"  REST webhook:  {bot.rasa_url}/webhooks/rest/webhook\n"
            f"  action server: {bot.actions_url}/webhook\n"
            f"  phone channel: {bot.voice_url}/voice/incoming (Twilio's voice webhook; README: Phone)\n"
            f"  try a call:    {venv_bin('python')} -m voice.simulate_call --say 'running shoes'\n"
            f"  review console: {bot.console_url}/ (the first user: "
            f"{venv_bin('python')} -m console.users add NAME --role admin)\n"
            f"  logs:          {bot.log_dir}\n"
            f"  conversations: {_display_url(bot.conversations_url)} (lock store: "
            f"{_display_url(bot.lock_url) if bot.lock_url else 'in memory, one Rasa process'})\n"
            f"  Rasa HTTP API: needs ?token=... from {TOKEN_ENV} or {_display(TOKEN_FILE)}\n"
            f"  CORS:          {', '.join(bot.cors_origins) or f'same-origin only (set {CORS_ENV})'}\n"
            "Press Ctrl-C to stop.",
            flush=True,
        )
        next_shadow_check = time.monotonic() + SHADOW_CHECK_S
        while not stop_requested and all(p.poll() is None for p in bot._processes):
            time.sleep(0.5)
            if time.monotonic() >= next_shadow_check:
                bot.follow_shadow()
                next_shadow_check = time.monotonic() + SHADOW_CHECK_S
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


def _display_url(url: str) -> str:
    """A database or Redis URL without its password, for the console."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


class _TrainingReport:
    """train_model's progress callback for the console: a line when training starts, then one every 30 s
    with the log's last line; `trained` says whether it ran at all."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.trained = False

    def __call__(self, elapsed_s: float, last_line: str) -> None:
        if not self.trained:
            self.trained = True
            print("Shopcue: training the model (the data, config or nlu/ changed; about 15 minutes on "
                  f"2 cores; log: {_display(self.log_path)}) ...", flush=True)
            return
        print(f"  {elapsed_s / 60:4.1f} min  {last_line.strip()[:100]}", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == [RASA_WITH_TOKEN]:
        run_rasa_with_token(sys.argv[2:])
    else:
        sys.exit(main())
