"""Promote and roll back with no downtime: a scripted shopper keeps chatting over REST in a thread while
`python -m learning.registry promote` and `rollback` switch the running Rasa server's model
(ops/serving.py). No message may fail or go unanswered, /status must show the model file switching, the
shopper's conversation must keep its tracker across both switches, and the log rows must name the model
that answered each message."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

import pytest
from sqlalchemy import select

from bot.launcher import PROJECT_ROOT, BotProcesses, child_env
from learning import registry
from learning.db import get_engine, messages
from ops import ab
from ops.serving_client import serve_candidate

pytestmark = pytest.mark.e2e

SCRIPT = ["hi", "show me running shoes", "in blue please", "something cheaper", "thanks",
          "I need a gift for my mum", "a wool scarf", "bye"]
SENDER = "switch-shopper"
# A shopper reads each reply before typing again; it also keeps one conversation under the channels' rate
# limit (bot/channels/guard.py: 20 messages per 10 s), which a reply-as-soon-as-answered loop exceeds.
THINK_S = 0.6


@dataclass
class Shopper:
    """Sends the script round and round until stopped; every turn's time, replies and error are kept."""

    bot: BotProcesses
    turns: List[Tuple[float, float, str, int, Optional[str]]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        index = 0
        while not self.stop.is_set():
            text = SCRIPT[index % len(SCRIPT)]
            started = time.monotonic()
            error, replies = None, 0
            try:
                replies = len(self.bot.send(SENDER, text, timeout=180))
            except Exception as failure:  # recorded: the test fails on any
                error = f"{type(failure).__name__}: {failure}"
            self.turns.append((started, time.monotonic(), text, replies, error))
            index += 1
            self.stop.wait(THINK_S)

    def turns_between(self, start: float, end: float) -> int:
        return sum(1 for began, ended, *_ in self.turns if began >= start and ended <= end)


def repacked(archive: Path, out: Path) -> Path:
    """The same model in another archive (recompressed: other bytes, so another registry id)."""
    with gzip.open(archive, "rb") as source, out.open("wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as target:
        shutil.copyfileobj(source, target, 1 << 20)
    return out


def registry_cli(bot: BotProcesses, *args: str) -> str:
    serve_dir = bot.log_dir / "served"  # never the developer's models/
    result = subprocess.run(
        [sys.executable, "-m", "learning.registry", *args, "--user", "e2e", "--rasa-url", bot.rasa_url,
         "--serve-dir", str(serve_dir)],
        cwd=PROJECT_ROOT, env=child_env({"SHOPCUE_DATABASE_URL": bot.database_url}, bot.token_env),
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def model_file(bot: BotProcesses) -> str:
    return bot.api("GET", "/status", timeout=30)["model_file"]


def tracker_events(bot: BotProcesses) -> int:
    return len(bot.api("GET", f"/conversations/{SENDER}/tracker", timeout=30)["events"])


@pytest.fixture(scope="module")
def other_archive(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return repacked(trained_model, tmp_path_factory.mktemp("switch") / "other.tar.gz")


def test_promote_and_rollback_switch_the_model_while_a_shopper_chats(bot: BotProcesses, trained_model: Path,
                                                                    other_archive: Path) -> None:
    engine = get_engine(bot.database_url)
    original = registry.register(engine, trained_model, "e2e", note="the session's model")
    registry.promote(engine, original.id, "e2e", serve_dir=None)
    other = registry.register(engine, other_archive, "e2e")
    assert other.id != original.id
    first_file = model_file(bot)
    assert first_file == trained_model.name

    shopper = Shopper(bot)
    thread = threading.Thread(target=shopper.run, name="scripted-shopper", daemon=True)
    thread.start()
    try:
        while len(shopper.turns) < 3:
            time.sleep(0.2)
        events_before = tracker_events(bot)
        switch_started = time.monotonic()
        out = registry_cli(bot, "promote", other.id)
        switch_ended = time.monotonic()
        assert f"promote: {other.id} is live" in out and '"id": "' + other.id in out
        assert model_file(bot) == "other.tar.gz"
        assert registry.live_model(engine).id == other.id
        during_promote = shopper.turns_between(switch_started, switch_ended)
        seen = len(shopper.turns)
        while len(shopper.turns) < seen + 3:  # the new model answers the same conversation
            time.sleep(0.2)
        events_after = tracker_events(bot)
        assert events_after > events_before  # the tracker carried on: nothing was forgotten at the switch

        rollback_started = time.monotonic()
        out = registry_cli(bot, "rollback")
        rollback_ended = time.monotonic()
        assert f"rollback: {original.id} is live" in out
        assert model_file(bot) == first_file
        during_rollback = shopper.turns_between(rollback_started, rollback_ended)
        seen = len(shopper.turns)
        while len(shopper.turns) < seen + 3:
            time.sleep(0.2)
        assert tracker_events(bot) > events_after
    finally:
        shopper.stop.set()
        thread.join(timeout=200)

    failed = [turn for turn in shopper.turns if turn[4] is not None or turn[3] == 0]
    assert not failed, failed
    # the old model kept answering while the new one loaded (a blocking load would allow none)
    assert during_promote >= 1 and during_rollback >= 1, (during_promote, during_rollback)
    slowest = max(ended - began for began, ended, *_ in shopper.turns)
    print(f"\n{len(shopper.turns)} turns, none failed; {during_promote} answered during the promote "
          f"({switch_ended - switch_started:.1f} s), {during_rollback} during the rollback "
          f"({rollback_ended - rollback_started:.1f} s); slowest turn {slowest:.2f} s")

    # every logged row names the model that parsed it: both archives answered this shopper
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            ids = [r.model_id for r in conn.execute(
                select(messages.c.model_id).where(messages.c.sender_id == SENDER).order_by(messages.c.id))]
        if len(ids) >= len(shopper.turns):
            break
        time.sleep(0.5)
    assert {original.id, other.id} <= set(ids), ids
    first_other = ids.index(other.id)
    assert ids[0] == original.id and original.id in ids[first_other:]  # then back after the rollback


def test_an_ab_candidate_answers_its_share_of_shoppers(bot: BotProcesses, trained_model: Path,
                                                      other_archive: Path) -> None:
    """Arm-B shoppers talk to the candidate loaded beside the live agent (same tracker store: their
    conversations keep their state), every row names its arm's model, and the comparison counts them."""
    engine = get_engine(bot.database_url)
    live = registry.register(engine, trained_model, "e2e")
    candidate = registry.register(engine, other_archive, "e2e")
    view = serve_candidate(candidate.id, 0.5, url=bot.rasa_url, token=bot.api_token)
    assert view["candidate"]["id"] == candidate.id and view["share"] == 0.5
    assert view["live"]["id"] == live.id and view["live"]["model_file"] == trained_model.name
    senders = [f"ab-shopper-{n}" for n in range(40)]
    by_arm = {arm: [s for s in senders if ab.arm_of(s, 0.5) == arm][:3]
              for arm in (ab.ARM_LIVE, ab.ARM_CANDIDATE)}
    try:
        for sender in by_arm[ab.ARM_LIVE] + by_arm[ab.ARM_CANDIDATE]:
            for text in ("show me running shoes", "in blue please", "thanks"):
                assert bot.send(sender, text, timeout=120), (sender, text)
    finally:
        stopped = serve_candidate(None, url=bot.rasa_url, token=bot.api_token)
    assert stopped["candidate"] is None and stopped["share"] == 0.0
    wanted = {s: (candidate.id if arm == ab.ARM_CANDIDATE else live.id) for arm, group in by_arm.items()
              for s in group}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            rows = conn.execute(select(messages.c.sender_id, messages.c.model_id)
                                .where(messages.c.sender_id.in_(list(wanted)))).all()
        if len(rows) >= 3 * len(wanted):
            break
        time.sleep(0.5)
    assert sorted((r.sender_id, r.model_id) for r in rows) == sorted(
        (s, model) for s, model in wanted.items() for _ in range(3))
    for sender in by_arm[ab.ARM_CANDIDATE]:  # the candidate kept the conversation: three user turns
        events = bot.api("GET", f"/conversations/{sender}/tracker", timeout=30)["events"]
        assert sum(1 for e in events if e["event"] == "user") == 3
    report = ab.arm_comparison(engine, live.id, candidate.id)
    assert report["shoppers"]["B"] == 3 and report["shoppers"]["A"] >= 3
    assert {row["outcome"] for row in report["outcomes"]} == set(ab.OUTCOMES)
