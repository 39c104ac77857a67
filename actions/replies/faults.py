"""What the shop says when the catalog is too slow to answer a turn (a query ran past its time limit,
actions/catalog/db.py `limit_statements`)."""

CATALOG_SLOW = (
    "Sorry, the catalog is slow right now and I couldn't finish that search. "
    "Please try again in a moment, or ask for something more specific."
)
