"""Every route declares who may call it; keys are checked the same way everywhere."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args, get_origin

from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth
from tests.fixtures.world import build_world
from vigil.db import transaction
from vigil.deps import PUBLIC_PATHS, route_scope
from vigil.errors import ERROR_RESPONSES, ErrorOut
from vigil.orgs import service as orgs
from vigil.orgs.access import Scope


def _scopes(route: APIRoute) -> list[Scope]:
    found = []
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if dep.call is not None and route_scope(dep.call) is not None:
            found.append(route_scope(dep.call))
        stack.extend(dep.dependencies)
    return found  # type: ignore[return-value]


def api_routes(app: object) -> list[APIRoute]:
    """Every API route of the app, including those of included routers (which FastAPI now
    resolves lazily)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: routes are flattened at include time
        return [r for r in app.routes if isinstance(r, APIRoute)]  # type: ignore[attr-defined]
    out = []
    for rc in iter_route_contexts(app.routes):  # type: ignore[attr-defined]
        route = getattr(rc, "original_route", None) or getattr(rc, "route", None)
        if isinstance(route, APIRoute):
            out.append(route)
    return out


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_route_declares_exactly_one_scope_or_is_public(client: TestClient) -> None:
    routes = api_routes(client.app)
    assert len(routes) > 15
    for route in routes:
        scopes = _scopes(route)
        if route.path in PUBLIC_PATHS:
            assert scopes == [], route.path
        else:
            assert len(scopes) == 1, f"{route.path} declares {scopes}"


