"""Throwaway PostgreSQL, Redis and nginx servers for tests: each on a free port in a temporary folder,
stopped at the end of the session, and stoppable and restartable in between (fault tests take a
service down for a while mid-conversation).

The binaries come from Debian's packages, which `scripts/install-system-deps.sh` installs (CI runs it),
so a missing binary fails the test with that command rather than skipping it: a skipped scale-out test
would look green while proving nothing. PostgreSQL refuses to run as root, so as root its cluster
belongs to the `postgres` user the Debian package creates. Fixtures (session scope): `postgres`,
`postgres_url`, `redis_server`, `redis_url`, `start_nginx`, for the test modules that declare
`pytest_plugins = ["tests.services"]` (nothing starts unless a test asks for it).
"""

from __future__ import annotations

import abc
import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar, Iterator, List, Optional

import pytest

from bot.launcher import free_port, tail
from deploy.load_balancer import Nginx, nginx_binary

INSTALL_HINT = "install it with: sudo bash scripts/install-system-deps.sh"
# The user a root test run starts PostgreSQL as (Debian's postgresql package creates it).
POSTGRES_OS_USER = "postgres"
# The database role the URLs log in as: initdb -U makes it the superuser whoever runs the cluster.
POSTGRES_ROLE = "postgres"
DATABASE = "shopcue"
START_TIMEOUT_S = 60.0


class ServiceError(RuntimeError):
    """A service did not start or stop; the message holds its log's tail."""


def require_binary(path: Optional[str], name: str) -> str:
    """`path`, or fail the test with the install command when the binary is not installed."""
    if not path:
        pytest.fail(f"{name} is not installed; {INSTALL_HINT}", pytrace=False)
    return path


def postgres_bin_dir() -> Optional[Path]:
    """The folder of the newest PostgreSQL server binaries (Debian keeps them off PATH), if any."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    return max(found, key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0) if found else None


def _wait_for(probe: Callable[[], bool], process: subprocess.Popen, name: str, log: Path,
              timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceError(f"{name} exited while starting (exit {process.returncode}):\n{tail(log)}")
        with contextlib.suppress(Exception):
            if probe():
                return
        time.sleep(0.2)
    raise ServiceError(f"{name} did not answer within {timeout:.0f}s:\n{tail(log)}")


def _stop(process: Optional[subprocess.Popen], stop_signal: int, grace: float = 30.0) -> None:
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(stop_signal)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace)


@dataclass
class ChildServer(abc.ABC):
    """A server run as this process's child, in its own folder `root`, on 127.0.0.1:`port`."""

    root: Path
    port: int = field(default_factory=free_port)
    _process: Optional[subprocess.Popen] = field(default=None, init=False, repr=False)
    # The signal that shuts the server down cleanly.
    stop_signal: ClassVar[int] = signal.SIGTERM
    name: ClassVar[str] = "server"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @abc.abstractmethod
    def _accepts(self) -> bool:
        """Whether the server answers yet (may raise while it does not)."""

    def _launch(self, command: List[str], user: Optional[str] = None, env: Optional[dict] = None) -> None:
        with self.log.open("a") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.root,
                                             user=user, env=env, stdin=subprocess.DEVNULL,
                                             start_new_session=True)
        _wait_for(self._accepts, self._process, self.name, self.log)

    def stop(self) -> None:
        """Stop the server cleanly (for sure after 30 s)."""
        _stop(self._process, self.stop_signal)
        self._process = None

    @abc.abstractmethod
    def start(self) -> None:
        """Start the server unless it runs, and return once it answers."""

    def restart(self) -> None:
        self.stop()
        self.start()


