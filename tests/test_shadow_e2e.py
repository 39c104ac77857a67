"""A shadow model against live traffic, end to end: a scripted shopper talks to the running bot over REST
(the live model parses and the conversation log stores each message), a tiny model (1 epoch on ~60
examples, trained here) becomes the registry's shadow, and the shadow worker the launcher starts
(`python -m ops.shadow`) parses the log. Its disagreements must be in the database, as "shadow"
suggestions with evidence, and ranked by the review queue's suggestion bonus."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Dict, List

import pytest
import yaml
from sqlalchemy import select

from bot.launcher import DEFAULT_CONFIG, PROJECT_ROOT, BotProcesses, child_env, venv_bin
from bot.training_config import shrink_epochs
from learning import registry
from learning.db import get_engine, messages, shadow_parses, suggestions
from learning.review import SUGGESTION_BONUS, QueueFilter, queue
from tests.test_retrain import TINY_INTENTS, _tiny_yaml

pytestmark = pytest.mark.e2e

SENDER = "shadow-shopper"
# Distinctive texts, so their review groups are this test's own in a shared session database.
SCRIPT = ["hello from the shadow test", "red running shoes for my shadow test son",
          "a wool scarf for my mum, shadow test", "cheap headphones for the shadow test",
          "thanks, shadow test", "brown leather boots for the shadow test", "a yoga mat for the shadow test",
          "bye from the shadow test"]
TRAIN_TIMEOUT_S = 900


@pytest.fixture(scope="module")
def tiny_shadow_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An NLU-only model trained for 1 epoch on ~60 examples: cheap, and surely not the live model."""
    work = tmp_path_factory.mktemp("shadow-model")
    data = work / "data"
    training = sorted((PROJECT_ROOT / "data" / "nlu").glob("*.yml"))
    assert _tiny_yaml(data / "nlu.yml", TINY_INTENTS, training) == sum(TINY_INTENTS.values())
    config = work / "config.yml"
    shrunk = shrink_epochs(yaml.safe_load(DEFAULT_CONFIG.read_text()), {"nlu.component.JointShoppingNLU": 1})
    config.write_text(yaml.safe_dump(shrunk, sort_keys=False))
    log = work / "train.log"
    with log.open("w") as out:
        result = subprocess.run(
            [venv_bin("rasa"), "train", "nlu", "--config", str(config), "--nlu", str(data),
             "--out", str(work / "out"), "--fixed-model-name", "shadow"],
            cwd=PROJECT_ROOT, env=child_env(), stdout=out, stderr=subprocess.STDOUT, timeout=TRAIN_TIMEOUT_S,
        )
    assert result.returncode == 0, log.read_text()[-3000:]
    return next((work / "out").glob("shadow*.tar.gz"))


def test_shadow_disagreements_reach_the_database_and_the_queue(bot: BotProcesses, tiny_shadow_model: Path
                                                               ) -> None:
    engine = get_engine(bot.database_url)
    for text in SCRIPT:
        assert bot.send(SENDER, text), text
    ours = _wait_for_rows(engine, len(SCRIPT))
    shadow = registry.register(engine, tiny_shadow_model, "tiny", note="shadow e2e")
    registry.set_shadow(engine, shadow.id)

    bot.start_shadow(poll_s=0.3)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                parsed = {r.message_id: r for r in conn.execute(
                    select(shadow_parses).where(shadow_parses.c.model_id == shadow.id,
                                                shadow_parses.c.message_id.in_(list(ours))))}
            if len(parsed) == len(ours):
                break
            time.sleep(1)
    finally:
        bot.stop_shadow()
    assert len(parsed) == len(ours), (len(parsed), bot.shadow_log.read_text()[-2000:])

    disagreeing = {mid for mid, row in parsed.items() if not row.agrees}
    assert disagreeing, "a 1-epoch model on 60 examples must read some messages otherwise"
    with engine.connect() as conn:
        evidence = {r.message_id: r.evidence for r in conn.execute(
            select(suggestions).where(suggestions.c.kind == "shadow",
                                      suggestions.c.message_id.in_(list(ours))))}
    assert set(evidence) == disagreeing
    for mid in disagreeing:
        assert evidence[mid].startswith(f"shadow model {shadow.id} reads this as "), evidence[mid]
        assert parsed[mid].differences  # what differs, stored with the parse

    # The queue ranks by doubt plus the suggestion bonus: each disagreement comes before every message of
    # ours with no suggestion that is less doubted than the disagreement's doubt plus the bonus.
    items = [item for item in queue(engine, QueueFilter(channel="rest"), limit=10_000).items
             if item.message_id in ours]
    position = {item.message_id: index for index, item in enumerate(items)}
    for item in items:
        kinds = {s["kind"] for s in item.suggestions}
        if item.message_id in disagreeing:
            assert "shadow" in kinds
            for other in items:
                if not other.suggestions and other.doubt < item.doubt + SUGGESTION_BONUS:
                    assert position[item.message_id] < position[other.message_id], (item.text, other.text)
    top = items[0]
    assert top.message_id in disagreeing or top.suggestions, top
    agreement = registry.get_model(engine, shadow.id)
    assert agreement.status == "shadow"
    print(f"\nshadow {shadow.id}: {len(disagreeing)} of {len(ours)} scripted messages read otherwise; "
          f"queue head {top.text!r}; e.g. {evidence[min(disagreeing)]!r}")


def _wait_for_rows(engine, count: int) -> Dict[int, str]:
    """The scripted messages' log rows once the broker stored them (it writes off the request path)."""
    deadline = time.monotonic() + 60
    rows: List = []
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            rows = conn.execute(select(messages.c.id, messages.c.text)
                                .where(messages.c.sender_id == SENDER)).all()
        if len(rows) >= count:
            return {r.id: r.text for r in rows}
        time.sleep(0.3)
    raise AssertionError(f"only {len(rows)} of {count} messages were logged")
