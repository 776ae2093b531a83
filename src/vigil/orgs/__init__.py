"""Organisations, API keys and scopes; ``access.py`` decides who may call what."""
