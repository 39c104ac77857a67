"""Load benchmark (issue 15): locust shoppers on the web chat against `make run`'s single process and against
one and two Rasa instances behind nginx (deploy/cluster.py), printing one table of messages/s, p50/p95/p99
turn latency and errors per topology and number of concurrent shoppers.

    python benchmarks/bench_load.py [--topologies single,1,2] [--users 50,200] [--duration 60]
        [--model artifacts/cimodel2/out/model.tar.gz] [--think 2,5] [--out artifacts/bench-load/results.json]

Each shopper (benchmarks/load/locustfile.py) opens a web chat session, then goes round search, refine,
compare, add to cart with a think time before each turn. The figures count the steady part only: from the
moment the last shopper has started to the end of the run (turns that ended in it). A turn is an error when
it is not answered with HTTP 200 and at least one message (a 429, a 5xx, a time-out or silence). Opening
the chat (POST /session) is timed apart: its p95 over the whole run.

- `single`: what `make run` starts (bot/launcher.py BotProcesses: SQLite tracker store, in-memory lock),
  on a throwaway catalog and learning log, so a developer's var/ databases get no benchmark traffic.
- `1`, `2`: that many Rasa + action server pairs on one PostgreSQL and one Redis (throwaway servers from
  tests/services.py, Debian's binaries), behind nginx hashing on the session.

All shoppers come from one address, so the per-address rate limit (SHOPCUE_CHANNEL_IP_RATE) is off for the
run; the per-conversation limit stays as shipped. Locust runs in its own environment, benchmarks/load/.venv,
made from benchmarks/load/requirements.txt on first use (it pins gevent and Flask, which Shopcue does not
need). Every process shares this machine's cores with the load generator: read the figures with the load
average printed beside them.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from bot.channels.guard import IP_RATE_ENV  # noqa: E402
from bot.channels.session import SESSION_HEADER  # noqa: E402
from bot.launcher import BotProcesses, http_json  # noqa: E402
from common.stats import percentile  # noqa: E402

LOAD_DIR = PROJECT_ROOT / "benchmarks" / "load"
LOCUSTFILE = LOAD_DIR / "locustfile.py"
REQUIREMENTS = LOAD_DIR / "requirements.txt"
LOAD_VENV = LOAD_DIR / ".venv"
DEFAULT_MODEL = PROJECT_ROOT / "artifacts" / "cimodel2" / "out" / "model.tar.gz"
DEFAULT_OUT = PROJECT_ROOT / "artifacts" / "bench-load" / "results.json"
# One client address for every shopper: its limit would measure the limiter, not the bot.
LIMITS_ENV = {IP_RATE_ENV: "off"}
TOPOLOGY_NAMES = {"single": "make run (1 process)", "1": "1 instance + nginx", "2": "2 instances + nginx"}
# Sessions that say one thing each before the run: every instance has loaded its catalog and run each
# part of the model once (with hashing, a few sessions reach every instance).
WARMUP_SESSIONS = 8
WARMUP_TEXT = "running shoes for men"


@dataclass
class RunFigures:
    """One locust run's figures over its steady part."""

    topology: str
    shoppers: int
    window_s: float
    turns: int
    answered: int
    messages_per_s: float
    p50_s: float
    p95_s: float
    p99_s: float
    errors: int
    error_kinds: Dict[str, int] = field(default_factory=dict)
    # How answered turns looked, per kind (whole run): {"search": {"product_cards": 90, "text": 4}, ...}
    reply_shapes: Dict[str, Dict[str, int]] = field(default_factory=dict)
    # How long opening the chat took (POST /session, whole run, ramp-up included): the first thing a
    # shopper waits for, and the first to suffer when the server cannot accept connections fast enough.
    session_p95_s: float = 0.0
    load_before: str = ""
    load_after: str = ""


def summarise(raw: Dict[str, Any], topology: str, shoppers: int) -> RunFigures:
    """Figures of the turns that ended between the moment the last shopper had started and the stop:
    throughput is completions per second; a turn still running at the stop has no latency to count."""
    start = raw.get("ramped_at") or raw["stopped_at"]
    end = raw["stopped_at"]
    steady = [turn for turn in raw["turns"] if start <= turn["start"] + turn["seconds"] <= end]
    answered = [turn["seconds"] for turn in steady if not turn["error"]]
    failed = Counter(turn["error"] for turn in steady if turn["error"])
    window = max(end - start, 1e-9)
    shapes: Dict[str, Dict[str, int]] = {}
    for row in raw.get("shapes", []):
        shapes.setdefault(row["kind"], {})[row["shape"]] = row["count"]
    sessions = [row["seconds"] for row in raw.get("sessions", []) if not row["error"]]
    return RunFigures(
        topology=topology, shoppers=shoppers, window_s=round(window, 1), turns=len(steady),
        answered=len(answered), messages_per_s=len(answered) / window, p50_s=percentile(answered, 50),
        p95_s=percentile(answered, 95), p99_s=percentile(answered, 99), errors=sum(failed.values()),
        error_kinds=dict(failed.most_common(5)), reply_shapes=shapes,
        session_p95_s=percentile(sessions, 95),
    )


