"""Structured logs: JSON lines with the request's id, and no secret in them whatever a
request or a library sends."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth
from tests.fixtures.workspace import PASSWORD, build_workspace, sign_in
from vigil.app import create_app
from vigil.config import Settings
from vigil.logs import configure_logging, get_logger


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """This process's logging, sent to a buffer as JSON lines; put back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    try:
        yield stream
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in handlers:
            root.addHandler(h)
        root.setLevel(level)
        structlog.reset_defaults()


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def _client(db_url: str, data_dir: Path, **settings: Any) -> TestClient:
    return TestClient(create_app(Settings(database_url=db_url, data_dir=data_dir,
                                          environment="test", **settings)))


def test_secret_fields_and_secret_text_are_redacted(log_output: io.StringIO) -> None:
    key = "vgl_0a1b2c3d4e5f_" + "S" * 43
    get_logger("vigil.test").info("signing in", password="hunter2-hunter2", api_key=key,
                                  headers={"Authorization": f"Bearer {key}", "accept": "*/*"},
                                  items=[{"file_key": "AAAA"}], user="rita")
    logging.getLogger("vigil.test").warning("retrying with %s and password=%s", key, "hunter2-hunter2")
    try:
        raise ValueError(f"bad key {key}")
    except ValueError:
        logging.getLogger("vigil.test").exception("it failed")
    out = log_output.getvalue()
    assert key not in out and "hunter2" not in out and "AAAA" not in out
    first, second, third = _lines(log_output)
    assert first["event"] == "signing in" and first["user"] == "rita"
    assert first["password"] == "[redacted]" and first["api_key"] == "[redacted]"
    assert first["headers"] == {"Authorization": "[redacted]", "accept": "*/*"}
    assert second["level"] == "warning" and second["logger"] == "vigil.test"
    assert second["event"] == "retrying with [redacted] and password=[redacted]"
    assert "ValueError: bad key [redacted]" in third["exception"]
    assert {"timestamp", "level", "logger", "event", "pid"} <= set(first)


def test_an_api_key_and_a_password_sent_in_requests_never_reach_the_log(
        log_output: io.StringIO, db_url: str, data_dir: Path,
        factory: sessionmaker[Session]) -> None:
    token = build_workspace(factory, data_dir).world.tokens["provider"]
    with _client(db_url, data_dir) as client:
        assert client.get("/v1/log/head", headers=auth(token)).status_code == 200
        # A key in the wrong places too: a query string, a body, a bad header.
        client.get(f"/v1/log/head?key={token}", headers={"X-Api-Key": token})
        client.post("/v1/match", headers=auth(token), json={"items": [{"signal_type": "md5",
                                                                        "value": token}]})
        client.get("/v1/log/head", headers={"Authorization": token})
        sign_in(client, "rita")
        client.post("/app/login", data={"username": "rita", "password": PASSWORD + "x",
                                        "csrf": "x"})
    out = log_output.getvalue()
    # vgl_<key id>_<secret>; the secret itself may hold "_" (URL-safe base64).
    assert token not in out and token.split("_", 2)[2] not in out
    assert PASSWORD not in out
    requests = [x for x in _lines(log_output) if x["event"] == "request"]
    assert len(requests) >= 6
    assert all(x["request_id"] and x["level"] == "info" for x in requests)
    assert {"method", "route", "status", "ms", "org"} <= set(requests[0])


def test_every_answer_has_a_request_id_on_its_log_lines(
        log_output: io.StringIO, db_url: str, data_dir: Path) -> None:
    with _client(db_url, data_dir) as client:
        ok = client.get("/healthz")
        missing = client.get("/v1/no-such-route")
        # Not from a trusted proxy: a caller's own id is not taken (nor is it anywhere).
        theirs = client.get("/healthz", headers={"X-Request-ID": "caller-chosen-id"})
    ids = [r.headers["X-Request-ID"] for r in (ok, missing, theirs)]
    assert len(set(ids)) == 3 and all(len(i) == 32 for i in ids)
    # Not in the body: a public route's answers stay the same, byte for byte, whoever asks.
    assert missing.json() == {"error": {"code": "not_found", "message": "no such route"}}
    assert "caller-chosen-id" not in log_output.getvalue()
    logged = {x["request_id"]: x for x in _lines(log_output) if x["event"] == "request"}
    assert logged[ids[0]]["route"] == "/healthz" and logged[ids[1]]["status"] == 404


def test_a_trusted_proxy_passes_its_request_id_on(log_output: io.StringIO, db_url: str,
                                                  data_dir: Path) -> None:
    app = create_app(Settings(database_url=db_url, data_dir=data_dir, environment="test",
                              trusted_proxies=["10.0.0.0/8"]))
    with TestClient(app, client=("10.1.2.3", 40000)) as proxy:
        kept = proxy.get("/healthz", headers={"X-Request-ID": "f3a9c2e1-7b4d-4e8a-9c0f-1d2e3f4a5b6c",
                                              "X-Forwarded-For": "203.0.113.9"})
        insane = proxy.get("/healthz", headers={"X-Request-ID": "a b\"c" + "x" * 200})
    with TestClient(app, client=("192.0.2.77", 40000)) as outsider:
        ignored = outsider.get("/healthz", headers={"X-Request-ID": "f3a9c2e1-outsider"})
    assert kept.headers["X-Request-ID"] == "f3a9c2e1-7b4d-4e8a-9c0f-1d2e3f4a5b6c"
    assert len(insane.headers["X-Request-ID"]) == 32 and "x" * 40 not in log_output.getvalue()
    assert ignored.headers["X-Request-ID"] != "f3a9c2e1-outsider"
    assert any(x.get("request_id") == "f3a9c2e1-7b4d-4e8a-9c0f-1d2e3f4a5b6c"
               for x in _lines(log_output))


def test_lines_logged_while_answering_carry_the_request_id(
        log_output: io.StringIO, db_url: str, data_dir: Path) -> None:
    """Everything logged on a request's behalf — here the refusal of a Redis that is down,
    logged deep in the limits — has that request's id."""
    from tests.fixtures.redis import closed_port

    with _client(db_url, data_dir, redis_url=f"redis://127.0.0.1:{closed_port()}/0") as client:
        r = client.post("/v1/public/url-reports", json={"url": "https://example.test/a"})
    assert r.status_code == 503
    failure = next(x for x in _lines(log_output) if x["event"].startswith("limit storage failed"))
    assert failure["request_id"] == r.headers["X-Request-ID"]
    assert failure["level"] == "error" and failure["logger"] == "vigil.limits"


def test_a_console_format_for_people_and_no_other() -> None:
    with pytest.raises(ValueError, match="json or console"):
        configure_logging("INFO", "xml")
    stream = io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        configure_logging("INFO", "console", stream=stream)
        get_logger("vigil.test").info("hello", password="hunter2", n=3)
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in handlers:
            root.addHandler(h)
        root.setLevel(level)
        structlog.reset_defaults()
    text = stream.getvalue()
    assert "hello" in text and "n=3" in text and "hunter2" not in text
