"""The monitoring dashboard's figures over the conversation log (learning_messages), as one JSON object.

Each logged message becomes a `MessageStat` (when, channel, intent, confidence, fallback, handoff,
search, turn latency); the series and summaries are pure functions of those, so they are unit-tested on
hand-made rows. Turn latency is the first reply's time (`ts`, learning/broker.py) minus the message's;
rows logged before replies carried `ts` have none and are left out of the latency figures.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Dict, List, Mapping, Optional, Sequence

from sqlalchemy import select
from sqlalchemy.engine import Engine

from common.stats import percentile
from learning.db import messages
from learning.gaps import gap_report
from learning.reactions import FALLBACK_ACTIONS, FALLBACK_INTENT, SEARCH_ACTION
from ops import drift
from ops.monitor_events import HANDOFF_ACTIONS, HANDOFF_PAYLOAD

HANDOFF_INTENT = "human_handoff"
MAX_DAYS = 90
MAX_LATENCY_S = 600.0  # a reply this late belongs to another turn (a restart, a clock step): not a latency
FALLBACK_THRESHOLD = 0.4  # config.yml's FallbackClassifier threshold: the share of live traffic under it


@dataclass(frozen=True)
class MessageStat:
    """What the dashboard needs of one logged message."""

    created_at: datetime
    channel: str
    intent: str
    confidence: float
    fallback: bool
    handoff: bool
    search: bool
    latency_s: Optional[float]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def message_stat(row: Mapping[str, Any]) -> MessageStat:
    """A `learning_messages` row (created_at, channel, intent, intent_confidence, replies) as a stat."""
    created = _utc(row["created_at"])
    replies = [r for r in row.get("replies") or () if isinstance(r, Mapping)]
    actions = {str(r.get("action") or "") for r in replies}
    latency = None
    times = [float(r["ts"]) for r in replies if isinstance(r.get("ts"), (int, float))]
    if times:
        seconds = min(times) - created.timestamp()
        latency = seconds if 0 <= seconds <= MAX_LATENCY_S else None
    intent = str(row.get("intent") or "")
    return MessageStat(
        created_at=created,
        channel=str(row.get("channel") or ""),
        intent=intent,
        confidence=float(row.get("intent_confidence") or 0.0),
        fallback=intent == FALLBACK_INTENT or bool(actions & FALLBACK_ACTIONS),
        handoff=intent == HANDOFF_INTENT or bool(actions & HANDOFF_ACTIONS)
        or any(r.get("custom_type") == HANDOFF_PAYLOAD for r in replies),
        search=SEARCH_ACTION in actions,
        latency_s=latency,
    )


def load_stats(engine: Engine, since: datetime) -> List[MessageStat]:
    """The stats of every message logged since `since`, oldest first."""
    columns = [messages.c.created_at, messages.c.channel, messages.c.intent, messages.c.intent_confidence,
               messages.c.replies]
    query = select(*columns).where(messages.c.created_at >= since).order_by(messages.c.created_at)
    with engine.connect() as connection:
        return [message_stat(row._mapping) for row in connection.execute(query)]


def bucket_hours(days: int) -> int:
    """Hourly buckets up to two days, daily beyond."""
    return 1 if days <= 2 else 24


def bucket_of(moment: datetime, hours: int) -> datetime:
    moment = _utc(moment).replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if hours >= 24 else moment


def rate(part: int, whole: int) -> Optional[float]:
    return part / whole if whole else None


def latency_summary(values: Sequence[float]) -> Dict[str, Any]:
    return {"count": len(values), "p50": round(percentile(values, 50), 4) if values else None,
            "p95": round(percentile(values, 95), 4) if values else None,
            "p99": round(percentile(values, 99), 4) if values else None}


def time_series(stats: Sequence[MessageStat], since: datetime, until: datetime, hours: int
                ) -> Dict[str, List[Any]]:
    """Per bucket from `since` to `until`: messages, fallback rate, p50 and p95 turn latency."""
    groups: Dict[datetime, List[MessageStat]] = defaultdict(list)
    for stat in stats:
        groups[bucket_of(stat.created_at, hours)].append(stat)
    series: Dict[str, List[Any]] = {"t": [], "messages": [], "fallback_rate": [], "p50_s": [], "p95_s": []}
    step, moment = timedelta(hours=hours), bucket_of(since, hours)
    while moment <= until:
        group = groups.get(moment, [])
        latencies = [s.latency_s for s in group if s.latency_s is not None]
        series["t"].append(int(moment.timestamp()))
        series["messages"].append(len(group))
        series["fallback_rate"].append(rate(sum(s.fallback for s in group), len(group)))
        series["p50_s"].append(percentile(latencies, 50) if latencies else None)
        series["p95_s"].append(percentile(latencies, 95) if latencies else None)
        moment += step
    return series


def daily_psi(stats: Sequence[MessageStat], training: Mapping[str, float]) -> List[Dict[str, Any]]:
    """The intent mix of each day against the training data's: PSI, its reading, the day's messages."""
    days: Dict[str, Counter] = defaultdict(Counter)
    for stat in stats:
        days[stat.created_at.date().isoformat()][stat.intent or "?"] += 1
    result = []
    for day in sorted(days):
        terms = drift.psi_terms(training, days[day])
        value = sum(terms.values())
        movers = sorted(terms.items(), key=lambda kv: -kv[1])[:3]
        result.append({"day": day, "messages": sum(days[day].values()), "psi": round(value, 4),
                       "level": drift.psi_level(value), "top_intents": days[day].most_common(3),
                       "movers": [(name, round(term, 4)) for name, term in movers]})
    return result


def confidence_figures(stats: Sequence[MessageStat], heldout: Optional[Sequence[float]]) -> Dict[str, Any]:
    """Live intent confidences against the held-out split's: both histograms (shares) and summaries."""
    live = [s.confidence for s in stats]
    edges = [i / drift.CONFIDENCE_BINS for i in range(drift.CONFIDENCE_BINS + 1)]
    figures: Dict[str, Any] = {
        "edges": edges,
        "live": drift.normalised(drift.confidence_histogram(live)),
        "live_summary": drift.confidence_summary(live, FALLBACK_THRESHOLD).to_json(),
        "heldout": None, "heldout_summary": None,
    }
    if heldout:
        figures["heldout"] = drift.normalised(drift.confidence_histogram(heldout))
        figures["heldout_summary"] = drift.confidence_summary(list(heldout), FALLBACK_THRESHOLD).to_json()
    return figures


