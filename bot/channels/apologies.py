"""What the channels say to a shopper when a system behind them fails (the actions' own words live in
actions/replies/): one home, so the web chat and the phone say the same thing."""

# The conversation store or its lock (tracker store, lock store) failed: nothing was handled or kept,
# so the shopper is told to send it again (the web chat gets it with a 503 and Retry-After).
SHOP_SYSTEM_DOWN = (
    "Sorry, I can't reach our shop system right now. Your message was not sent; "
    "please try again in a moment."
)
# The action server does not answer: the message was understood and kept, but no product answer came.
ACTIONS_DOWN = (
    "Sorry, I can't look that up right now - our product search is not responding. "
    "Please try again in a minute."
)
