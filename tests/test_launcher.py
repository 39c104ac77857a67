"""The launcher's pure parts: config shrinking, port choice, the API token, the command lines, and the
decision to train (a fake `rasa` stands in for training)."""

from __future__ import annotations

import socket
import stat
import sys
import types
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
import yaml

from bot import launcher
from bot.launcher import free_port
from bot.training_config import shrink_epochs


def test_shrink_epochs_changes_only_named_components() -> None:
    config = {
        "pipeline": [{"name": "WhitespaceTokenizer"}, {"name": "DIETClassifier", "epochs": 100}],
        "policies": [{"name": "TEDPolicy", "epochs": 40}, {"name": "RulePolicy"}],
    }
    shrunk = shrink_epochs(config, {"DIETClassifier": 5, "TEDPolicy": 3})
    assert shrunk["pipeline"] == [{"name": "WhitespaceTokenizer"}, {"name": "DIETClassifier", "epochs": 5}]
    assert shrunk["policies"] == [{"name": "TEDPolicy", "epochs": 3}, {"name": "RulePolicy"}]
    assert config["pipeline"][1]["epochs"] == 100, "the original config must not be modified"


def test_a_component_given_by_module_path_is_named_by_its_class_too() -> None:
    config = {"policies": [{"name": "bot.policies.FastLoadingTEDPolicy", "epochs": 40}]}
    assert shrink_epochs(config, {"FastLoadingTEDPolicy": 3})["policies"][0]["epochs"] == 3
    assert shrink_epochs(config, {"bot.policies.FastLoadingTEDPolicy": 4})["policies"][0]["epochs"] == 4
    assert shrink_epochs(config, {"TEDPolicy": 5})["policies"][0]["epochs"] == 40, "another class's name"


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


# --- issue 15: the API token, CORS, the command lines, and training only when something changed ---

def test_the_api_token_is_made_once_readable_by_its_owner_only_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "var" / "rasa_api_token"
    token = launcher.api_token(path, environ={})
    assert len(token) >= 40 and path.read_text().strip() == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert launcher.api_token(path, environ={}) == token, "a second start reuses the token"
    path.chmod(0o644)
    assert launcher.api_token(path, environ={}) == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, "a loosened file is made private again"
    assert launcher.api_token(path, environ={launcher.TOKEN_ENV: "from-env"}) == "from-env"
    assert launcher.api_token(tmp_path / "other", environ={}) != token, "tokens are random"


def test_cors_origins_default_to_none() -> None:
    assert launcher.cors_origins({}) == []
    given = {launcher.CORS_ENV: " https://shop.example/, https://www.shop.example "}
    assert launcher.cors_origins(given) == ["https://shop.example", "https://www.shop.example"]


def test_the_rasa_command_line_has_no_wildcard_cors_and_no_token(tmp_path: Path) -> None:
    bot = launcher.BotProcesses(model=tmp_path / "m.tar.gz", log_dir=tmp_path, database_url="sqlite://")
    command = bot.rasa_command(tmp_path / "endpoints.yml")
    assert "--enable-api" in command and "*" not in command and "--cors" not in command
    assert not any(bot.api_token in part for part in command)
    assert command[1:4] == ["-m", "bot.launcher", launcher.RASA_WITH_TOKEN]
    shop = launcher.BotProcesses(model=tmp_path / "m.tar.gz", log_dir=tmp_path, database_url="sqlite://",
                                 cors_origins=["https://shop.example"])
    assert shop.rasa_command(tmp_path / "e.yml")[-2:] == ["--cors", "https://shop.example"]
    # Inside that process the token is added to Rasa's own arguments (`=`: a token may start with '-').
    assert launcher.rasa_arguments(["run", "--cors", "https://a.example"], "-tok") == [
        "run", "--cors", "https://a.example", "--auth-token=-tok"]
    actions = bot.actions_command()
    assert actions[1:3] == ["-m", "actions.server"] and actions[actions.index("--host") + 1] == "127.0.0.1"


