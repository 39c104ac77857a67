"""The trained Rasa model as a parse function for enrichment: which archive, loading it, parsing texts.

Imported only when a feed needs inferring (the catalog CLI imports this lazily): loading Rasa and the
model takes seconds, and the action server must never import the NLU's code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from enrichment.enrich import ParseFn

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODELS_DIR = REPO_ROOT / "models"


class NoModelError(RuntimeError):
    """No trained model to read the feed with."""


def find_model(explicit: Optional[Path] = None, models_dir: Path = DEFAULT_MODELS_DIR) -> Path:
    """`explicit` when given, else the newest archive in `models_dir`: the one `rasa run` loads, and where
    a promotion (learning/registry.py) copies the live model with a fresh mtime."""
    if explicit is not None:
        if not Path(explicit).is_file():
            raise NoModelError(f"no model archive at {explicit}")
        return Path(explicit)
    archives = sorted(Path(models_dir).glob("*.tar.gz"), key=lambda path: path.stat().st_mtime)
    if not archives:
        raise NoModelError(
            f"no trained model in {models_dir} to infer the missing attributes with: train first: make train "
            "(or pass --model ARCHIVE)"
        )
    return archives[-1]


def load_parser(archive: Path) -> ParseFn:
    """A function from texts to parse dicts ({text, entities, attributes, intent}), running the archive's
    NLU graph in process on a whole batch at once (as benchmarks/bench_nlu.py measures it)."""
    from rasa.core.agent import Agent
    from rasa.core.channels.channel import UserMessage
    from rasa.engine.constants import PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER
    from rasa.shared.core.trackers import DialogueStateTracker

    agent = Agent.load(str(archive))
    processor = agent.processor
    if processor is None or processor.model_metadata.nlu_target is None:
        raise NoModelError(f"{archive} has no NLU model")
    target = processor.model_metadata.nlu_target
    tracker = DialogueStateTracker("catalog-enrichment", slots=[])

    def parse(texts: Sequence[str]) -> List[Dict[str, Any]]:
        if not texts:
            return []
        messages = [UserMessage(text) for text in texts]
        results = processor.graph_runner.run(
            inputs={PLACEHOLDER_MESSAGE: messages, PLACEHOLDER_TRACKER: tracker}, targets=[target]
        )[target]
        return [
            {
                "text": message.get("text"),
                "entities": list(message.get("entities") or []),
                "attributes": dict(message.get("attributes") or {}),
                "intent": message.get("intent") or {},
            }
            for message in results
        ]

    return parse
