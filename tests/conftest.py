from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# The suite's property tests: thorough in CI, quick on a laptop unless asked.
settings.register_profile("ci", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))

pytest_plugins = ["tests.fixtures.db", "tests.fixtures.api", "tests.fixtures.browser", "tests.fixtures.programmes",
                  "tests.fixtures.site", "tests.fixtures.redis"]
