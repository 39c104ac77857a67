"""The TED policy loaded for serving (bot/policies.py) predicts exactly what Rasa's own load predicts, from
the same trained model: the same network, the same weights, only built without a training step."""

from __future__ import annotations

from pathlib import Path
from typing import List

import numpy as np
import pytest
from rasa.core.policies.ted_policy import TEDPolicy
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.shared.core.events import ActionExecuted, Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.policies import FastLoadingTEDPolicy, ServingTED

pytestmark = pytest.mark.e2e  # needs the session's trained model

CONVERSATIONS = [
    [("greet", "hi")],
    [("search_product", "running shoes for men")],
    [("search_product", "running shoes for men"), ("refine_search", "under 100")],
    [("search_product", "headphones"), ("product_details", "tell me about the first one"),
     ("add_to_cart", "add it to my cart")],
    [("compare_products", "compare the first two"), ("affirm", "yes"), ("human_handoff", "a person please")],
]


def conversation(turns: List[tuple], domain) -> DialogueStateTracker:  # type: ignore[no-untyped-def]
    events: List[Event] = [ActionExecuted("action_listen")]
    for intent, text in turns:
        events += [UserUttered(text, intent={"name": intent, "confidence": 1.0})]
    return DialogueStateTracker.from_events("policy-test", events, slots=domain.slots)


def test_the_serving_load_predicts_what_rasas_load_predicts(trained_model: Path, tmp_path: Path) -> None:
    storage, metadata = LocalModelStorage.from_model_archive(tmp_path / "model", trained_model)
    [(name, node)] = [(name, node) for name, node in metadata.predict_schema.nodes.items()
                      if isinstance(node.uses, type) and issubclass(node.uses, TEDPolicy)]
    context = ExecutionContext(metadata.predict_schema, node_name=name)
    config = {**TEDPolicy.get_default_config(), **node.config}
    stock = TEDPolicy.load(config, storage, node.resource, context)
    serving = FastLoadingTEDPolicy.load(config, storage, node.resource, context)
    assert isinstance(serving.model, ServingTED) and type(stock.model) is not ServingTED

    predicted = []
    for turns in CONVERSATIONS:
        tracker = conversation(turns, metadata.domain)
        expected = stock.predict_action_probabilities(tracker, metadata.domain).probabilities
        got = serving.predict_action_probabilities(tracker, metadata.domain).probabilities
        assert np.allclose(got, expected, atol=1e-6), turns
        predicted.append(tuple(np.round(expected, 6)))
    # The outputs depend on the conversation, so equal outputs mean equal weights (weights restored in
    # the wrong order gave other numbers).
    assert len(set(predicted)) > 1
