"""Shopcue's Rasa project: domain, endpoints, credentials, input channels and the launcher."""
