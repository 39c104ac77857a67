"""Session fixtures: one Rasa model trained per test session (quickly), and the running bot.

The model is the real config, domain, stories and rules, trained with few epochs on a small stratified
sample of the NLU data (`nlu.tools.sample_data`: every intent, entity type and attribute value kept, a
fixed size whatever `data/` grows to), so end-to-end tests exercise the production pipeline while the
training stays within about three minutes on two busy cores.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Iterator

import pytest
import yaml

from bot.launcher import DEFAULT_CONFIG, DEFAULT_DATA, BotProcesses, train_model
from bot.training_config import override_settings
from nlu.tools.sample_data import write_sample

# Epochs for the end-to-end model, by component name. Override with SHOPCUE_TEST_EPOCHS="Name=3,Other=5".
TEST_EPOCHS = {
    "nlu.component.JointShoppingNLU": 4,
    "FastLoadingTEDPolicy": 12,
}
# Few examples and epochs mean few steps: smaller batches and a higher encoder rate make up for them (3
# epochs of batch 16 at the shipped rate left "yes" below the fallback threshold; a 3x head rate made
# nonsense like "whats good" confident, so nothing fell back). One training thread: on 2 busy cores two
# spin-wait on each other (see training_threads in nlu/component.py). No calibration slice: in a sample this
# small it would hold out a wording the tests send ("red trainers" was read as one product then);
# tests/test_calibration.py trains its own components to test calibration.
TEST_SETTINGS = {
    "nlu.component.JointShoppingNLU": {
        "batch_size": 8, "learning_rate": 3.0e-4, "training_threads": 1, "calibration_fraction": 0,
    },
}
# Wordings the end-to-end tests send that the sample must hold a few examples of ("do you sell kayaks";
# "red trainers for my son" must read as a colour and a product type, "no, for a girl" as a kid).
TEST_WORDINGS = ("do you sell", "do you have", "show me", "no for a", "for a girl", "tell me about the",
                 "red trainers")
# data/imported/ (converted third-party data, git-ignored) exists on some machines only: left out, so the
# test model is the same on every machine.
EXCLUDED_DATA = ("imported",)

# A hung or pathologically slow training fails the session with the log's tail instead of running on.
TRAIN_TIMEOUT_S = float(os.environ.get("SHOPCUE_TEST_TRAIN_TIMEOUT", "900"))


def _test_settings() -> dict:
    epochs = dict(TEST_EPOCHS)
    for item in filter(None, os.environ.get("SHOPCUE_TEST_EPOCHS", "").split(",")):
        name, _, value = item.partition("=")
        epochs[name.strip()] = int(value)
    settings = {name: dict(values) for name, values in TEST_SETTINGS.items()}
    for name, value in epochs.items():
        settings.setdefault(name, {})["epochs"] = value
    return settings


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding `model.tar.gz`, trained from the project's files, the NLU data sampled.

    Set SHOPCUE_TEST_MODEL to an existing archive to reuse it (for quick local iterations).
    """
    reuse = os.environ.get("SHOPCUE_TEST_MODEL")
    if reuse:
        return Path(reuse).parent
    work = tmp_path_factory.mktemp("model")
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    test_config = work / "config.test.yml"
    test_config.write_text(yaml.safe_dump(override_settings(config, _test_settings()), sort_keys=False))
    write_sample(DEFAULT_DATA, work / "data", keep_phrases=TEST_WORDINGS, exclude=EXCLUDED_DATA)
    log = work / "train.log"
    archive = train_model(work / "out", config=test_config, data=work / "data", fixed_model_name="model",
                          log_path=log, timeout=TRAIN_TIMEOUT_S)
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
