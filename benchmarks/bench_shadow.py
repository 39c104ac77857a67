"""The cost of shadow parsing on the live path: the same scripted conversation against the bot with and
without the shadow worker (ops/shadow.py), side by side.

Starts its own bot (bot.launcher.BotProcesses: Rasa, action server, a throw-away learning database) on
the given archive, registers a shadow model (default: the same archive, i.e. a full-size model, so the
shadow does as much work per message as any real candidate) and starts the worker. The conversation is
run in blocks that alternate between the two conditions (ABBA..., so a change in the machine's load or
an order effect hits both alike): in a "without" block the worker is paused (SIGSTOP: no CPU at all),
in a "with" block it runs and, before the block starts, has caught up with every message so far, so it
parses each new message as it arrives. Turn latency is the REST round trip of one message
(POST /webhooks/rest/webhook).

    python benchmarks/bench_shadow.py [--model artifacts/e2emodel/model.tar.gz] [--turns 200]
        [--block 50] [--shadow ARCHIVE] [--out artifacts/bench-shadow/results.json]

Prints p50/p95/mean per condition and the with/without ratios, the shadow's lag (message logged to
shadow parse stored) and its agreement with the live model.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from sqlalchemy import func, or_, select  # noqa: E402

from bot.launcher import BotProcesses  # noqa: E402
from common.stats import percentile  # noqa: E402
from learning import registry  # noqa: E402
from learning.db import get_engine, messages, shadow_parses  # noqa: E402
from ops.shadow import agreement_by_model, skipped  # noqa: E402

DEFAULT_MODEL = PROJECT_ROOT / "artifacts" / "e2emodel" / "model.tar.gz"
# One shopper's visit; each block's shoppers walk it from the start, so both conditions see the same turns.
CONVERSATION = (
    "hi", "show me running shoes", "in blue please", "something cheaper", "tell me about the first one",
    "I need a gift for my mum", "a wool scarf", "thanks", "do you have headphones under 100",
    "bye",
)


def summary(seconds: Sequence[float]) -> Dict[str, float]:
    return {"turns": len(seconds), "p50_ms": 1000 * percentile(seconds, 50),
            "p95_ms": 1000 * percentile(seconds, 95), "mean_ms": 1000 * sum(seconds) / len(seconds)}


def caught_up(engine: Any, shadow_id: str, timeout: float = 300.0) -> float:
    """Wait until the worker has a shadow parse of every logged message; seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with engine.connect() as conn:
            rows = conn.execute(select(messages.c.text, messages.c.doubt, messages.c.intent_confidence)).all()
            parsed = conn.execute(select(func.count()).select_from(shadow_parses)
                                  .where(shadow_parses.c.model_id == shadow_id)).scalar()
        logged = sum(1 for row in rows if not skipped(dict(row._mapping)))
        if logged and parsed >= logged:
            return time.monotonic() - started
        time.sleep(0.2)
    raise TimeoutError(f"the shadow worker parsed {parsed} of {logged} messages in {timeout:.0f}s")


def run_block(bot: BotProcesses, block: int, turns: int) -> List[float]:
    seconds: List[float] = []
    shopper = 0
    while len(seconds) < turns:
        sender = f"bench-{block}-{shopper}"
        for text in CONVERSATION[: turns - len(seconds)]:
            started = time.perf_counter()
            replies = bot.send(sender, text, timeout=120)
            seconds.append(time.perf_counter() - started)
            if not replies:
                raise RuntimeError(f"no reply to {text!r}")
        shopper += 1
    return seconds


def parsed_share(engine: Any, shadow_id: str, block: int) -> float:
    """Of a block's logged messages, the share the shadow had parsed when the block ended."""
    with engine.connect() as conn:
        ids = list(conn.execute(select(messages.c.id).where(messages.c.sender_id.like(f"bench-{block}-%")))
                   .scalars())
        done = conn.execute(select(func.count()).select_from(shadow_parses).where(
            shadow_parses.c.model_id == shadow_id, shadow_parses.c.message_id.in_(ids))).scalar()
    return done / len(ids) if ids else 0.0