def table(rows: List[RunFigures]) -> str:
    """The figures as one plain-text table."""
    lines = [f"{'topology':<22} {'shoppers':>8} {'msgs/s':>7} {'p50 s':>7} {'p95 s':>7} {'p99 s':>7} "
             f"{'errors':>13} {'session p95 s':>13}  load avg (1/5/15 min) before -> after"]
    for row in rows:
        lines.append(
            f"{TOPOLOGY_NAMES.get(row.topology, row.topology):<22} {row.shoppers:>8} "
            f"{row.messages_per_s:>7.1f} {row.p50_s:>7.2f} {row.p95_s:>7.2f} {row.p99_s:>7.2f} "
            f"{f'{row.errors} / {row.turns}':>13} {row.session_p95_s:>13.2f}  "
            f"{row.load_before} -> {row.load_after}"
        )
        if row.reply_shapes:
            lines.append(f"{'':<22} answered with: {shapes_line(row.reply_shapes)}")
        if row.error_kinds:
            kinds = ", ".join(f"{kind}: {count}" for kind, count in row.error_kinds.items())
            lines.append(f"{'':<22} errors: {kinds}")
    return "\n".join(lines)


def shapes_line(shapes: Dict[str, Dict[str, int]]) -> str:
    """ "cart: text 40; search: product_cards 90, text 4": a figure is only as good as the answers."""
    parts = []
    for kind, counts in sorted(shapes.items()):
        ordered = sorted(counts.items(), key=lambda item: -item[1])
        parts.append(f"{kind}: " + ", ".join(f"{shape} {count}" for shape, count in ordered))
    return "; ".join(parts)


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


# ---- the load generator's environment ---------------------------------------------------------------


def locust_binary() -> Path:
    """benchmarks/load/.venv's locust, made or updated from requirements.txt when that file changed."""
    stamp = LOAD_VENV / ".requirements-sha256"
    want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    locust = LOAD_VENV / "bin" / "locust"
    if locust.exists() and stamp.exists() and stamp.read_text().strip() == want:
        return locust
    print(f"bench_load: installing locust into {LOAD_VENV.relative_to(PROJECT_ROOT)} (once) ...", flush=True)
    if not (LOAD_VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(LOAD_VENV)], check=True)
    subprocess.run([str(LOAD_VENV / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps",
                    "--disable-pip-version-check", "-r", str(REQUIREMENTS)], check=True)
    stamp.write_text(want + "\n")
    return locust


def run_locust(url: str, shoppers: int, duration_s: float, ramp_s: float, think: str, work_dir: Path
               ) -> Dict[str, Any]:
    """One headless locust run against `url`; the locustfile's raw turns."""
    results = work_dir / f"turns-{shoppers}.json"
    log = work_dir / f"locust-{shoppers}.log"
    spawn_rate = max(1.0, shoppers / ramp_s)
    command = [str(locust_binary()), "-f", str(LOCUSTFILE), "--headless", "-H", url,
               "-u", str(shoppers), "-r", f"{spawn_rate:g}", "-t", f"{int(ramp_s + duration_s)}s",
               "--only-summary", "--loglevel", "WARNING"]
    env = {**os.environ, "SHOPCUE_LOAD_RESULTS": str(results), "SHOPCUE_LOAD_THINK": think}
    with log.open("w") as out:
        # exit 1 when any request failed: the failures are in the figures; no results file is the error
        subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                       timeout=ramp_s + duration_s + 300)
    if not results.exists():
        raise SystemExit(f"bench_load: locust wrote no results; its log {log}:\n{log.read_text()[-2000:]}")
    return json.loads(results.read_text())


# ---- the topologies ---------------------------------------------------------------------------------


def warm_up(url: str) -> None:
    """A few shoppers say one thing each, so the first measured turns pay no first-use costs."""
    for _ in range(WARMUP_SESSIONS):
        session = http_json("POST", f"{url}/webhooks/webchat/session", {}, timeout=30)["session"]
        call = urllib.request.Request(f"{url}/webhooks/webchat/webhook", method="POST",
                               data=json.dumps({"message": WARMUP_TEXT}).encode(),
                               headers={"Content-Type": "application/json", SESSION_HEADER: session})
        with urllib.request.urlopen(call, timeout=300) as response:
            response.read()


