"""The review console: a small FastAPI app where people fix what the NLU model doubts most."""
