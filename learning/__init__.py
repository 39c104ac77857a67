"""The data loop: redaction at the door, the conversation log, reviews, corrections into data/, retraining."""
