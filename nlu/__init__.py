"""Shopcue's joint NLU: intent, product entities and implicit shopper attributes in one pass.

The served model lives here (component, model, prediction, cue fusion); offline tools live in nlu/tools/.
"""

from pathlib import Path

# The repository root: data/, config.yml and tests/data/ are found from here.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
