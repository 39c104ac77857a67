"""Keys a channel puts in a shopper message's metadata (server-set; a client's own metadata is dropped),
read by the conversation log (learning/broker.py)."""

# The title of the button the shopper clicked, as the web chat showed it (redacted like typed text).
DISPLAY_TEXT_KEY = "shopcue_display_text"
# True when the channel replaced personal data before Rasa saw the text (learning/redaction.py), so the
# log does not run the redactor a second time; messages from elsewhere (rasa shell, the HTTP API) lack it.
REDACTED_KEY = "shopcue_redacted"
