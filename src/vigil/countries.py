"""Country codes: the one place that says which two codes name the same country, and which
countries are the EU's member states (an authority's, where reports are routed, and the
jurisdictions of the two-jurisdiction rule of end-to-end encrypted device lists)."""

from __future__ import annotations

#: The EU's member states (ISO 3166-1 alpha-2).
EU_MEMBER_STATES = frozenset([
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
    "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"])
_ALIASES = {"EL": "GR"}  # the EU's code for Greece


def country_of(code: str | None) -> str | None:
    """The country a two-letter code names, upper case (``EL`` is Greece, ``GR``), or None for
    anything that is not two letters."""
    if not code or len(code) != 2 or not code.isascii() or not code.isalpha():
        return None
    c = code.upper()
    return _ALIASES.get(c, c)


def member_state_of(code: str | None) -> str | None:
    """The member state a code names (``EL`` is Greece, ``GR``), or None for anything else."""
    c = country_of(code)
    return c if c in EU_MEMBER_STATES else None
