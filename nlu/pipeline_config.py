"""The JointShoppingNLU step of a Rasa config file, and the attribute schema it declares: the one reader.

The data validator, the data counts, the evaluation CLI, the learning-curve benchmark and the component
itself all ask here which attributes the model learns, so a config's `attributes` mean the same to each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import yaml

from common.schema import DEFAULT_ATTRIBUTES, normalise_attribute_value
from nlu import PROJECT_ROOT

DEFAULT_CONFIG_PATH = PROJECT_ROOT / "config.yml"
JOINT_COMPONENT = "nlu.component.JointShoppingNLU"


def joint_step(config_path: Optional[Path] = DEFAULT_CONFIG_PATH) -> Dict[str, Any]:
    """The JointShoppingNLU entry of the config's pipeline ({} when there is no file or no such step).

    Malformed YAML raises `yaml.YAMLError`.
    """
    if config_path is None or not Path(config_path).exists():
        return {}
    config = yaml.safe_load(Path(config_path).read_text(encoding="utf-8")) or {}
    names = (JOINT_COMPONENT, JOINT_COMPONENT.split(".")[-1])
    for step in config.get("pipeline") or []:
        if isinstance(step, Mapping) and step.get("name") in names:
            return dict(step)
    return {}


def attribute_schema(component_config: Mapping[str, Any]) -> Dict[str, List[str]]:
    """{attribute: values} from a component config's `attributes` (values normalised), else the defaults."""
    declared = component_config.get("attributes") or DEFAULT_ATTRIBUTES
    return {str(name): [normalise_attribute_value(v) for v in values] for name, values in declared.items()}


def attribute_schema_of(config_path: Optional[Path] = DEFAULT_CONFIG_PATH) -> Dict[str, List[str]]:
    """The attributes the JointShoppingNLU step of a config file learns (the defaults if it declares none)."""
    return attribute_schema(joint_step(config_path))
