"""Opens the catalog when the action server starts, so the first shopper does not wait for it.

The Rasa SDK has no start-up hook: `rasa run actions --actions actions` imports every module of the
package, and importing this one is the hook. Tests and tools import the actions without
`--actions` on the command line and open the catalog on first use instead.
"""

from __future__ import annotations

import logging
import sys

from actions.catalog_handle import catalog

logger = logging.getLogger(__name__)

if "--actions" in sys.argv:
    try:
        catalog()
    except Exception:  # an unreachable DATABASE_URL: start anyway, retry on the first action, log why
        logger.exception("could not open the catalog at start-up")
