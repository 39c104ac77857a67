"""What a shopper sees while the served model is switched: Shopcue's switch (ops/serving.py) against Rasa's
own `PUT /model`, on the same running bot.

A scripted shopper chats over REST in a thread the whole time. For each method the bot is switched to
another archive of the same model (recompressed, so another registry id) and back; per switch the script
records how long it took, how many turns were answered while it ran, the slowest turn, failures, and
whether the shopper's conversation kept its tracker (the count of its events did not drop).

    python benchmarks/bench_model_switch.py [--model artifacts/e2emodel/model.tar.gz]
        [--out artifacts/bench-model-switch/results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from bot.launcher import BotProcesses  # noqa: E402
from learning import registry  # noqa: E402
from learning.db import get_engine  # noqa: E402
from ops.serving_client import serve_live  # noqa: E402
from tests.test_model_switch_e2e import SCRIPT, repacked  # noqa: E402

DEFAULT_MODEL = PROJECT_ROOT / "artifacts" / "e2emodel" / "model.tar.gz"
SENDER = "bench-switch-shopper"


class Shopper:
    """Chats round the script until stopped: (start, end, replies, error) per turn."""

    def __init__(self, bot: BotProcesses) -> None:
        self.bot = bot
        self.turns: List[Tuple[float, float, int, Optional[str]]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        index = 0
        while not self.stop.is_set():
            started, error, replies = time.monotonic(), None, 0
            try:
                replies = len(self.bot.send(SENDER, SCRIPT[index % len(SCRIPT)], timeout=300))
            except Exception as failure:  # counted as a failed turn
                error = type(failure).__name__
            self.turns.append((started, time.monotonic(), replies, error))
            index += 1


def events(bot: BotProcesses) -> int:
    return len(bot.api("GET", f"/conversations/{SENDER}/tracker", timeout=60)["events"])


def measure(bot: BotProcesses, shopper: Shopper, name: str, switch: Callable[[], Any]) -> Dict[str, Any]:
    before = events(bot)
    seen = len(shopper.turns)
    started = time.monotonic()
    switch()
    ended = time.monotonic()
    while len(shopper.turns) < seen + 2:  # wait for the first turns after the switch
        time.sleep(0.1)
    inside = [t for t in shopper.turns[seen:] if t[0] >= started and t[1] <= ended]
    overlapping = [t for t in shopper.turns[seen:] if t[1] >= started and t[0] <= ended]
    after = events(bot)
    result = {
        "method": name, "switch_s": round(ended - started, 2), "model_file": bot_status(bot),
        "turns_answered_during": len(inside),
        "slowest_turn_s": round(max(t[1] - t[0] for t in overlapping), 2) if overlapping else None,
        "failed_or_empty": sum(1 for t in shopper.turns[seen:] if t[3] is not None or t[2] == 0),
        "tracker_events_before": before, "tracker_events_after": after, "tracker_kept": after > before,
    }
    print(json.dumps(result), flush=True)
    return result


def bot_status(bot: BotProcesses) -> str:
    return bot.api("GET", "/status", timeout=60)["model_file"]


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--out", type=Path,
                        default=PROJECT_ROOT / "artifacts" / "bench-model-switch" / "results.json")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="shopcue-bench-switch-"))
    database_url = f"sqlite:///{work / 'learning.db'}"
    engine = get_engine(database_url)
    other = repacked(args.model, work / "other.tar.gz")
    first = registry.register(engine, args.model, "bench")
    second = registry.register(engine, other, "bench")
    bot = BotProcesses(model=args.model, log_dir=work / "logs", database_url=database_url, shadow=False,
                       env={"SHOPCUE_CATALOG_DB": str(work / "catalog.db")})
    bot.start()
    shopper = Shopper(bot)
    thread = threading.Thread(target=shopper.run, daemon=True)
    results: List[Dict[str, Any]] = []
    try:
        thread.start()
        while len(shopper.turns) < 5:
            time.sleep(0.2)
        for model_id in (second.id, first.id):
            results.append(measure(bot, shopper, "shopcue ops/serving",
                                   lambda m=model_id: serve_live(m, url=bot.rasa_url, token=bot.api_token)))
        for archive in (other, args.model):
            results.append(measure(bot, shopper, "rasa PUT /model", lambda a=archive: bot.api(
                "PUT", "/model", {"model_file": str(a)}, timeout=600)))
    finally:
        shopper.stop.set()
        thread.join(timeout=300)
        bot.stop()
    report = {"model": args.model.name, "switches": results, "turns": len(shopper.turns),
              "load_average": os.getloadavg(), "cpus": os.cpu_count()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {args.out}")
    return report


if __name__ == "__main__":
    main()
