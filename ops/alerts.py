"""Alerts: monitoring figures over their configured thresholds, logged once per breach and shown.

Thresholds come from ops/alerts.yml, each overridable by SHOPCUE_ALERT_<NAME>. `check` compares a
dashboard summary (ops/dashboard.py) with them; `AlertLog.update` writes one structured warning when a
breach starts and one info line when it clears, however often the figures are recomputed.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import yaml

logger = logging.getLogger("ops.alerts")  # the same name when run as python -m ops.alerts

CONFIG_PATH = Path(__file__).resolve().parent / "alerts.yml"
ENV_PREFIX = "SHOPCUE_ALERT_"
NAMES = ("fallback_rate", "psi", "p95_latency_s", "zero_result_rate", "min_messages")
LABELS = {
    "fallback_rate": "fallback rate",
    "psi": "intent-mix drift (PSI, latest day)",
    "p95_latency_s": "p95 turn latency (s)",
    "zero_result_rate": "zero-result search rate",
}


@dataclass(frozen=True)
class Thresholds:
    fallback_rate: float
    psi: float
    p95_latency_s: float
    zero_result_rate: float
    min_messages: int

    def to_json(self) -> Dict[str, float]:
        return {name: getattr(self, name) for name in NAMES}


def load_thresholds(path: Path = CONFIG_PATH, env: Optional[Mapping[str, str]] = None) -> Thresholds:
    """The YAML's thresholds with SHOPCUE_ALERT_* overrides; a bad value is an error, not a silent 0."""
    env = os.environ if env is None else env
    values: Dict[str, Any] = yaml.safe_load(path.read_text()) or {}
    for name in NAMES:
        override = env.get(ENV_PREFIX + name.upper(), "").strip()
        if override:
            values[name] = override
        if name not in values:
            raise ValueError(f"{path}: no threshold for {name}")
    return Thresholds(
        fallback_rate=float(values["fallback_rate"]), psi=float(values["psi"]),
        p95_latency_s=float(values["p95_latency_s"]), zero_result_rate=float(values["zero_result_rate"]),
        min_messages=int(values["min_messages"]),
    )


@dataclass(frozen=True)
class Alert:
    metric: str
    value: float
    threshold: float

    @property
    def message(self) -> str:
        return f"{LABELS[self.metric]} is {self.value:.3g}, above the threshold {self.threshold:.3g}"

    def to_json(self) -> Dict[str, Any]:
        return {"metric": self.metric, "value": round(self.value, 4), "threshold": self.threshold,
                "message": self.message}


def check(summary: Mapping[str, Any], thresholds: Thresholds) -> List[Alert]:
    """The figures of a dashboard summary above their thresholds (none on too few messages)."""
    if int(summary.get("messages") or 0) < thresholds.min_messages:
        return []
    figures = {
        "fallback_rate": summary.get("fallback_rate"),
        "psi": summary.get("psi_latest")
        if int(summary.get("psi_latest_messages") or 0) >= thresholds.min_messages else None,
        "p95_latency_s": (summary.get("latency_s") or {}).get("p95"),
        "zero_result_rate": summary.get("zero_result_rate"),
    }
    return [
        Alert(name, float(value), float(getattr(thresholds, name)))
        for name, value in figures.items()
        if value is not None and float(value) > float(getattr(thresholds, name))
    ]


class AlertLog:
    """Logs each breach once when it starts and once when it clears (thread-safe)."""

    def __init__(self) -> None:
        self._active: Dict[str, Alert] = {}
        self._lock = threading.Lock()

    def update(self, alerts: List[Alert]) -> List[Alert]:
        """Record the current breaches; returns those that just started (each logged once)."""
        with self._lock:
            current = {alert.metric: alert for alert in alerts}
            started = [alert for name, alert in current.items() if name not in self._active]
            for alert in started:
                logger.warning("ops.alert breach metric=%s value=%.4f threshold=%.4f",
                               alert.metric, alert.value, alert.threshold)
            for name in set(self._active) - set(current):
                logger.info("ops.alert cleared metric=%s", name)
            self._active = current
            return started


ALERT_LOG = AlertLog()  # the console process's: one line per breach however many dashboards poll


def check_database(engine: Any, days: int, thresholds: Thresholds) -> List[Alert]:
    """The alerts of the last `days` days of a learning database (the dashboard's own figures)."""
    from ops import dashboard
    from ops.monitor_baseline import (
        DEFAULT_DATA,
        current_baseline_path,
        load_baseline,
        training_intent_counts,
    )

    found = load_baseline(current_baseline_path(engine)) or {}
    training = found.get("training_intents") or training_intent_counts(DEFAULT_DATA)
    figures = dashboard.build(engine, days, training, found.get("heldout_confidences"))
    return check(figures["summary"], thresholds)


def main(argv: Optional[List[str]] = None) -> int:
    """`python -m ops.alerts [--every S]`: check the log's figures once (exit 1 on a breach) or every S s."""
    import argparse
    import time

    from learning.db import database_url, get_engine

    parser = argparse.ArgumentParser(prog="python -m ops.alerts", description=main.__doc__)
    parser.add_argument("--database-url", default=None, help="default: learning.db.database_url()")
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--every", type=float, default=0.0, help="seconds between checks; 0: check once")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    engine = get_engine(args.database_url or database_url())
    while True:
        breaches = check_database(engine, args.days, load_thresholds())
        ALERT_LOG.update(breaches)  # logged when they start (and clear)
        if args.every <= 0:
            for alert in breaches:
                print(alert.message)
            return 1 if breaches else 0
        time.sleep(args.every)


if __name__ == "__main__":
    raise SystemExit(main())
