"""Limits on what a client may send, shared by the channels, the widget and the actions."""

from __future__ import annotations

import os

# A shopper's message longer than this is cut before anything reads it (the widget's input stops here
# too: the web chat channel tells it the number). Long enough for a rambling request, short enough that
# a pasted document cannot slow the model down.
MAX_MESSAGE_CHARS = int(os.environ.get("SHOPCUE_MAX_MESSAGE_CHARS", "500"))
# Sender ids are opaque strings chosen by the channel; anything longer is refused.
MAX_SENDER_CHARS = 128