def test_no_key_bad_key_revoked_key_and_wrong_scope(client: TestClient,
                                                    factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    with transaction(factory) as s:
        revoked = orgs.issue_key(s, None, w.principals["centre"].organisation_id, "gone",
                                 {Scope.MATCH})
        orgs.revoke_key(s, w.principals["centre"], revoked.key.id)
    narrow = None
    with transaction(factory) as s:
        narrow = orgs.issue_key(s, None, w.principals["centre"].organisation_id, "narrow",
                                {Scope.LOG_READ}).token
    # (The workspace's pages answer with the sign-in page instead: tests/web checks them.)
    routes = [r for r in api_routes(client.app)
              if r.path not in PUBLIC_PATHS and not r.path.startswith("/app")]
    for route in routes:
        method = sorted(route.methods)[0]
        path = _concrete(route.path)
        for headers in ({}, auth("vgl_nope_nope"), auth(w.tokens["centre"][:-2] + "xx"),
                        auth(revoked.token)):
            r = client.request(method, path, headers=headers)
            assert r.status_code == 401, (method, path, headers, r.text)
        (scope,) = _scopes(route)
        if scope is not Scope.LOG_READ:
            r = client.request(method, path, headers=auth(narrow))
            assert r.status_code == 403, (method, path, r.text)
            assert scope.value in r.json()["error"]["message"]


def _described_api(app: object) -> list[APIRoute]:
    """The routes of the API description: all but the workspace's pages, the public help and
    report pages, and the public landing page."""
    return [r for r in api_routes(app)
            if not r.path.startswith(("/app", "/help/", "/report/", "/prevention/"))
            and r.path not in ("/report", "/prevention", "/")]


def _declares_its_answer(route: APIRoute) -> bool:
    """A pydantic model (or a list of one) as the response model, or a raw response (not JSON
    rendered by FastAPI) whose success answer is described by a model or its content."""
    model = route.response_model
    if get_origin(model) is list:
        (model,) = get_args(model)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return True
    raw = isinstance(route.response_class, type) and issubclass(route.response_class, Response) \
        and not issubclass(route.response_class, JSONResponse)
    success = route.responses.get(route.status_code or 200, {})
    return raw and ("model" in success or "content" in success)


def test_every_api_route_declares_its_answer_and_its_errors(client: TestClient) -> None:
    routes = _described_api(client.app)
    assert len(routes) > 50
    for route in routes:
        name = f"{sorted(route.methods)} {route.path}"
        assert route.include_in_schema, name
        assert _declares_its_answer(route), f"{name}: no response model or described answer"
        for status in ERROR_RESPONSES:
            assert route.responses.get(status, {}).get("model") is ErrorOut, \
                f"{name}: the error answer {status} is not declared"


def test_the_api_description_declares_the_bearer_key(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert len(schemes) == 1
    (name, scheme), = schemes.items()
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    assert spec["paths"]["/v1/match"]["post"]["security"] == [{name: []}]
    assert "security" not in spec["paths"]["/v1/public/url-reports"]["post"]
    # Every keyed operation requires the key; no public one does.
    for route in _described_api(client.app):
        for method in route.methods:
            operation = spec["paths"][route.path][method.lower()]
            if route.path in PUBLIC_PATHS:
                assert "security" not in operation, (method, route.path)
            else:
                assert operation.get("security") == [{name: []}], (method, route.path)
    # The error body and the typed answers are in the description too.
    error = spec["paths"]["/v1/match"]["post"]["responses"]["401"]["content"]["application/json"]
    assert error["schema"]["$ref"].endswith("/ErrorOut")
    assert {"ErrorOut", "MatchOut", "ReportOut", "NoticeOut"} <= set(spec["components"]["schemas"])


def test_no_key_is_the_apps_own_401_not_the_frameworks(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Basic eDp5"}, {"Authorization": "Bearer"},
                    {"Authorization": "Bearer   "}, auth("vgl_nope_nope")):
        r = client.post("/v1/match", headers=headers, json={"items": []})
        assert r.status_code == 401, (headers, r.text)
        assert r.json()["error"]["code"] == "not_authenticated", headers


def test_public_routes(client: TestClient) -> None:
    """The health check says only that the service is up: a count of loaded indicators there
    told anyone whether a victim's hash was held already (found by an attempt to break the
    service). Metrics go to the Centre's monitoring (loopback by default), not to anyone."""
    assert client.get("/healthz").json() == {"status": "ok"}
    assert "BEGIN PUBLIC KEY" in client.get("/v1/log/key").text
    assert client.get("/openapi.json").json()["info"]["title"] == "vigil"
    r = client.get("/metrics")  # from "testclient": not an address in VIGIL_METRICS_ALLOW
    assert r.status_code == 403 and "VIGIL_METRICS_ALLOW" in r.text
    for address in ("127.0.0.1", "::1"):
        local = TestClient(client.app, client=(address, 50000))
        assert "vigil_http_requests_total" in local.get("/metrics").text
    assert TestClient(client.app, client=("192.0.2.9", 50000)).get("/metrics").status_code == 403


def test_kind_bounds_scopes(client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    provider_org = w.principals["provider"].organisation_id
    r = client.post(f"/v1/orgs/{provider_org}/keys", headers=auth(w.tokens["centre"]),
                    json={"holder": "x", "scopes": ["indicators:review"]})
    assert r.status_code == 403
    assert "cannot hold: indicators:review" in r.json()["error"]["message"]
    r = client.post(f"/v1/orgs/{provider_org}/keys", headers=auth(w.tokens["centre"]),
                    json={"holder": "x", "scopes": ["match"]})
    assert r.status_code == 201 and r.json()["token"].startswith("vgl_")
    token = r.json()["token"]
    assert client.get("/v1/lists", headers=auth(token)).status_code == 403
    r = client.post("/v1/match", headers=auth(token),
                    json={"items": [{"signal_type": "md5", "value": "0" * 32}]})
    assert r.status_code == 200


def test_revoked_key_stops_working_within_the_cache_interval(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    import time

    w = build_world(factory)
    org = w.principals["provider"].organisation_id
    r = client.post(f"/v1/orgs/{org}/keys", headers=auth(w.tokens["centre"]),
                    json={"holder": "temp", "scopes": ["match"]})
    key_id, token = r.json()["id"], r.json()["token"]
    body = {"items": [{"signal_type": "md5", "value": "0" * 32}]}
    assert client.post("/v1/match", headers=auth(token), json=body).status_code == 200
    assert client.post(f"/v1/keys/{key_id}/revoke", headers=auth(w.tokens["centre"])).status_code == 200
    time.sleep(client.app.state.vigil.settings.auth_cache_seconds + 0.1)  # type: ignore[attr-defined]
    assert client.post("/v1/match", headers=auth(token), json=body).status_code == 401


def test_each_key_is_limited_to_its_request_rate(db_url: str, data_dir: Path,
                                                 factory: sessionmaker[Session]) -> None:
    from tests.fixtures.api import make_client

    w = build_world(factory)
    with make_client(db_url, data_dir, key_requests_per_minute=3) as client:
        for _ in range(3):
            assert client.get("/v1/log/head", headers=auth(w.tokens["provider"])).status_code == 200
        r = client.get("/v1/log/head", headers=auth(w.tokens["provider"]))
        assert r.status_code == 429 and 0 < int(r.headers["Retry-After"]) <= 60
        assert "too many requests for this key: at most 3 per 60 seconds" in r.json()["error"]["message"]
        # Another key is not affected; the public routes are not limited per key.
        assert client.get("/v1/log/head", headers=auth(w.tokens["auditor"])).status_code == 200
        assert client.get("/healthz").status_code == 200


def test_daily_match_quota(db_url: str, data_dir: Path, factory: sessionmaker[Session]) -> None:
    from tests.fixtures.api import make_client

    w = build_world(factory)
    items = {"items": [{"signal_type": "md5", "value": "0" * 32}] * 4}
    with make_client(db_url, data_dir, match_hashes_per_day=10) as client:
        for _ in range(2):
            assert client.post("/v1/match", headers=auth(w.tokens["provider"]), json=items).status_code == 200
        r = client.post("/v1/match", headers=auth(w.tokens["provider"]), json=items)
        assert r.status_code == 429 and "daily quota of 10 hashes" in r.json()["error"]["message"]
        assert int(r.headers["Retry-After"]) <= 86400
        assert client.post("/v1/match", headers=auth(w.tokens["centre"]), json=items).status_code == 200
        # A robust item's variants are hashes looked up too: they count (1 + 9 = 10).
        robust = {"robust": True, "items": [{"signal_type": "pdq", "value": "0f" * 32,
                                             "variants": {n: "0f" * 32 for n in (
                                                 "rotate90", "rotate180", "rotate270", "flip_x",
                                                 "flip_y", "flip_plus", "flip_minus",
                                                 "rotate+2", "rotate-2")}}]}
        europol = auth(w.tokens["europol"])
        assert client.post("/v1/match", headers=europol, json=robust).status_code == 200
        assert client.post("/v1/match", headers=europol, json=items).status_code == 429


def _unbounded_integers(node: object, where: str, schemas: dict[str, Any] | None = None,
                        seen: set[str] | None = None) -> list[str]:
    found: list[str] = []
    seen = set() if seen is None else seen
    if isinstance(node, dict):
        if node.get("type") == "integer" and "maximum" not in node and "exclusiveMaximum" not in node:
            found.append(where)
        ref = node.get("$ref")
        if isinstance(ref, str) and schemas is not None and ref not in seen:
            seen.add(ref)
            name = ref.rsplit("/", 1)[-1]
            found += _unbounded_integers(schemas[name], f"{where}->{name}", schemas, seen)
        for key, value in node.items():
            found += _unbounded_integers(value, f"{where}.{key}", schemas, seen)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _unbounded_integers(value, f"{where}[{i}]", schemas, seen)
    return found


def test_every_integer_a_caller_sends_is_bounded(client: TestClient) -> None:
    """An integer past 64 bits reached the database as a 500; every integer in a request —
    path, query or body, alone or in a list — declares its bounds, so it is a 422 instead."""
    spec = client.get("/openapi.json").json()
    found = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            schemas = spec["components"]["schemas"]
            for param in op.get("parameters", []):
                found += _unbounded_integers(param.get("schema", {}),
                                             f"{method} {path} {param['name']}", schemas)
            for media in op.get("requestBody", {}).get("content", {}).values():
                found += _unbounded_integers(media.get("schema", {}), f"{method} {path} body",
                                             schemas)
    assert not found, "\n".join(found)
