"""The base of every Shopcue action: the turn it works on (the request read once, the catalog), and a
catalog failure answered with an apology, never a server error (which the shopper would get as silence).

Each catalog statement is bounded (`limit_statements`, SHOPCUE_CATALOG_TIMEOUT_S): a query past it is
answered "the catalog is slow right now", a broken or unreachable catalog "I can't reach our catalog"."""

from __future__ import annotations

import abc
import logging
from dataclasses import dataclass
from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from actions.catalog.db import is_statement_timeout, limit_statements, session_for
from actions.catalog_handle import catalog
from actions.key_attributes import KeyAttributes
from actions.replies.conversation import CATALOG_DOWN
from actions.replies.faults import CATALOG_SLOW
from actions.request import ShopperRequest, read_request
from actions.vocabulary import Vocabulary

logger = logging.getLogger(__name__)

Events = List[Dict[str, Any]]
# What a broken or unreachable catalog raises: database errors, a bad path, a missing database driver.
CATALOG_ERRORS = (SQLAlchemyError, OSError, ImportError)


@dataclass(frozen=True)
class Turn:
    """What an action works on: the conversation, the latest message as a request, and the catalog
    (a session connects on its first query, so an action that needs no product costs nothing), with the
    catalog's key attributes per category."""

    tracker: Tracker
    request: ShopperRequest
    session: Session
    vocabulary: Vocabulary
    key_attributes: KeyAttributes


class ShopAction(Action, metaclass=abc.ABCMeta):
    """An action that gets its turn ready-made and answers sanely when the catalog database fails."""

    @abc.abstractmethod
    def name(self) -> str: ...

    @abc.abstractmethod
    def act(self, dispatcher: CollectingDispatcher, turn: Turn) -> Events: ...

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> Events:
        try:
            shop = catalog()
            limit_statements(shop.engine)  # once per engine; later calls only re-read the limit
            request = read_request(tracker.latest_message or {}, shop.vocabulary)
            with session_for(shop.engine) as session:
                turn = Turn(tracker, request, session, shop.vocabulary, shop.key_attributes)
                return self.act(dispatcher, turn)
        except CATALOG_ERRORS as error:
            if is_statement_timeout(error):
                logger.warning("catalog.timeout action=%s", self.name())
                dispatcher.utter_message(text=CATALOG_SLOW)
            else:
                logger.exception("catalog error in %s", self.name())
                dispatcher.utter_message(text=CATALOG_DOWN)
            return []
