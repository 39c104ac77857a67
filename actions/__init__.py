"""Shopcue's Rasa SDK actions: catalog, search, follow-ups, compare and substitutes.

Run with `rasa run actions --actions actions`; the SDK imports every module of this package and
registers the Action classes it finds (they live in `actions.actions`).
"""
