"""The launcher's pure parts: config shrinking and port choice."""

from __future__ import annotations

import socket

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


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
