"""The monitoring benchmark: real shopping queries as live traffic, then the dashboard over them.

    nice -n 5 .venv/bin/python benchmarks/bench_monitoring.py --messages 1000

1. The bot (bot.launcher.BotProcesses: Rasa server, action server) starts with a temporary learning
   database; the model is artifacts/e2emodel/model.tar.gz unless --model says otherwise. Its baseline
   (ops/monitor_baseline.py: held-out confidences, training intent mix) is built once if missing.
2. QueryNER validation queries (../shared/datasets/queryner/validation.jsonl, 871 real Amazon queries)
   go through the REST webhook, one shopper per query, `--concurrency` at a time; past the split's end
   the queries come round again from the start (other shoppers searching the same things).
3. GET /metrics is scraped before and after (the counters must agree with the log).
4. The console starts over that database; an admin created for the run logs in with headless Chromium
   and the dashboard is saved as artifacts/dashboard/live-1000.png (--screenshot).
5. The dashboard's figures (ops/dashboard.py, the same code the page's API runs) are printed and saved
   as JSON: PSI per day, live against held-out confidence, fallback rate, zero-result top words,
   turn latency p50/p95 (from the log) and the client's round-trip latency.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from benchmarks.bench_webchat import headless_chrome  # noqa: E402
from bot.launcher import BotProcesses  # noqa: E402
from common.stats import percentile  # noqa: E402
from console.users import add_user  # noqa: E402
from learning.db import ADMIN, get_engine, messages  # noqa: E402
from ops import alerts, dashboard  # noqa: E402
from ops.monitor_baseline import BASELINE_ENV, baseline_path, build_baseline, load_baseline  # noqa: E402

DEFAULT_MODEL = PROJECT_ROOT / "artifacts" / "e2emodel" / "model.tar.gz"
QUERYNER = PROJECT_ROOT.parent / "shared" / "datasets" / "queryner" / "validation.jsonl"
ARTIFACTS = PROJECT_ROOT / "artifacts" / "dashboard"


def queries(path: Path, count: int) -> List[str]:
    """`count` queries of the split in file order, coming round again past its end."""
    texts = [" ".join(json.loads(line)["tokens"]) for line in path.read_text().splitlines() if line.strip()]
    texts = [t for t in texts if t.strip()]
    return [texts[i % len(texts)] for i in range(count)]


def scrape(url: str) -> Dict[str, float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    totals: Dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("shopcue_") and not sample.name.endswith("_created"):
                if sample.name.endswith("_bucket"):
                    continue
                totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


def wait_for_log(engine: Any, expected: int, timeout: float = 120.0) -> int:
    """Wait until the log writer has stored `expected` messages, each with its replies."""
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as connection:
            stored = connection.execute(select(func.count()).select_from(messages)).scalar_one()
        if stored >= expected or time.monotonic() > deadline:
            time.sleep(2.0)  # the last replies are appended after the row
            return int(stored)
        time.sleep(0.5)


def screenshot_dashboard(console_url: str, username: str, password: str, out: Path, days: int) -> None:
    browser = headless_chrome(1400, 1400)
    try:
        driver = browser.driver
        driver.get(f"{console_url}/login?next=/dashboard")
        driver.find_element(By.NAME, "username").send_keys(username)
        driver.find_element(By.NAME, "password").send_keys(password)
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        wait = WebDriverWait(driver, 120)
        wait.until(lambda d: d.execute_script("return document.body.dataset.dashboard") == "ready")
        if days != 7:
            driver.execute_script("document.body.removeAttribute('data-dashboard');"
                                  f"const s = document.getElementById('days'); s.value = '{days}';"
                                  "s.dispatchEvent(new Event('change'));")
            wait.until(lambda d: d.execute_script("return document.body.dataset.dashboard") == "ready")
        out.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(out))
    finally:
        browser.quit()


def report(figures: Dict[str, Any], client_ms: Sequence[float], metrics: Dict[str, float]) -> str:
    s = figures["summary"]
    conf = figures["confidence"]
    lines = [
        f"messages logged: {s['messages']} (channels {s['channels']})",
        f"fallback rate: {s['fallbacks']}/{s['messages']} = {s['fallback_rate'] or 0:.4f}",
        f"handoffs: {s['handoffs']}",
        f"searches: {s['searches']}, zero-result: {s['zero_result_searches']} "
        f"(rate {s['zero_result_rate'] or 0:.4f})",
        f"turn latency from the log (first reply ts - message time), s: {s['latency_s']}",
        f"client round trip, ms: p50 {percentile(client_ms, 50):.1f}, p95 {percentile(client_ms, 95):.1f}, "
        f"max {max(client_ms):.1f}",
        "intent-mix PSI per day against training: " + ", ".join(
            f"{d['day']}: {d['psi']} ({d['level']}, {d['messages']} msgs, top {d['top_intents']}, "
            f"largest terms {d.get('movers')})"
            for d in figures["psi"]),
        f"confidence live: {conf['live_summary']}",
        f"confidence held-out: {conf['heldout_summary']}",
        "zero-result top words: " + ", ".join(f"{w} {c}" for w, c in figures["zero_result_words"]),
        "zero-result top phrases: " + ", ".join(f"{p} {c}" for p, c in figures["zero_result_phrases"][:10]),
        f"alerts: {[a['message'] for a in figures['alerts']] or 'none'}",
        f"GET /metrics deltas: {metrics}",
    ]
    return "\n".join(line for line in lines if line)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/bench_monitoring.py",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--queries", type=Path, default=QUERYNER)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--screenshot", type=Path, default=ARTIFACTS / "live-1000.png")
    parser.add_argument("--json", type=Path, default=ARTIFACTS / "live-1000.json")
    args = parser.parse_args(argv)

    started = time.monotonic()
    baseline_file = baseline_path(args.model)
    if not baseline_file.is_file():
        print(f"building the baseline {baseline_file} ...", flush=True)
        baseline_file.write_text(json.dumps(build_baseline(args.model), indent=1))
    baseline = load_baseline(baseline_file) or {}

    work = Path(tempfile.mkdtemp(prefix="shopcue-bench-monitoring-"))
    database_url = f"sqlite:///{work / 'learning.db'}"
    bot = BotProcesses(model=args.model, log_dir=work / "logs", database_url=database_url,
                       env={"SHOPCUE_CATALOG_DB": str(work / "catalog.db"), BASELINE_ENV: str(baseline_file)})
    texts = queries(args.queries, args.messages)
    try:
        bot.start()
        print(f"bot up in {time.monotonic() - started:.0f}s; sending {len(texts)} queries", flush=True)
        before = scrape(bot.rasa_url)

        def send(item: tuple) -> float:
            n, text = item
            t0 = time.perf_counter()
            bot.send(f"queryner-{n:05d}", text, timeout=120)
            return (time.perf_counter() - t0) * 1000

        sent_at = time.monotonic()
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            client_ms = list(pool.map(send, enumerate(texts)))
        send_s = time.monotonic() - sent_at
        print(f"sent {len(texts)} messages in {send_s:.0f}s", flush=True)
        after = scrape(bot.rasa_url)
        deltas = {k.removeprefix("shopcue_"): round(after.get(k, 0) - before.get(k, 0), 3) for k in after
                  if k.endswith(("_total", "_count"))}
        engine = get_engine(database_url)
        stored = wait_for_log(engine, len(texts))

        username, password = "bench-admin", secrets.token_urlsafe(18)
        add_user(engine, username, password, ADMIN)
        bot.start_console()
        screenshot_dashboard(bot.console_url, username, password, args.screenshot, days=1)

        figures = dashboard.build(engine, 1, baseline.get("training_intents") or {},
                                  baseline.get("heldout_confidences"))
        figures["alerts"] = [a.to_json() for a in alerts.check(figures["summary"], alerts.load_thresholds())]
    finally:
        bot.stop()
    wall = time.monotonic() - started
    text = report(figures, client_ms, deltas)
    print(text)
    load = os.getloadavg()
    result = {"run_at": datetime.now(UTC).isoformat(timespec="seconds"), "model": str(args.model),
              "messages_sent": len(texts), "distinct_queries": len(set(texts)), "messages_logged": stored,
              "concurrency": args.concurrency, "send_s": round(send_s, 1), "wall_s": round(wall, 1),
              "loadavg_end": [round(x, 2) for x in load], "metrics_deltas": deltas,
              "client_ms": {"p50": percentile(client_ms, 50), "p95": percentile(client_ms, 95)},
              "figures": figures, "screenshot": str(args.screenshot)}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1, default=str))
    print(f"screenshot {args.screenshot}; figures {args.json}; wall {wall:.0f}s; load {load}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