def lag_seconds(engine: Any, shadow_id: str, blocks: Sequence[int]) -> List[float]:
    """Per message of the given (shadowed) blocks: from its log time to its shadow parse being stored."""
    senders = [messages.c.sender_id.like(f"bench-{block}-%") for block in blocks]
    with engine.connect() as conn:
        rows = conn.execute(select(messages.c.created_at, shadow_parses.c.created_at.label("parsed_at"))
                            .join(shadow_parses, shadow_parses.c.message_id == messages.c.id)
                            .where(shadow_parses.c.model_id == shadow_id, or_(*senders))).all()
    out = []
    for logged, parsed in rows:
        logged = logged.replace(tzinfo=None) if logged.tzinfo else logged
        parsed = parsed.replace(tzinfo=None) if parsed.tzinfo else parsed
        out.append((parsed - logged).total_seconds())
    return out


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--shadow", type=Path, default=None, help="the shadow archive (default: --model)")
    parser.add_argument("--turns", type=int, default=200, help="turns per condition (at least 200)")
    parser.add_argument("--block", type=int, default=50, help="turns per alternating block")
    parser.add_argument("--out", type=Path,
                        default=PROJECT_ROOT / "artifacts" / "bench-shadow" / "results.json")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="shopcue-bench-shadow-"))
    database_url = f"sqlite:///{work / 'learning.db'}"
    engine = get_engine(database_url)
    shadow = registry.register(engine, args.shadow or args.model, "bench", note="bench_shadow")
    registry.set_shadow(engine, shadow.id)
    bot = BotProcesses(model=args.model, log_dir=work / "logs", database_url=database_url, shadow=False,
                       env={"SHOPCUE_CATALOG_DB": str(work / "catalog.db")})
    results: Dict[str, List[float]] = {"without": [], "with": []}
    waits: List[float] = []
    shadowed: List[int] = []
    kept_up: List[float] = []  # per "with" block: the share of its messages the shadow parsed during it
    print(f"bench_shadow: starting the bot on {args.model.name} (logs {bot.log_dir}) ...", flush=True)
    bot.start()
    try:
        bot.send("bench-warm-up", "hi")  # the first turn builds lazy state in both servers
        bot.start_shadow(poll_s=0.2)
        worker = bot._shadow_process
        assert worker is not None
        waits.append(caught_up(engine, shadow.id))  # the shadow model is loaded and has caught up
        block = 0
        pair = 0
        while min(len(v) for v in results.values()) < args.turns:
            # ABBA...: each condition goes first in every other pair, so a drift or an order effect
            # (caches, the catch-up before a "with" block) cancels out
            order = ("without", "with") if pair % 2 == 0 else ("with", "without")
            pair += 1
            for condition in order:
                if condition == "without":
                    os.kill(worker.pid, signal.SIGSTOP)
                else:
                    os.kill(worker.pid, signal.SIGCONT)
                    waits.append(caught_up(engine, shadow.id))
                seconds = run_block(bot, block, args.block)
                results[condition] += seconds
                if condition == "with":
                    shadowed.append(block)
                    kept_up.append(parsed_share(engine, shadow.id, block))
                p50, p95 = 1000 * percentile(seconds, 50), 1000 * percentile(seconds, 95)
                print(f"  block {block} {condition:7} shadow: p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  "
                      f"load {os.getloadavg()[0]:.2f}", flush=True)
                block += 1
        os.kill(worker.pid, signal.SIGCONT)
        caught_up(engine, shadow.id)
        agreement = agreement_by_model(engine).get(shadow.id)
        lags = lag_seconds(engine, shadow.id, shadowed)
    finally:
        if bot._shadow_process is not None:
            os.kill(bot._shadow_process.pid, signal.SIGCONT)
        bot.stop()

    without, with_shadow = summary(results["without"]), summary(results["with"])
    report = {
        "model": args.model.name, "shadow": shadow.id, "without": without, "with": with_shadow,
        "ratio_p50": with_shadow["p50_ms"] / without["p50_ms"],
        "ratio_p95": with_shadow["p95_ms"] / without["p95_ms"],
        "ratio_mean": with_shadow["mean_ms"] / without["mean_ms"],
        "shadow_lag_s": {"p50": percentile(lags, 50), "p95": percentile(lags, 95)} if lags else None,
        "agreement": agreement, "catch_up_waits_s": waits,
        "parsed_during_with_blocks": sum(kept_up) / len(kept_up) if kept_up else None,
        "load_average": os.getloadavg(), "cpus": os.cpu_count(),
    }
    print(f"\n{'':16}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}{'turns':>8}")
    for name, figures in (("without shadow", without), ("with shadow", with_shadow)):
        print(f"{name:16}{figures['p50_ms']:10.1f}{figures['p95_ms']:10.1f}{figures['mean_ms']:10.1f}"
              f"{figures['turns']:8d}")
    print(f"{'ratio with/without':16}{report['ratio_p50']:10.2f}{report['ratio_p95']:10.2f}"
          f"{report['ratio_mean']:10.2f}")
    if lags:
        print(f"shadow lag (logged -> shadow parse stored): p50 {report['shadow_lag_s']['p50']:.2f} s, "
              f"p95 {report['shadow_lag_s']['p95']:.2f} s; agreement {agreement}")
    print(f"share of each 'with' block's messages shadow-parsed by the block's end: "
          f"{report['parsed_during_with_blocks']:.0%}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {args.out}")
    return report


if __name__ == "__main__":
    main()