@dataclass
class PostgresServer(ChildServer):
    """A PostgreSQL cluster of its own (initdb) with a `shopcue` database, trust authentication, fsync off.
    Stopping is a fast shutdown: clients are disconnected, nothing committed is lost."""

    database: str = DATABASE
    stop_signal: ClassVar[int] = signal.SIGINT
    name: ClassVar[str] = "PostgreSQL"

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the test database."""
        return f"postgresql://{POSTGRES_ROLE}@127.0.0.1:{self.port}/{self.database}"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def _user(self) -> Optional[str]:
        """As root, the OS user to run as (the server refuses root); otherwise the current user."""
        return POSTGRES_OS_USER if os.geteuid() == 0 else None

    def _env(self) -> dict:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "HOME": str(self.root)}

    def init(self) -> PostgresServer:
        """Make the cluster (initdb), start it and create the database."""
        bin_dir = require_binary(str(postgres_bin_dir() or ""), "PostgreSQL (initdb)")
        user = self._user()
        if user is not None:
            try:
                account = pwd.getpwnam(user)
            except KeyError:
                pytest.fail(f"running as root needs the {user!r} user of Debian's postgresql package; "
                            f"{INSTALL_HINT}", pytrace=False)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        command = [f"{bin_dir}/initdb", "-D", str(self.data_dir), "-U", POSTGRES_ROLE, "--auth=trust",
                   "--encoding=UTF8", "--no-sync"]
        with self.log.open("w") as log:
            done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.root, user=user,
                                  env=self._env())
        if done.returncode != 0:
            raise ServiceError(f"initdb failed (exit {done.returncode}):\n{tail(self.log)}")
        self.start()
        self._admin(f'CREATE DATABASE "{self.database}"')
        return self

    def _connect(self):  # type: ignore[no-untyped-def]
        import psycopg2

        return psycopg2.connect(host="127.0.0.1", port=self.port, user=POSTGRES_ROLE, dbname="postgres",
                                connect_timeout=2)

    def _admin(self, sql: str) -> None:
        connection = self._connect()
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(sql)
        finally:
            connection.close()

    def _accepts(self) -> bool:
        self._connect().close()
        return True

    def start(self) -> None:
        """Start the server (again, with its data) and return once it accepts connections."""
        if self.running:
            return
        bin_dir = require_binary(str(postgres_bin_dir() or ""), "PostgreSQL (postgres)")
        # Throwaway data: no fsync; enough connections for two Rasa servers, two action servers and tests.
        self._launch([f"{bin_dir}/postgres", "-D", str(self.data_dir), "-p", str(self.port),
                      "-h", "127.0.0.1", "-k", str(self.root), "-c", "fsync=off",
                      "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                      "-c", "max_connections=200"],
                     user=self._user(), env=self._env())


@dataclass
class RedisServer(ChildServer):
    """A Redis server that keeps nothing on disk (locks only live while it runs)."""

    name: ClassVar[str] = "Redis"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _accepts(self) -> bool:
        import redis

        return bool(redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2).ping())

    def start(self) -> None:
        """Start the server (empty after a restart) and return once it answers PING."""
        if self.running:
            return
        binary = require_binary(shutil.which("redis-server") or
                                ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None),
                                "redis-server")
        self._launch([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                      "--appendonly", "no", "--dir", str(self.root), "--daemonize", "no"])


def _service_root(prefix: str) -> Path:
    # Not under pytest's basetemp: its folders are 0700, which the postgres user could not enter.
    return Path(tempfile.mkdtemp(prefix=prefix))


@contextlib.contextmanager
def _running(server: ChildServer, start: Callable[[], object]) -> Iterator[ChildServer]:
    try:
        start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A running PostgreSQL with an empty `shopcue` database; `.stop()`, `.start()`, `.restart()`."""
    server = PostgresServer(_service_root("shopcue-pg-"))
    with _running(server, server.init):
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres: PostgresServer) -> str:
    return postgres.url


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A running Redis server (empty); `.stop()`, `.start()`, `.restart()`."""
    server = RedisServer(_service_root("shopcue-redis-"))
    with _running(server, server.start):
        yield server


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture(scope="session")
def start_nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str, int], Nginx]]:
    """`start_nginx(config_text, port)`: nginx running that configuration (which must not set `daemon` or
    `pid`: the runner does) with its prefix in a temporary folder, answering on `port`; every nginx
    started so is stopped at the end of the session."""
    require_binary(nginx_binary(), "nginx")
    started: List[Nginx] = []

    def start(config_text: str, port: int) -> Nginx:
        prefix = tmp_path_factory.mktemp("nginx")
        config = prefix / "nginx.conf"
        config.write_text(config_text)
        server = Nginx(config, prefix, port)
        started.append(server)
        server.start()
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()
