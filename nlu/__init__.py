"""Shopcue's joint NLU: intent, product entities and implicit shopper attributes in one pass."""