def test_rasa_runs_in_process_with_the_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: List[List[str]] = []
    fake = types.ModuleType("rasa.__main__")
    fake.main = lambda: seen.append(list(sys.argv))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "rasa.__main__", fake)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setenv(launcher.TOKEN_ENV, "s3cret")
    launcher.run_rasa_with_token(["run", "--enable-api"])
    assert seen == [["rasa", "run", "--enable-api", "--auth-token=s3cret"]]
    monkeypatch.delenv(launcher.TOKEN_ENV)
    with pytest.raises(SystemExit):
        launcher.run_rasa_with_token(["run"])


def test_the_endpoints_file_names_the_action_token_by_variable_only(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launcher.BotProcesses, "_spawn", lambda self, *args: None)
    monkeypatch.setattr(launcher.BotProcesses, "_wait_until", lambda self, *args: None)
    bot = launcher.BotProcesses(model=tmp_path / "m.tar.gz", log_dir=tmp_path, database_url="sqlite://",
                                shadow=False)
    bot.start()
    text = (tmp_path / "endpoints.yml").read_text()
    assert bot.action_token not in text
    endpoint = yaml.safe_load(text)["action_endpoint"]
    assert endpoint["headers"] == {launcher.ACTION_TOKEN_HEADER: "${" + launcher.ACTION_TOKEN_ENV + "}"}


FAKE_RASA = """
import sys, pathlib
args = sys.argv[1:]
out = pathlib.Path(args[args.index("--out") + 1])
count = pathlib.Path(sys.argv[0]).with_name("trainings")
n = int(count.read_text()) + 1 if count.exists() else 1
count.write_text(str(n))
(out / f"model-{n}.tar.gz").write_bytes(b"model %d" % n)
print("trained", n)
"""


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Dict[str, Path]:
    """A tiny project (config, domain, data/, nlu/) and a fake `rasa` that counts its trainings."""
    (tmp_path / "data" / "nlu").mkdir(parents=True)
    (tmp_path / "data" / "nlu" / "shoes.yml").write_text("nlu: []\n")
    (tmp_path / "nlu" / "tools").mkdir(parents=True)
    (tmp_path / "nlu" / "component.py").write_text("X = 1\n")
    (tmp_path / "nlu" / "tools" / "evaluate.py").write_text("Y = 1\n")
    (tmp_path / "config.yml").write_text("pipeline: []\n")
    (tmp_path / "domain.yml").write_text("intents: []\n")
    rasa = tmp_path / "bin" / "rasa"
    rasa.parent.mkdir()
    rasa.write_text(f"#!{sys.executable}\n{FAKE_RASA}")
    rasa.chmod(0o755)
    monkeypatch.setattr(launcher, "venv_bin", lambda name: str(rasa))
    monkeypatch.setattr(launcher, "NLU_PACKAGE", tmp_path / "nlu")
    return {"root": tmp_path, "config": tmp_path / "config.yml", "domain": tmp_path / "domain.yml",
            "data": tmp_path / "data", "models": tmp_path / "models", "counter": rasa.with_name("trainings")}


def _train(project: Dict[str, Path]) -> Tuple[Path, int]:
    archive = launcher.train_model(project["models"], config=project["config"], domain=project["domain"],
                                   data=project["data"], log_path=project["root"] / "train.log",
                                   reuse_unchanged=True)
    return archive, int(project["counter"].read_text())


def test_a_second_start_with_nothing_changed_does_not_train(project: Dict[str, Path]) -> None:
    first, trainings = _train(project)
    assert trainings == 1 and first.name == "model-1.tar.gz"
    assert (first.parent / (first.name + launcher.FINGERPRINT_SUFFIX)).is_file()
    assert _train(project) == (first, 1), "unchanged: the same archive, no training"
    (project["root"] / "nlu" / "tools" / "evaluate.py").write_text("Y = 2\n")
    assert _train(project) == (first, 1), "nlu/tools/ is not part of the model"


