"""nginx in front of several Rasa instances: the configuration (deploy/nginx/shopcue.conf.template, which
explains the routing) filled in for given instances, and nginx run as a child process.

nginx runs in the foreground (`daemon off`) with its prefix, pid file and logs in one folder, so one
process handle stops it and nothing is left in /etc or /var. As root its workers run as nginx's default
unprivileged user; the configuration writes no temporary files, so they need no folder of their own.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence

TEMPLATE = Path(__file__).resolve().parent / "nginx" / "shopcue.conf.template"
ACCESS_LOG = "access.log"
ERROR_LOG = "error.log"
_FIELD = re.compile(r"\{\{(\w+)\}\}")


class NginxError(RuntimeError):
    """nginx refused its configuration or did not start; the message holds its error log's tail."""


def nginx_binary() -> Optional[str]:
    """The nginx executable (Debian installs it in /usr/sbin, which a user's PATH may lack), if any."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def render_config(upstreams: Sequence[str], listen: str, log_dir: Path, worker_processes: int = 1,
                  template: Path = TEMPLATE) -> str:
    """The template with its fields filled: `upstreams` as "host:port" of each Rasa instance, `listen` as
    nginx's listen address ("127.0.0.1:8080", "8080")."""
    if not upstreams:
        raise ValueError("at least one Rasa instance is needed behind the load balancer")
    values = {
        "servers": "\n".join(f"        server {address} max_fails=1 fail_timeout=5s;"
                             for address in upstreams),
        "listen": listen,
        "worker_processes": str(worker_processes),
        "error_log": str(log_dir / ERROR_LOG),
        "access_log": str(log_dir / ACCESS_LOG),
    }
    text = template.read_text()
    missing = sorted(set(_FIELD.findall(text)) - set(values))
    if missing:
        raise ValueError(f"{template} has fields nothing fills: {', '.join(missing)}")
    return _FIELD.sub(lambda match: values[match.group(1)], text)


# One line of the template's `shopcue` log_format.
_ACCESS_LINE = re.compile(
    r'^(?P<client>\S+) \[(?P<time>[^\]]+)\] "(?P<method>\S+) (?P<uri>\S+)" (?P<status>\d{3}) \d+ '
    r"upstream=(?P<upstream>.+?) upstream_status=.+? time=(?P<seconds>[\d.]+) session=(?P<session>\S+)$"
)


@dataclass(frozen=True)
class AccessRecord:
    """One request as nginx logged it: who asked, what, the answer, the instance ("-": none; "A, B" when
    A refused the connection and B answered) and the web chat session's id ("-": none)."""

    client: str
    method: str
    uri: str
    status: int
    upstream: str
    seconds: float
    session: str


def read_access_log(path: Path) -> List[AccessRecord]:
    """Every request in nginx's access log, oldest first (lines in another format are skipped)."""
    records = []
    for line in path.read_text(errors="replace").splitlines():
        match = _ACCESS_LINE.match(line)
        if match:
            records.append(AccessRecord(match["client"], match["method"], match["uri"], int(match["status"]),
                                        match["upstream"], float(match["seconds"]), match["session"]))
    return records


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Nginx:
    """nginx running `config` with `prefix` as its prefix folder (pid file and startup log there),
    answering on 127.0.0.1:`port`."""

    config: Path
    prefix: Path
    port: int
    binary: Optional[str] = field(default_factory=nginx_binary)
    _process: Optional[subprocess.Popen] = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def startup_log(self) -> Path:
        return self.prefix / "nginx.out"

    def _command(self, *extra: str) -> list:
        if not self.binary:
            raise NginxError("nginx is not installed (Debian: apt-get install nginx; "
                             "or bash scripts/install-system-deps.sh)")
        # -e: the log for messages before the configuration is read (else /var/log/nginx/error.log).
        return [self.binary, "-p", f"{self.prefix}/", "-c", str(self.config),
                "-e", str(self.prefix / ERROR_LOG),
                "-g", f"daemon off; pid {self.prefix / 'nginx.pid'};", *extra]

    def check(self) -> None:
        """`nginx -t`: raise NginxError with nginx's own words when the configuration is wrong."""
        self.prefix.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(self._command("-t", "-q"), capture_output=True, text=True)
        if done.returncode != 0:
            raise NginxError(f"nginx refused {self.config}:\n{(done.stderr or done.stdout).strip()}")

    def start(self, timeout: float = 20.0) -> Nginx:
        """Check the configuration, start nginx and return once it accepts connections on `port`."""
        self.check()
        with self.startup_log.open("a") as out:
            self._process = subprocess.Popen(self._command(), stdout=out, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise NginxError(f"nginx exited while starting (exit {self._process.returncode}):\n"
                                 f"{_tail(self.startup_log)}\n{_tail(self.prefix / ERROR_LOG)}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return self
            time.sleep(0.1)
        self.stop()
        raise NginxError(f"nginx did not listen on port {self.port} within {timeout:.0f}s:\n"
                         f"{_tail(self.prefix / ERROR_LOG)}")

    def stop(self, grace: float = 10.0) -> None:
        """Graceful stop (SIGQUIT: requests in flight finish), then for sure."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=grace)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
