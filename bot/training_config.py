"""Derive quick-training variants of the Rasa config (same pipeline and policies, fewer epochs)."""

from __future__ import annotations

import copy
from typing import Any, Dict, Mapping


def override_settings(config: Mapping[str, Any], settings: Mapping[str, Mapping[str, Any]]) -> Dict[str, Any]:
    """A copy of a Rasa config whose pipeline and policy entries named in `settings` get those keys set.

    A component is named by its `name` in the config or, for a class given by module path, by the class
    name alone ("FastLoadingTEDPolicy" for "bot.policies.FastLoadingTEDPolicy"). Components that are not
    named are left alone, so the variant exercises exactly the production pipeline; only how long and in
    what steps each named one trains changes.
    """
    changed = copy.deepcopy(dict(config))
    for section in ("pipeline", "policies"):
        for component in changed.get(section) or []:
            name = str(component.get("name", ""))
            chosen = settings.get(name, settings.get(name.rsplit(".", 1)[-1], {}))
            component.update(copy.deepcopy(dict(chosen)))
    return changed


def shrink_epochs(config: Mapping[str, Any], epochs: Mapping[str, int]) -> Dict[str, Any]:
    """A copy of a Rasa config whose pipeline and policy entries named in `epochs` train that many epochs."""
    return override_settings(config, {name: {"epochs": int(value)} for name, value in epochs.items()})
