"""The base of every Shopcue action: a catalog failure becomes an apology, never a server error."""

from __future__ import annotations

import abc
import logging
from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError

from actions.replies.conversation import CATALOG_DOWN

logger = logging.getLogger(__name__)

# What a broken or unreachable catalog raises: database errors, a bad path, a missing database driver.
CATALOG_ERRORS = (SQLAlchemyError, OSError, ImportError)


class ShopAction(Action, metaclass=abc.ABCMeta):
    """An action that answers sanely when the catalog database fails, instead of a server error."""

    @abc.abstractmethod
    def name(self) -> str: ...

    @abc.abstractmethod
    def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[Dict[str, Any]]: ...

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[Dict[str, Any]]:
        try:
            return self.act(dispatcher, tracker, domain)
        except CATALOG_ERRORS:
            logger.exception("catalog error in %s", self.name())
            dispatcher.utter_message(text=CATALOG_DOWN)
            return []