@pytest.mark.parametrize("change", ["data", "new data file", "config", "domain", "nlu"])
def test_a_change_to_what_the_model_is_trained_from_trains(project: Dict[str, Path], change: str) -> None:
    first, _ = _train(project)
    changed = {
        "data": lambda: (project["data"] / "nlu" / "shoes.yml").write_text("nlu: [x]\n"),
        "new data file": lambda: (project["data"] / "rules.yml").write_text("rules: []\n"),
        "config": lambda: project["config"].write_text("pipeline: [a]\n"),
        "domain": lambda: project["domain"].write_text("intents: [greet]\n"),
        "nlu": lambda: (project["root"] / "nlu" / "component.py").write_text("X = 2\n"),
    }
    changed[change]()
    second, trainings = _train(project)
    assert trainings == 2 and second != first
    assert _train(project) == (second, 2), "and the next start reuses the new model"


def test_going_back_to_earlier_files_reuses_their_model_and_other_callers_always_train(
        project: Dict[str, Path]) -> None:
    first, _ = _train(project)
    project["config"].write_text("pipeline: [a]\n")
    _train(project)
    project["config"].write_text("pipeline: []\n")
    assert _train(project) == (first, 2)
    forced = launcher.train_model(project["models"], config=project["config"], domain=project["domain"],
                                  data=project["data"], log_path=project["root"] / "train.log")
    assert forced.name == "model-3.tar.gz", "a retrain's candidate is always trained"


def test_rasa_children_run_without_telemetry_unless_the_environment_says_otherwise(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RASA_TELEMETRY_ENABLED", raising=False)
    assert launcher.child_env()["RASA_TELEMETRY_ENABLED"] == "false"
    monkeypatch.setenv("RASA_TELEMETRY_ENABLED", "true")
    assert launcher.child_env()["RASA_TELEMETRY_ENABLED"] == "true"


def test_the_shadow_worker_follows_the_registry_without_a_restart(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from learning import registry
    from learning.db import get_engine, reset_engines

    class Running:
        def poll(self) -> None:
            return None

    spawned: List[List[str]] = []
    stopped: List[object] = []

    def spawn(self: launcher.BotProcesses, command: List[str], *args: object, **kwargs: object) -> Running:
        spawned.append(command)
        self._processes.append(Running())
        return self._processes[-1]

    monkeypatch.setattr(launcher.BotProcesses, "_spawn", spawn)
    monkeypatch.setattr(launcher, "_stop_processes", lambda processes, grace: stopped.extend(processes))
    reset_engines()
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    engine = get_engine(url)
    archive = tmp_path / "candidate.tar.gz"
    archive.write_bytes(b"a model")
    candidate = registry.register(engine, archive, "hash")
    bot = launcher.BotProcesses(model=tmp_path / "m.tar.gz", log_dir=tmp_path, database_url=url)

    bot.follow_shadow()
    assert spawned == []  # no shadow in the registry: no worker
    registry.set_shadow(engine, candidate.id)  # as the console's Models page does, while the bot runs
    bot.follow_shadow()
    bot.follow_shadow()
    assert len(spawned) == 1 and spawned[0][-3:] == ["ops.shadow", "--poll", "1.0"]
    registry.set_shadow(engine, None)
    bot.follow_shadow()
    assert len(stopped) == 1 and bot._processes == []  # a stopped worker is not a crashed server
    assert "shadow worker started" in capsys.readouterr().out

    fixed = launcher.BotProcesses(model=tmp_path / "m.tar.gz", log_dir=tmp_path, database_url=url,
                                  shadow=False)
    registry.set_shadow(engine, candidate.id)
    fixed.follow_shadow()
    assert len(spawned) == 1  # shadow=False keeps it off
    reset_engines()
