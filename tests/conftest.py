from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# The suite's property tests: thorough in CI, quick on a laptop unless asked.
settings.register_profile("ci", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))

pytest_plugins = ["tests.fixtures.db", "tests.fixtures.api", "tests.fixtures.browser", "tests.fixtures.programmes",
                  "tests.fixtures.site", "tests.fixtures.redis"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long end-to-end checks (marked ``slow``) run first, the rest in their usual order:
    with ``-n auto`` the short tests then fill the other workers while the long ones run,
    instead of one long check running alone at the end (a clean-clone run spent its last four
    minutes on one of two cores)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
