"""The scaled topology on one machine: N Rasa instances, each with its own action server, on one PostgreSQL
database (conversations, catalog, learning log) and one Redis lock store, behind nginx.

    python -m deploy.cluster --instances 2 --database-url postgresql://... --redis-url redis://... \
        --model models/ARCHIVE.tar.gz

prints the URLs and runs until Ctrl-C. Tests use `Cluster` (a context manager) the same way.

What the instances share, so that a conversation is the same whichever instance serves it: the database,
the lock store, the web chat session secret (a session issued by one is honoured by the other), the Rasa
API token, and the REST channel's token. The load balancer keeps each conversation on one instance
(deploy/nginx/shopcue.conf.template explains the key); the Redis lock serialises what still overlaps.

Behind nginx every request reaches Rasa from 127.0.0.1, so nothing may trust the socket's address:
- the web chat's per-address rate limit reads the client's address from nginx's X-Real-IP (Sanic's
  SANIC_REAL_IP_HEADER, set for each instance; the instances listen on loopback only, so only nginx
  can set it);
- the REST channel answers loopback callers without a token, so behind the balancer it always needs
  SHOPCUE_REST_TOKEN: taken from the environment, else a random one nobody knows (REST closed) for this
  run;
- the Rasa HTTP API, model switching and the metrics are not routed by nginx: each instance's own port.

The database is prepared once before any instance starts: Rasa's events table, the learning tables and
the catalog (the demo catalog when the database has no products, or `--catalog FILE` imported, what the
feed leaves out read by the served model as `python -m actions.catalog import --model` does), so two
action servers never race to build the catalog and two Rasa servers never race to create tables.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from bot.channels.session import SECRET_ENV
from bot.launcher import (
    PROJECT_ROOT,
    QUIET_ENV,
    TOKEN_ENV,
    BotProcesses,
    LaunchError,
    api_token,
    cors_origins,
    free_port,
)
from common.trust import REST_TOKEN_ENV
from deploy.load_balancer import ACCESS_LOG, Nginx, NginxError, render_config

CATALOG_URL_ENV = "DATABASE_URL"  # actions/catalog/db.py reads it
# Sanic reads SANIC_* settings from the environment: the client's address comes from this header.
REAL_IP_ENV = {"SANIC_REAL_IP_HEADER": "x-real-ip"}


def prepare_database(url: str, model: Path, catalog_file: Optional[Path] = None) -> str:
    """Create every table the instances use and load the catalog, once, before they start. Returns what
    was done to the catalog, for the console; a rejected feed raises ImportRejectedError (nothing written)."""
    from rasa.core.tracker_store import SQLTrackerStore
    from sqlalchemy import create_engine

    from actions.cart_store import create_table as create_cart_table
    from actions.catalog.db import catalog_is_empty, dispose_engine, ensure_catalog, get_engine
    from learning.db import get_engine as learning_engine
    from learning.db import reset_engines

    engine = create_engine(url, future=True)
    try:
        SQLTrackerStore.Base.metadata.create_all(engine)
    finally:
        engine.dispose()
    learning_engine(url)
    reset_engines()
    try:
        if catalog_file is not None:
            from actions.catalog.importer import import_file

            report = import_file(catalog_file, url, replace=True, model=model)
            note = f"imported {report.written} products from {catalog_file.name}"
        elif catalog_is_empty(get_engine(url)):
            ensure_catalog(url)
            note = "built the demo catalog (the database had no products)"
        else:
            note = "kept the catalog already in the database"
        create_cart_table(get_engine(url))
        return note
    finally:
        dispose_engine(url)


@dataclass
class Cluster:
    """`instances` Rasa + action server pairs on `database_url` and `redis_url`, behind nginx on `port`."""

    model: Path
    database_url: str
    redis_url: str
    instances: int = 2
    port: int = field(default_factory=free_port)
    listen_host: str = "127.0.0.1"
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="shopcue-cluster-")))
    catalog_file: Optional[Path] = None
    api_token: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    webchat_secret: str = field(default_factory=lambda: secrets.token_hex(32), repr=False)
    # None: REST through the balancer is closed (a random token nobody is told); see the module docstring.
    rest_token: Optional[str] = field(default=None, repr=False)
    cors_origins: List[str] = field(default_factory=list)
    # Extra environment for every instance (e.g. SHOPCUE_CHANNEL_RATE).
    env: Dict[str, str] = field(default_factory=dict)
    bots: List[BotProcesses] = field(default_factory=list, init=False)
    nginx: Optional[Nginx] = field(default=None, init=False, repr=False)
    catalog_note: str = field(default="", init=False)

    @property
    def url(self) -> str:
        return f"http://{self.listen_host}:{self.port}"

    @property
    def access_log(self) -> Path:
        """nginx's access log: one line per request with the instance that served it."""
        return self.log_dir / "nginx" / ACCESS_LOG

    def instance_env(self) -> Dict[str, str]:
        return {
            CATALOG_URL_ENV: self.database_url,
            SECRET_ENV: self.webchat_secret,
            REST_TOKEN_ENV: self.rest_token or secrets.token_urlsafe(32),
            **REAL_IP_ENV,
            **self.env,
        }

    def start(self, timeout: float = 600.0) -> Cluster:
        """Prepare the database, start the instances side by side, then nginx in front of them; return
        once all answer. On failure stop whatever started and raise."""
        if self.instances < 1:
            raise ValueError("a cluster needs at least one instance")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.catalog_note = prepare_database(self.database_url, self.model, self.catalog_file)
        env = self.instance_env()
        self.bots = [
            BotProcesses(model=self.model, log_dir=self.log_dir / f"instance-{number}", env=env,
                         database_url=self.database_url, tracker_url=self.database_url,
                         lock_url=self.redis_url, shadow=False, api_token=self.api_token,
                         cors_origins=self.cors_origins)
            for number in range(1, self.instances + 1)
        ]
        try:
            with ThreadPoolExecutor(max_workers=self.instances) as pool:
                for started in [pool.submit(bot.start, timeout) for bot in self.bots]:
                    started.result()
            nginx_dir = self.log_dir / "nginx"
            nginx_dir.mkdir(parents=True, exist_ok=True)
            config = nginx_dir / "nginx.conf"
            upstreams = [f"{bot.host}:{bot.rasa_port}" for bot in self.bots]
            config.write_text(render_config(upstreams, f"{self.listen_host}:{self.port}", nginx_dir))
            self.nginx = Nginx(config, nginx_dir, self.port).start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """nginx first (no new requests), then every instance, side by side."""
        if self.nginx is not None:
            self.nginx.stop()
            self.nginx = None
        if self.bots:
            with ThreadPoolExecutor(max_workers=len(self.bots)) as pool:
                list(pool.map(lambda bot: bot.stop(), self.bots))

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main(argv: Optional[List[str]] = None) -> int:
    """Start the scaled topology, print its URLs, stop it all on Ctrl-C."""
    import os

    for name, value in QUIET_ENV.items():  # before SQLAlchemy and Rasa are imported (prepare_database)
        os.environ.setdefault(name, value)

    from actions.catalog.importer import ImportRejectedError
    from bot.channels.session import load_secret
    from bot.stores import redis_url as redis_url_from

    parser = argparse.ArgumentParser(prog="python -m deploy.cluster", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--database-url", default=os.environ.get(CATALOG_URL_ENV),
                        help="PostgreSQL SQLAlchemy URL (default: DATABASE_URL)")
    parser.add_argument("--redis-url", default=redis_url_from(os.environ),
                        help="redis://host:port/db (default: SHOPCUE_REDIS_URL or REDIS_URL)")
    parser.add_argument("--model", type=Path, required=True, help="the trained model archive to serve")
    parser.add_argument("--listen", default="127.0.0.1:8080", help="nginx's address (default 127.0.0.1:8080)")
    parser.add_argument("--catalog", type=Path, help="a product feed to import (default: keep the catalog, "
                                                     "or build the demo catalog into an empty database)")
    parser.add_argument("--logs", type=Path, default=PROJECT_ROOT / "artifacts" / "cluster")
    args = parser.parse_args(argv)
    problems = []
    if not args.database_url or not args.database_url.startswith("postgresql"):
        problems.append("--database-url (or DATABASE_URL) must be a postgresql:// URL shared by all")
    if not args.redis_url:
        problems.append("--redis-url (or SHOPCUE_REDIS_URL) is needed: instances share its lock store")
    if not args.model.is_file():
        problems.append(f"no model archive at {args.model}")
    if args.catalog is not None and not args.catalog.is_file():
        problems.append(f"no catalog file at {args.catalog}")
    host, _, port = args.listen.rpartition(":")
    if not port.isdigit():
        problems.append(f"--listen must be HOST:PORT, not {args.listen!r}")
    if problems:
        parser.error("; ".join(problems))

    cluster = Cluster(model=args.model, database_url=args.database_url, redis_url=args.redis_url,
                      instances=args.instances, port=int(port), listen_host=host or "127.0.0.1",
                      log_dir=args.logs, catalog_file=args.catalog, api_token=api_token(),
                      webchat_secret=load_secret().decode("utf-8"),
                      rest_token=os.environ.get(REST_TOKEN_ENV, "").strip() or None,
                      cors_origins=cors_origins())
    stop_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop_requested.set())
    started = time.monotonic()
    print(f"Shopcue cluster: starting {args.instances} instances (logs in {cluster.log_dir}) ...", flush=True)
    try:
        cluster.start()
        instances = "\n".join(f"  instance {n}: Rasa API {bot.rasa_url} (needs ?token=), actions "
                              f"{bot.actions_url}, logs {bot.log_dir}"
                              for n, bot in enumerate(cluster.bots, 1))
        rest = (f"callers send Authorization: Bearer ${REST_TOKEN_ENV}" if cluster.rest_token
                else f"closed: set {REST_TOKEN_ENV} to open it to callers with that token")
        print(
            f"Shopcue cluster is running (ready in {time.monotonic() - started:.0f} s).\n"
            f"  catalog:       {cluster.catalog_note}\n"
            f"  web chat:      {cluster.url}/webhooks/webchat/\n"
            f"  REST webhook:  {cluster.url}/webhooks/rest/webhook ({rest})\n"
            f"  health:        {cluster.url}/health\n"
            f"{instances}\n"
            f"  Rasa API token: {TOKEN_ENV} or var/rasa_api_token; nginx log: {cluster.access_log}\n"
            "Press Ctrl-C to stop.",
            flush=True,
        )
        while not stop_requested.wait(0.5):
            if any(p.poll() is not None for bot in cluster.bots for p in bot._processes) or not (
                    cluster.nginx and cluster.nginx.running):
                print("Shopcue cluster: a process exited; see the logs. Stopping.", file=sys.stderr)
                return 1
        return 0
    except (LaunchError, NginxError, ImportRejectedError) as error:
        print(f"Shopcue cluster: {error}", file=sys.stderr)
        return 1
    finally:
        print("Shopcue cluster: stopping ...", flush=True)
        with contextlib.suppress(Exception):
            cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