def summary(stats: Sequence[MessageStat], zero_result_searches: int) -> Dict[str, Any]:
    """The window's headline figures (what the alerts are checked against)."""
    searches = sum(s.search for s in stats)
    latencies = [s.latency_s for s in stats if s.latency_s is not None]
    return {
        "messages": len(stats),
        "channels": dict(Counter(s.channel for s in stats).most_common()),
        "fallbacks": sum(s.fallback for s in stats),
        "fallback_rate": rate(sum(s.fallback for s in stats), len(stats)),
        "handoffs": sum(s.handoff for s in stats),
        "searches": searches,
        "zero_result_searches": zero_result_searches,
        "zero_result_rate": rate(min(zero_result_searches, searches), searches),
        "latency_s": latency_summary(latencies),
    }


def build(engine: Engine, days: int, training: Mapping[str, float], heldout: Optional[Sequence[float]],
          now: Optional[datetime] = None, top_words: int = 15) -> Dict[str, Any]:
    """Everything the dashboard page draws for the last `days` days (1..90)."""
    days = min(max(int(days), 1), MAX_DAYS)
    until = _utc(now or datetime.now(UTC))
    since = until - timedelta(days=days)
    stats = load_stats(engine, since)
    gaps = gap_report(engine, top=top_words, since=since)
    psi_days = daily_psi(stats, training)
    return {
        "days": days,
        "since": since.isoformat(timespec="seconds"),
        "until": until.isoformat(timespec="seconds"),
        "bucket_hours": bucket_hours(days),
        "summary": {**summary(stats, gaps.searches),
                    "psi_latest": psi_days[-1]["psi"] if psi_days else None,
                    "psi_latest_messages": psi_days[-1]["messages"] if psi_days else 0},
        "series": time_series(stats, since, until, bucket_hours(days)),
        "psi": psi_days,
        "confidence": confidence_figures(stats, heldout),
        "zero_result_words": gaps.words,
        "zero_result_phrases": gaps.phrases,
        "training_intents": dict(sorted(drift.shares(training).items(), key=lambda kv: -kv[1])),
    }
