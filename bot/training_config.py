"""Derive quick-training variants of the Rasa config (same pipeline and policies, fewer epochs)."""

from __future__ import annotations

import copy
from typing import Any, Dict, Mapping


def shrink_epochs(config: Mapping[str, Any], epochs: Mapping[str, int]) -> Dict[str, Any]:
    """A copy of a Rasa config whose pipeline and policy entries named in `epochs` train that many epochs.

    Components that have no `epochs` key and are not named are left alone, so the variant exercises
    exactly the production pipeline.
    """
    shrunk = copy.deepcopy(dict(config))
    for section in ("pipeline", "policies"):
        for component in shrunk.get(section) or []:
            name = component.get("name")
            if name in epochs:
                component["epochs"] = int(epochs[name])
    return shrunk
