"""A conversation that gives a name and a phone number leaves neither in any database or log file.

The running bot (tests/conftest.py `bot`) keeps everything it writes under one session folder: the
Rasa and action server logs, the catalog database and the conversation log for learning. The test
talks to it over both text channels, waits until the conversation log holds the turns, then reads every
file in that folder byte by byte, and the tracker the Rasa server holds, for the personal data.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import time
import uuid
from pathlib import Path
from typing import Any, Iterator, List

import httpx
import pytest
from sqlalchemy import func, select

from learning.db import get_engine, messages
from tests.test_webchat_channel import headers_of, open_session

pytestmark = pytest.mark.e2e

NAME = ("Sarah", "Connor")
PHONE_DIGITS = ("07700", "900123", "7700 900 123", "7700900123")
PERSONAL = [*NAME, *PHONE_DIGITS, "sarah.connor@example.com"]

TURNS = [
    "hi, I'm Sarah Connor",
    "running shoes for my son please, call me on 07700 900123",
    "my email is sarah.connor@example.com and my mobile is +44 7700 900 123",
]


def _files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            yield path


def _content(path: Path) -> bytes:
    """The file's bytes; b"" when it vanished after it was listed (SQLite removes a database's -shm and
    -wal files when its last connection closes; what they held is in the database, read as well)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def _unpacked_digest(path: Path) -> str:
    """SHA-256 of a gzip file's unpacked bytes ("" when it is no gzip file)."""
    digest = hashlib.sha256()
    try:
        with gzip.open(path, "rb") as unpacked:
            for block in iter(lambda: unpacked.read(1 << 20), b""):
                digest.update(block)
    except (OSError, EOFError):
        return ""
    return digest.hexdigest()


def _hits(data: bytes) -> List[str]:
    """The personal words in the data; a digit run counts only whole (not inside a longer number), so a
    logged confidence such as 0.000212077001 is not a leak of "07700"."""
    lowered = data.lower()
    return [
        word
        for word in PERSONAL
        if re.search(rb"(?<![0-9])" + re.escape(word.lower().encode("utf-8")) + rb"(?![0-9])", lowered)
    ]


def _logged_turns(url: str, sender: str) -> int:
    with get_engine(url).connect() as connection:
        count = connection.execute(
            select(func.count()).select_from(messages).where(messages.c.sender_id == sender)
        )
        return int(count.scalar_one())


def test_a_name_and_a_phone_number_are_in_no_database_or_log(bot: Any, trained_model: Path) -> None:
    session, web_sender = open_session(bot.rasa_url)  # the web chat's conversation is the server's
    rest_sender = f"privacy-rest-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=bot.rasa_url, timeout=120) as client:
        for text in TURNS:
            web = client.post("/webhooks/webchat/webhook", json={"message": text},
                              headers=headers_of(session))
            rest = client.post("/webhooks/rest/webhook", json={"sender": rest_sender, "message": text})
            assert web.status_code == 200 and rest.status_code == 200
            assert web.json(), f"the bot did not answer {text!r} in the web chat"
        trackers = [client.get(f"/conversations/{sender}/tracker", params={"token": bot.api_token}).content
                    for sender in (web_sender, rest_sender)]

    # The log writer works off the event loop: wait until every turn is stored, so the files are final.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(_logged_turns(bot.database_url, s) >= len(TURNS) for s in (web_sender, rest_sender)):
            break
        time.sleep(0.5)
    else:
        pytest.fail("the conversation log did not record the turns within 60 s")

    for tracker in trackers:
        assert b"<PERSON>" in tracker and b"<PHONE>" in tracker, "the tracker should hold the placeholders"
        assert _hits(tracker) == [], "the Rasa tracker holds personal data"

    folder = bot.log_dir.parent
    # Copies of the session's model (the registry's serve folder, written by the model-switch tests) are
    # made from data/ by training, not from conversations, and their compressed bytes can spell any five
    # letters by chance (a 104 MB archive once held "SARAH"): the same model, compared unpacked, is not
    # read for words; any other archive is.
    model = _unpacked_digest(trained_model)
    checked = [path for path in _files(folder)
               if not (path.name.endswith(".tar.gz") and _unpacked_digest(path) == model)]
    names = {path.name for path in checked}
    assert {"rasa.log", "actions.log", "learning.db", "catalog.db"} <= names, sorted(names)
    leaks = {str(path.relative_to(folder)): hits for path in checked if (hits := _hits(_content(path)))}
    assert leaks == {}, f"personal data found in files: {leaks}"
