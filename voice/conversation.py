"""The call's side of the conversation with the bot: the Rasa REST channel, and what its replies mean on
the phone (a transfer to a person, a size question, the words the caller will likely say next)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import httpx
import yaml

from actions.vocabulary import SYNONYMS_PATH

# The custom payload of action_handoff (actions/handoff_actions.py) that asks the phone channel for a person.
HANDOFF_TYPE = "handoff"
# The bot's size questions ("Which size would you like?", "Which size of ...? In stock: 8, 9, 10.").
SIZE_QUESTION = re.compile(r"\b(?:which|what) size\b", re.IGNORECASE)
# Sizes listed after a size question, e.g. "In stock: 8, 9, 10." or "XS, S, M".
_LISTED_SIZES = re.compile(r"in stock:\s*([^.?!]+)", re.IGNORECASE)
# What callers say for sizes, heard as words.
SIZE_WORDS = ("size", "small", "medium", "large", "extra large", "extra small", "half")


# The header deploy/nginx/shopcue.conf.template hashes REST calls on (nginx cannot read the body's sender).
SENDER_HEADER = "X-Shopcue-Sender"


class BotUnavailableError(RuntimeError):
    """The Rasa server did not answer, or answered with an error."""


class RasaRest:
    """Rasa's REST channel (`POST /webhooks/rest/webhook {sender, message}` -> the bot's messages)."""

    def __init__(self, webhook_url: str, timeout_s: float, token: str = "") -> None:
        self.webhook_url = webhook_url
        headers = {"Authorization": f"Bearer {token}"} if token else None
        self._client = httpx.AsyncClient(timeout=timeout_s, headers=headers)

    async def send(self, sender: str, text: str) -> List[Dict[str, Any]]:
        """One caller message; the bot's replies (text, buttons, custom payloads)."""
        try:
            # The sender as a header too: a load balancer (deploy/nginx/) keeps one call on one Rasa instance.
            response = await self._client.post(self.webhook_url, json={"sender": sender, "message": text},
                                               headers={SENDER_HEADER: sender})
            response.raise_for_status()
            replies = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise BotUnavailableError(f"{type(error).__name__} from the Rasa server") from error
        return [reply for reply in replies or [] if isinstance(reply, dict)]

    async def aclose(self) -> None:
        await self._client.aclose()


def wants_handoff(replies: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the bot asked for the call to be put through to a person."""
    return any(
        isinstance(reply.get("custom"), dict) and reply["custom"].get("type") == HANDOFF_TYPE
        for reply in replies
    )


def reply_text(replies: Sequence[Mapping[str, Any]]) -> str:
    """The replies' plain text, one message a line."""
    return "\n".join(str(reply["text"]) for reply in replies if reply.get("text"))


@lru_cache(maxsize=1)
def catalog_hints() -> Tuple[str, ...]:
    """Words a caller is likely to say: the catalog's product types and colours (actions/catalog/
    synonyms.yml), the product types first."""
    synonyms = yaml.safe_load(SYNONYMS_PATH.read_text(encoding="utf-8"))
    return tuple(dict.fromkeys([*synonyms.get("product_types", {}), *synonyms.get("colours", {})]))


def size_hints(text: str) -> Tuple[str, ...]:
    """After a size question, the sizes it lists and the words for sizes; otherwise nothing."""
    if not SIZE_QUESTION.search(text):
        return ()
    listed = _LISTED_SIZES.search(text)
    sizes = [size.strip() for size in listed.group(1).split(",")] if listed else []
    return tuple(dict.fromkeys([*filter(None, sizes), *SIZE_WORDS]))


def hints_for(last_reply: str) -> Tuple[str, ...]:
    """Speech-recognition hints for the caller's next words, given what the bot said last: sizes first
    after a size question, then the catalog's words (the recogniser keeps the first few dozen)."""
    return tuple(dict.fromkeys([*size_hints(last_reply), *catalog_hints()]))
