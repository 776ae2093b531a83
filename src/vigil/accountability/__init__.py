"""Accountability: match feedback from providers, quarantine of indicators that mislead, the
flood guard, and (in later parts) complaints and transparency reports."""
