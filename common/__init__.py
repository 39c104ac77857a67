"""Contracts shared by the NLU, the actions and the channels: label schema, limits, numbers, statistics.

Nothing here imports torch, Rasa or the catalog, so the action server can use it without loading the NLU.
"""
