"""Audit events (``subject:action``), written in the same transaction as the action."""
