"""Console user accounts (the `console_users` table) and the command that manages them.

    python -m console.users add NAME --role reviewer|admin|agent   (password prompted twice)
    python -m console.users add NAME --role admin --password-stdin < file   (for scripts)
    python -m console.users list
    python -m console.users disable NAME
    python -m console.users passwd NAME [--password-stdin]

Passwords are stored only as scrypt hashes (console/passwords.py). Disabling a user or changing a
password ends that user's sessions.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import List, Optional

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Engine

from console.passwords import WeakPasswordError, hash_password
from learning.db import ROLES, get_engine, sessions, users, utcnow


class UserError(ValueError):
    """A user command that cannot be carried out (unknown user, taken name, bad role)."""


@dataclass(frozen=True)
class UserRecord:
    """One console account as listed (never with its hash)."""

    id: int
    username: str
    role: str
    disabled: bool
    created_at: datetime


def add_user(engine: Engine, username: str, password: str, role: str) -> int:
    """Create an account; its id."""
    username = _checked_name(username)
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    password_hash = hash_password(password)
    with engine.begin() as connection:
        if _user_id(connection, username) is not None:
            raise UserError(f"user {username!r} exists already")
        result = connection.execute(
            insert(users).values(
                username=username, password_hash=password_hash, role=role, disabled=False,
                created_at=utcnow(),
            )
        )
        return int(result.inserted_primary_key[0])


def list_users(engine: Engine) -> List[UserRecord]:
    with engine.connect() as connection:
        rows = connection.execute(select(users).order_by(users.c.username)).mappings().all()
    return [
        UserRecord(row["id"], row["username"], row["role"], bool(row["disabled"]), row["created_at"])
        for row in rows
    ]


def disable_user(engine: Engine, username: str) -> None:
    """Lock an account out and end its sessions (rows stay, so the review history keeps its name)."""
    with engine.begin() as connection:
        user_id = _existing_id(connection, username)
        connection.execute(update(users).where(users.c.id == user_id).values(disabled=True))
        connection.execute(delete(sessions).where(sessions.c.user_id == user_id))


def set_password(engine: Engine, username: str, password: str) -> None:
    """A new password; the user's sessions end, so a leaked session dies with the old password."""
    password_hash = hash_password(password)
    with engine.begin() as connection:
        user_id = _existing_id(connection, username)
        connection.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))
        connection.execute(delete(sessions).where(sessions.c.user_id == user_id))


def _checked_name(username: str) -> str:
    username = username.strip()
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        raise UserError("a username is 1-64 characters without spaces")
    return username


def _user_id(connection: object, username: str) -> Optional[int]:
    # Names are unique regardless of case: "Ann" and "ann" would be one person to a reviewer.
    query = select(users.c.id).where(func.lower(users.c.username) == username.lower())
    return connection.execute(query).scalar()  # type: ignore[attr-defined]


def _existing_id(connection: object, username: str) -> int:
    user_id = _user_id(connection, username)
    if user_id is None:
        raise UserError(f"no user {username!r}")
    return int(user_id)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat it: ") != first:
        raise UserError("the two passwords differ")
    return first


def main(argv: Optional[List[str]] = None) -> int:
    """Manage console users in the database of SHOPCUE_CONSOLE_DATABASE_URL (else the loop's default)."""
    from console.settings import ConsoleSettings

    parser = argparse.ArgumentParser(prog="python -m console.users", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="create a user")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, required=True)
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    commands.add_parser("list", help="list users")
    disable = commands.add_parser("disable", help="lock a user out and end their sessions")
    disable.add_argument("name")
    passwd = commands.add_parser("passwd", help="set a new password and end the user's sessions")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    args = parser.parse_args(argv)

    engine = get_engine(ConsoleSettings().database_url)
    try:
        if args.command == "add":
            add_user(engine, args.name, _read_password(args.password_stdin), args.role)
            print(f"added {args.name} ({args.role})")
        elif args.command == "list":
            for user in list_users(engine):
                state = "disabled" if user.disabled else "active"
                print(f"{user.username}\t{user.role}\t{state}\t{user.created_at:%Y-%m-%d}")
        elif args.command == "disable":
            disable_user(engine, args.name)
            print(f"disabled {args.name}")
        else:
            set_password(engine, args.name, _read_password(args.password_stdin))
            print(f"new password set for {args.name}; their sessions ended")
    except (UserError, WeakPasswordError) as error:
        print(f"console.users: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
