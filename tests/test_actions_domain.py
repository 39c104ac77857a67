"""The dialogue files agree with the label schema and with the action server's actions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from rasa_sdk.executor import ActionExecutor

from common.schema import ENTITY_TYPES, INTENTS

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = yaml.safe_load((ROOT / "bot" / "domain.yml").read_text())
RULES = yaml.safe_load((ROOT / "data" / "rules.yml").read_text())
STORIES = yaml.safe_load((ROOT / "data" / "stories.yml").read_text())


def test_domain_lists_exactly_the_schema_intents_and_entities() -> None:
    assert list(DOMAIN["intents"]) == list(INTENTS)
    assert list(DOMAIN["entities"]) == list(ENTITY_TYPES)


def test_every_domain_action_is_served_and_every_served_action_is_declared() -> None:
    executor = ActionExecutor()
    executor.register_package("actions")  # what `rasa run actions --actions actions` does
    # rasa_sdk registers every Action subclass imported so far; a test's own stand-in (tests/test_faults.py)
    # is not one the action server would serve.
    served = {name for name, run in executor.actions.items()
              if type(getattr(run, "__self__", None)).__module__.split(".")[0] == "actions"}
    assert served == set(DOMAIN["actions"])


def test_the_action_server_loads_nothing_of_the_nlu() -> None:
    """The actions read the parse; they never run the NLU's code or its lexicon a second time."""
    probe = (
        "import json, sys\n"
        "from rasa_sdk.executor import ActionExecutor\n"
        "ActionExecutor().register_package('actions')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'nlu' or m.startswith('nlu.'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_every_intent_has_a_rule_or_story_and_steps_use_declared_names() -> None:
    steps = [step for block in RULES["rules"] + STORIES["stories"] for step in block["steps"]]
    used_intents = {step["intent"] for step in steps if "intent" in step}
    assert set(INTENTS) <= used_intents
    known_actions = set(DOMAIN["actions"]) | set(DOMAIN["responses"])
    assert {step["action"] for step in steps if "action" in step} <= known_actions


def test_low_confidence_and_handoff_have_a_clear_path() -> None:
    rule_steps = {
        (block["steps"][0].get("intent"), block["steps"][1].get("action")) for block in RULES["rules"]
    }
    assert ("nlu_fallback", "action_clarify_low_confidence") in rule_steps
    assert ("human_handoff", "action_handoff") in rule_steps
