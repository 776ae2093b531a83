"""The whole API, fuzzed against its own OpenAPI description (schemathesis) with every kind of key.

Every operation of ``/openapi.json`` gets generated requests, valid and invalid, and each is
sent by the Centre, a partner centre, a provider, an authority, an auditor and by nobody (no
key), on SQLite and on PostgreSQL. The test fails on any 5xx, on any status code the route
does not document, and on any body or content type that is not the one documented for its
status; it names every operation that failed, with whose key, and a curl command that
reproduces the request.

Bounded: a few examples per operation and mode, derandomised so that CI sends the same
requests on every run (~40 s on each database). Each kind of key has an app and a database of
its own: a fuzzed call may revoke a key, retract an indicator or close a case, and what one
kind of caller did must not decide what the next one can reach.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.errors import FailureGroup
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fixtures.api import auth
from tests.fixtures.db import _postgres_database
from tests.fixtures.world import active_indicator, build_world
from vigil.app import create_app
from vigil.config import Settings
from vigil.db import make_engine, session_factory
from vigil.migrations import upgrade

#: The kinds of caller; each reaches a different part of the API (scopes, access to reports).
KEYS = ["centre", "partner", "provider", "authority_de", "auditor", None]

#: Answers a route does not document, 5xx, bodies and content types that break the description.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]

#: Examples per operation, key and mode (valid, invalid): enough to pass every route's checks
#: and reach its service with each kind of key, within the suite's time.
EXAMPLES = 3

#: Revoking a key may revoke the very key being fuzzed with (its id is small, and the Centre
#: may revoke any); every answer after it would be a 401. So it goes last.
LAST = "POST /v1/keys/{key_id}/revoke"


@pytest.fixture(params=["sqlite", "postgresql"])
def apps(request: pytest.FixtureRequest, tmp_path: Path
         ) -> Iterator[dict[str | None, tuple[FastAPI, dict[str, str]]]]:
    """For each kind of key, its own app on a fresh database (on SQLite, or on PostgreSQL,
    which refuses what SQLite stores: NUL in text, integers beyond a column's range) holding
    the world's organisations, keys and lists and an active indicator: the app and the
    headers that authenticate the key."""
    made: dict[str | None, tuple[FastAPI, dict[str, str]]] = {}
    with ExitStack() as stack:
        for key in KEYS:
            root = tmp_path / (key or "no-key")
            if request.param == "sqlite":
                url = f"sqlite:///{root / 'vigil.db'}"
            else:
                databases = _postgres_database()  # skipped without PostgreSQL, failed in CI
                url = next(databases)
                stack.callback(lambda d=databases: next(d, None))  # drops it
            upgrade(url)
            engine = make_engine(url)
            factory = session_factory(engine)
            world = build_world(factory)
            active_indicator(factory, world, "md5", "0f" * 16)
            engine.dispose()
            # The per-address and per-key limits raised so that the fuzzer reaches what lies
            # behind them (the limits have tests of their own); all else as in production.
            app = create_app(Settings(database_url=url, data_dir=root / "data", environment="test",
                                      key_requests_per_minute=0, public_reports_per_hour=100_000,
                                      victim_cases_per_hour=100_000,
                                      victim_lookups_per_hour=100_000))
            made[key] = app, auth(world.tokens[key]) if key else {}
        try:
            yield made
        finally:
            # schemathesis starts an app's lifespan (index sync, flood guard) with its first
            # request and would keep it running until the interpreter exits; it ends here,
            # before the databases are dropped.
            asgi.shutdown_lifespans()


def _fuzz(operation: APIOperation, mode: GenerationMode,
          apps: dict[str | None, tuple[FastAPI, dict[str, str]]]) -> None:
    """Generated requests for ``operation``, each sent with every kind of key."""

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.generate, Phase.shrink],
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                     HealthCheck.data_too_large])
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: Case) -> None:
        for key, (app, headers) in apps.items():
            try:
                case.call_and_validate(app=app, headers=headers, checks=CHECKS)
            except BaseException as exc:  # a failed check, or the app's own exception (a 500)
                exc.add_note(f"Sent with the key of: {key or 'nobody (no key)'}")
                raise

    call()


@pytest.mark.slow
def test_every_operation_answers_as_documented(
        apps: dict[str | None, tuple[FastAPI, dict[str, str]]]) -> None:
    api = schemathesis.openapi.from_asgi("/openapi.json", apps["centre"][0])
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) > 60 and LAST in {op.label for op in operations}
    # Every app ready first (its lifespan starts with schemathesis's first request, and the
    # match index loads in the background): a /readyz fuzzed before that answers its
    # documented 503, which the server-error check would count.
    readyz = next(op for op in operations if op.label == "GET /readyz")
    for app, _ in apps.values():
        deadline = time.monotonic() + 120
        while readyz.Case().call(app=app).status_code != 200:
            assert time.monotonic() < deadline, "an app's index never loaded"
            time.sleep(0.05)
    failures: list[str] = []
    for operation in sorted(operations, key=lambda op: op.label == LAST):
        has_input = bool(operation.body) or any(True for _ in operation.iter_parameters())
        # An operation without parameters or body has no invalid request to make.
        modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if has_input else [
            GenerationMode.POSITIVE]
        for mode in modes:
            try:
                _fuzz(operation, mode, apps)
            except (Exception, FailureGroup) as exc:  # every operation is fuzzed; each failed one named
                failures.append(f"{operation.label}, {mode.value} data: "
                                + "".join(traceback.format_exception_only(exc)))
    assert not failures, "\n\n".join(failures)