class SharedServices:
    """One throwaway PostgreSQL and Redis for the clustered topologies, started on first use."""

    def __init__(self) -> None:
        self.postgres: Any = None
        self.redis: Any = None
        self.roots: List[Path] = []

    def urls(self) -> Tuple[str, str]:
        if self.postgres is None:
            from tests.services import PostgresServer, RedisServer

            pg_root, redis_root = (Path(tempfile.mkdtemp(prefix=p)) for p in ("shopcue-load-pg-",
                                                                             "shopcue-load-redis-"))
            self.roots += [pg_root, redis_root]
            self.postgres = PostgresServer(pg_root).init()
            self.redis = RedisServer(redis_root)
            self.redis.start()
        return self.postgres.url, self.redis.url

    def stop(self) -> None:
        for server in (self.redis, self.postgres):
            if server is not None:
                server.stop()
        for root in self.roots:
            shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def topology(name: str, model: Path, work_dir: Path, services: SharedServices) -> Iterator[str]:
    """The topology running for the block; yields the URL shoppers talk to."""
    if name == "single":
        bot = BotProcesses(model=model, log_dir=work_dir / "logs", shadow=False,
                           database_url=f"sqlite:///{work_dir / 'learning.db'}",
                           env={**LIMITS_ENV, "DATABASE_URL": f"sqlite:///{work_dir / 'catalog.db'}"})
        with bot:
            yield bot.rasa_url
        return
    from deploy.cluster import Cluster

    database_url, redis_url = services.urls()
    with Cluster(model=model, database_url=database_url, redis_url=redis_url, instances=int(name),
                 env=dict(LIMITS_ENV), log_dir=work_dir / "logs") as cluster:
        yield cluster.url


def run_all(topologies: List[str], shoppers: List[int], model: Path, duration_s: float, ramp_s: float,
            think: str, work_root: Path, report: Callable[[str], None]) -> List[RunFigures]:
    rows: List[RunFigures] = []
    services = SharedServices()
    try:
        for name in topologies:
            work_dir = work_root / f"topology-{name}"
            work_dir.mkdir(parents=True, exist_ok=True)
            report(f"starting {TOPOLOGY_NAMES[name]} (logs in {work_dir}) ...")
            started = time.monotonic()
            with topology(name, model, work_dir, services) as url:
                report(f"  up in {time.monotonic() - started:.0f} s; warming up")
                warm_up(url)
                for count in shoppers:
                    before = load_average()
                    report(f"  {count} shoppers for {duration_s:.0f} s (+{ramp_s:.0f} s ramp-up) ...")
                    raw = run_locust(url, count, duration_s, ramp_s, think, work_dir)
                    figures = summarise(raw, name, count)
                    figures.load_before, figures.load_after = before, load_average()
                    report(f"  {figures.messages_per_s:.1f} msgs/s, p95 {figures.p95_s:.2f} s, "
                           f"{figures.errors} errors of {figures.turns} turns")
                    rows.append(figures)
    finally:
        services.stop()
    return rows


def csv_list(text: str) -> List[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topologies", default="single,1,2", help="comma-separated: single, 1, 2")
    parser.add_argument("--users", default="50,200", help="concurrent shoppers, comma-separated")
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds per run")
    parser.add_argument("--ramp", type=float, default=10.0,
                        help="seconds to start all shoppers (not measured)")
    parser.add_argument("--think", default="2,5", help="MIN,MAX seconds a shopper thinks before each turn")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    topologies = csv_list(args.topologies)
    problems = [f"unknown topology {name!r} (single, 1, 2)"
                for name in topologies if name not in TOPOLOGY_NAMES]
    try:
        shoppers = [int(count) for count in csv_list(args.users)]
    except ValueError:
        shoppers = []
    if not shoppers or min(shoppers) < 1:
        problems.append(f"--users must be positive whole numbers, not {args.users!r}")
    if not args.model.is_file():
        problems.append(f"no model archive at {args.model}")
    if args.duration <= 0 or args.ramp <= 0:
        problems.append("--duration and --ramp must be positive")
    if problems:
        parser.error("; ".join(problems))

    print(f"bench_load: {os.cpu_count()} cores, load average {load_average()}, model {args.model}",
          flush=True)
    work_root = Path(tempfile.mkdtemp(prefix="shopcue-load-"))
    rows = run_all(topologies, shoppers, args.model, args.duration, args.ramp, args.think, work_root,
                   lambda line: print(f"bench_load: {line}", flush=True))
    print()
    print(f"web chat shoppers (search, refine, compare, cart; think {args.think} s), {args.duration:.0f} s "
          f"measured per row, {os.cpu_count()} cores shared with the load generator:")
    print(table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    summary = {"cores": os.cpu_count(), "think": args.think, "duration_s": args.duration,
               "model": str(args.model), "runs": [asdict(row) for row in rows]}
    args.out.write_text(json.dumps(summary, indent=2))
    print(f"\nraw figures: {args.out}; logs: {work_root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
