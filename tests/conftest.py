"""Session fixtures: one Rasa model trained per test session (epochs shrunk), and the running bot.

Training the real config with fewer epochs keeps end-to-end tests honest (the same pipeline, data and
domain as `make run`) while `make test` stays within minutes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Iterator

import pytest
import yaml

from bot.launcher import DEFAULT_CONFIG, BotProcesses, train_model
from bot.training_config import shrink_epochs

# Epochs for the end-to-end model, by component name. Override with SHOPCUE_TEST_EPOCHS="Name=3,Other=5".
TEST_EPOCHS = {
    "nlu.component.JointShoppingNLU": 4,
    "FastLoadingTEDPolicy": 20,
}


# A hung or pathologically slow training fails the session with the log's tail instead of running on.
TRAIN_TIMEOUT_S = float(os.environ.get("SHOPCUE_TEST_TRAIN_TIMEOUT", "2400"))


def _test_epochs() -> dict:
    epochs = dict(TEST_EPOCHS)
    for item in filter(None, os.environ.get("SHOPCUE_TEST_EPOCHS", "").split(",")):
        name, _, value = item.partition("=")
        epochs[name.strip()] = int(value)
    return epochs


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding `model.tar.gz`, trained from the project's files with shrunk epochs.

    Set SHOPCUE_TEST_MODEL to an existing archive to reuse it (for quick local iterations).
    """
    reuse = os.environ.get("SHOPCUE_TEST_MODEL")
    if reuse:
        return Path(reuse).parent
    work = tmp_path_factory.mktemp("model")
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    test_config = work / "config.test.yml"
    test_config.write_text(yaml.safe_dump(shrink_epochs(config, _test_epochs()), sort_keys=False))
    log = work / "train.log"
    archive = train_model(
        work / "out", config=test_config, fixed_model_name="model", log_path=log, timeout=TRAIN_TIMEOUT_S
    )
    return archive.parent


@pytest.fixture(scope="session")
def trained_model(trained_model_dir: Path) -> Path:
    """The model archive itself."""
    reuse = os.environ.get("SHOPCUE_TEST_MODEL")
    return Path(reuse) if reuse else trained_model_dir / "model.tar.gz"


@pytest.fixture(scope="session")
def bot(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcesses]:
    """The Rasa server and action server on free localhost ports, stopped at the end even on failure."""
    work = tmp_path_factory.mktemp("bot")
    processes = BotProcesses(
        model=trained_model,
        log_dir=work / "logs",
        env={"SHOPCUE_CATALOG_DB": str(work / "catalog.db")},
        # The conversation log for learning goes to the session's own database, never the developer's.
        database_url=f"sqlite:///{work / 'learning.db'}",
        # A shop's page on another local port embeds the widget (test_webchat_browser.py): the test bot
        # allows local origins, as a shop sets SHOPCUE_CORS_ORIGINS for its site (make run allows none).
        cors_origins=[r"http://127\.0\.0\.1:\d+$"],
    )
    processes.start()
    try:
        yield processes
    finally:
        processes.stop()


@pytest.fixture(scope="module")
def crashable_bot(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcesses]:
    """A bot of the module's own, with the default stores (conversations in SQLite beside its logs), for
    tests that kill or stop its servers (the shared `bot` must stay up for the others)."""
    work = tmp_path_factory.mktemp("crashable")
    bot = BotProcesses(model=trained_model, log_dir=work / "logs", database_url=f"sqlite:///{work / 'l.db'}",
                       env={"SHOPCUE_CATALOG_DB": str(work / "catalog.db")}, shadow=False)
    bot.start()
    try:
        yield bot
    finally:
        bot.stop()


@pytest.fixture(scope="module")
def voice_env() -> Dict[str, str]:
    """SHOPCUE_VOICE_* settings for the `voice` fixture's service; a test module overrides this fixture
    (e.g. to point the Twilio REST API at a local fake)."""
    return {}


@pytest.fixture(scope="module")
def voice(bot: BotProcesses, voice_env: Dict[str, str]) -> Iterator[BotProcesses]:
    """The running bot plus the phone channel's voice service (`bot.voice_url`), with `voice_env`."""
    bot.start_voice(env=voice_env)
    try:
        yield bot
    finally:
        bot.stop_voice()
