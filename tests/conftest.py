from __future__ import annotations

import os

import pytest
from argon2 import PasswordHasher
from hypothesis import HealthCheck, settings

from vigil import passwords

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


#: argon2id at its lowest cost, for the suite only. At the library's recommended parameters
#: (what vigil uses: 64 MiB, 3 passes, 4 lanes) one hash takes ~0.2 s on the 2-core CI host,
#: and the suite makes thousands (every account created, every sign-in, every victim PIN).
#: What production uses is checked by tests/orgs/test_password_cost.py.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)


@pytest.fixture(autouse=True)
def _cheap_password_hashing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
                            ) -> None:
    if request.node.get_closest_marker("real_password_cost"):
        return
    monkeypatch.setattr(passwords, "_hasher", CHEAP_HASHER)
