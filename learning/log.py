"""`python -m learning.log`: the conversation log's command line (delete a shopper, purge, stats, gaps).

    python -m learning.log delete --sender ID    forget one shopper: their logged messages and suggestions,
                                                 their conversation (the tracker store) and their cart
    python -m learning.log purge [--days N]      messages older than SHOPCUE_LOG_RETENTION_DAYS (90)
    python -m learning.log stats                 counts by channel, review state, suggestion kind
    python -m learning.log gaps [--top N]        what zero-result searches asked for (catalog gaps)

`--database-url` overrides learning.db.database_url() (SHOPCUE_DATABASE_URL, DATABASE_URL, var/); the
conversations and carts are found as the servers find them (bot/stores.py, actions/catalog/db.py), or by
`--tracker-url` and `--catalog-url`.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

from actions import cart_store
from actions.catalog.db import catalog_url
from actions.catalog.db import get_engine as catalog_engine
from bot import stores
from learning.db import database_url, get_engine
from learning.gaps import format_report, gap_report
from learning.retention import delete_sender, purge, retention_days, stats


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m learning.log", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="SQLAlchemy URL of the learning database")
    commands = parser.add_subparsers(dest="command", required=True)
    remove = commands.add_parser("delete", help="delete one shopper's messages and their suggestions")
    remove.add_argument("--sender", required=True, help="the shopper's sender id")
    remove.add_argument("--tracker-url", default=None, help="SQLAlchemy URL of the conversations")
    remove.add_argument("--catalog-url", default=None, help="SQLAlchemy URL of the catalog (carts)")
    old = commands.add_parser("purge", help="delete messages older than the retention period")
    old.add_argument("--days", type=int, default=None, help="retention in days (default: the setting)")
    commands.add_parser("stats", help="counts by channel, review state and suggestion kind")
    gaps = commands.add_parser("gaps", help="catalog-gap report from zero-result searches")
    gaps.add_argument("--top", type=int, default=20)
    args = parser.parse_args(argv)

    engine = get_engine(args.database_url or database_url())
    if args.command == "delete":
        removed = delete_sender(engine, args.sender)
        tracker = args.tracker_url or stores.tracker_url(os.environ)
        events = stores.delete_conversation(tracker, args.sender)
        lines = cart_store.delete_shopper(catalog_engine(args.catalog_url or catalog_url()), args.sender)
        print(f"deleted {removed.messages} messages and {removed.suggestions} suggestions of {args.sender}, "
              f"{events} conversation events and {lines} cart lines")
    elif args.command == "purge":
        try:
            days = retention_days(args.days)
        except ValueError as error:
            parser.error(str(error))
        removed = purge(engine, days)
        print(f"purged {removed.messages} messages and {removed.suggestions} suggestions "
              f"older than {days} days")
    elif args.command == "stats":
        for title, counts in stats(engine).items():
            print(f"{title}:")
            for key, count in sorted(counts.items()) or [("(none)", 0)]:
                print(f"  {count:7d}  {key}")
    else:
        print(format_report(gap_report(engine, args.top)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
