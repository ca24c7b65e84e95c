"""Tornado handlers: thin adapters from HTTP to ``JobService``."""
