"""Fault benchmark (issue 15, item 5): how fast and how clearly the shopper is answered when something
behind the bot fails, with the shipped limits, printed as one table (the closing note's fault table).

    python benchmarks/bench_faults.py [--model artifacts/cimodel2/out/model.tar.gz] [--repeat 5]

One bot (bot/launcher.py BotProcesses) on a throwaway PostgreSQL tracker store and Redis lock store
(tests/services.py, Debian's binaries), a throwaway catalog and learning log. Each row is a web chat
message (or a phone message over REST) sent while the fault holds: the HTTP status, what the shopper got,
and the median and worst seconds to that answer over `--repeat` messages, each from a new conversation
that had one search answered first. Recovery rows: the first message after the service is back, and how
many tries it took. The slow catalog row runs a deliberately endless query on a SQLite catalog under the
shipped statement limit (SHOPCUE_CATALOG_TIMEOUT_S). Every process shares this machine's cores: read the
figures with the load average printed beside them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from bot.channels.apologies import ACTIONS_DOWN, SHOP_SYSTEM_DOWN  # noqa: E402
from bot.channels.faults import action_timeout_s  # noqa: E402
from bot.channels.session import SENDER_PREFIX, SESSION_HEADER  # noqa: E402
from bot.launcher import BotProcesses  # noqa: E402

DEFAULT_MODEL = PROJECT_ROOT / "artifacts" / "cimodel2" / "out" / "model.tar.gz"
SEARCH = "running shoes for men"
FOLLOW_UP = "tell me about the first one"
Row = Tuple[str, str, List[float], str]


class Shopper:
    """One web chat conversation with the bot."""

    def __init__(self, bot: BotProcesses) -> None:
        self.base = f"{bot.rasa_url}/webhooks/webchat"
        session = httpx.post(f"{self.base}/session", timeout=30).json()["session"]
        self.headers = {SESSION_HEADER: session}
        self.sender = SENDER_PREFIX + session.split(".")[0]

    def say(self, text: str) -> Tuple[float, httpx.Response]:
        start = time.perf_counter()
        reply = httpx.post(f"{self.base}/webhook", json={"message": text}, headers=self.headers, timeout=400)
        return time.perf_counter() - start, reply


def outcome(reply: httpx.Response) -> str:
    """What the shopper got, in a few words."""
    if reply.status_code == 503 and reply.json().get("error") == SHOP_SYSTEM_DOWN:
        return f"503 + apology, Retry-After {reply.headers.get('Retry-After')}"
    if reply.status_code != 200:
        return f"HTTP {reply.status_code}"
    messages = reply.json()
    if [m.get("text") for m in messages] == [ACTIONS_DOWN]:
        return "200 + action server apology"
    if any(isinstance(m.get("custom"), dict) for m in messages):
        return "200 + answer with cards"
    return "200 + answer" if messages else "200 + silence"


def during(bot: BotProcesses, name: str, repeat: int, stop: Callable[[], None], start: Callable[[], None],
           text: str = FOLLOW_UP) -> Tuple[Row, Row]:
    """`repeat` messages while the fault holds, then one message after it ends (sent again until answered,
    as the widget would, at most 5 tries 1 s apart)."""
    shoppers = [Shopper(bot) for _ in range(repeat)]
    for shopper in shoppers:
        shopper.say(SEARCH)
    stop()
    try:
        timed = [shopper.say(text) for shopper in shoppers]
    finally:
        start()
    seconds, replies = [t for t, _ in timed], [r for _, r in timed]
    got = ", ".join(sorted({outcome(r) for r in replies}))
    tries, spent = 0, 0.0
    while True:
        tries += 1
        elapsed, reply = shoppers[0].say(text)
        spent += elapsed
        if reply.status_code == 200 or tries == 5:
            break
        time.sleep(1)
    after = (f"{name}: back", outcome(reply), [spent], f"answered at try {tries}")
    return (name, got, seconds, ""), after


def slow_catalog(work: Path) -> Row:
    """The endless query under the shipped statement limit, on a SQLite catalog."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from actions.catalog.db import (
        get_engine,
        is_statement_timeout,
        limit_statements,
        session_for,
        statement_timeout_s,
    )

    engine = get_engine(f"sqlite:///{work / 'slow.db'}")
    limit_statements(engine)
    query = text("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n")
    start = time.perf_counter()
    try:
        with session_for(engine) as session:
            session.execute(query).scalar()
        got = "finished (no limit?)"
    except OperationalError as error:
        got = "stopped: 'the catalog is slow' apology" if is_statement_timeout(error) else "database error"
    return ("slow catalog query (endless)", got, [time.perf_counter() - start],
            f"limit {statement_timeout_s():g} s")


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/bench_faults.py",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    from tests.services import PostgresServer, RedisServer

    work = Path(tempfile.mkdtemp(prefix="shopcue-bench-faults-"))
    postgres = PostgresServer(Path(tempfile.mkdtemp(prefix="shopcue-bench-pg-"))).init()
    redis = RedisServer(Path(tempfile.mkdtemp(prefix="shopcue-bench-redis-")))
    redis.start()
    bot = BotProcesses(model=args.model, log_dir=work / "logs", database_url=f"sqlite:///{work / 'l.db'}",
                       env={"SHOPCUE_CATALOG_DB": str(work / "catalog.db")}, tracker_url=postgres.url,
                       lock_url=redis.url, shadow=False)
    rows: List[Row] = []
    try:
        print("starting the bot on PostgreSQL and Redis ...", flush=True)
        bot.start()
        baseline = [Shopper(bot).say(SEARCH) for _ in range(args.repeat)]
        rows.append(("no fault (search)", ", ".join(sorted({outcome(r) for _, r in baseline})),
                     [t for t, _ in baseline], ""))
        rows += during(bot, "Redis stopped", args.repeat, redis.stop, redis.start)
        rows += during(bot, "PostgreSQL stopped", args.repeat, postgres.stop, postgres.start)
        rows += during(bot, "action server stopped", args.repeat, bot.stop_actions, bot.start_actions, SEARCH)
        hung, back = during(bot, "action server hung (SIGSTOP)", 1, bot.pause_actions, bot.resume_actions,
                            SEARCH)
        rows += [(hung[0], hung[1], hung[2], f"SHOPCUE_ACTION_TIMEOUT_S {action_timeout_s():g}"), back]
        rows.append(slow_catalog(work))
    finally:
        bot.stop()
        redis.stop()
        postgres.stop()
        for path in (work, postgres.root, redis.root):
            shutil.rmtree(path, ignore_errors=True)
    print_table(rows, args.repeat)
    return 0


def print_table(rows: List[Row], repeat: int) -> None:
    header = ("fault", "what the shopper got", "median s", "worst s", "note")
    table: List[Tuple[str, ...]] = [header]
    for name, got, seconds, note in rows:
        table.append((name, got, f"{statistics.median(seconds):.2f}", f"{max(seconds):.2f}", note))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    print()
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    load = os.getloadavg()
    details: Dict[str, Any] = {"messages per fault": repeat, "cores": os.cpu_count(),
                               "load average": " ".join(f"{x:.2f}" for x in load)}
    print("\n" + ", ".join(f"{k}: {v}" for k, v in details.items()))


if __name__ == "__main__":
    sys.exit(main())
