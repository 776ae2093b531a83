"""docs/operations.md walked as an operator walks it, without ``--demo``: a production
instance on PostgreSQL (``vigil db upgrade``, ``vigil init``), partners and keys from the
command line, the shipped ``vigil.service`` command behind the shipped nginx site (two server
workers, limits in Redis), a list with an indicator that two organisations verified, a
provider's key that matches through the proxy; then ``vigil backup``, ``vigil restore`` into
another data directory and database, ``vigil audit verify`` on the copy, and the copy serving
the same match."""

from __future__ import annotations

import base64
import os
import shlex
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.deploy.test_deploy import (
    NGINX,
    VIGIL,
    _directives,
    _free_port,
    _main_config,
    _need,
    _nginx,
    _replace,
    _site,
    _unit,
    _wait_for,
)
from tests.fixtures.db import _postgres_database
from vigil.matching.pdq import pdq_of
from vigil.samples import pattern_image


def _vigil(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run([str(VIGIL), *args], env=env, input=stdin, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"vigil {' '.join(args)}: {proc.stderr[-2000:]}"
    return proc.stdout


def _database() -> Iterator[str]:
    yield from _postgres_database()


@pytest.fixture
def two_databases() -> Iterator[tuple[str, str]]:
    first, second = _database(), _database()
    a, b = next(first), next(second)
    try:
        yield a, b
    finally:
        for gen in (first, second):
            for _ in gen:
                pass


def _serve(env: dict[str, str], log: Path, workers: int) -> tuple[subprocess.Popen[bytes], int]:
    """The unit's own command line, on a free port."""
    port = _free_port()
    command = _replace(dict(_directives(_unit("vigil.service")))["ExecStart"], "--port 8000",
                       f"--port {port}")
    command = _replace(command, "--workers 2", f"--workers {workers}")
    with log.open("wb") as out:
        server = subprocess.Popen(shlex.split(command), env=env, stdout=out,
                                  stderr=subprocess.STDOUT)
    _wait_for(f"http://127.0.0.1:{port}/healthz", server, "vigil serve", log)
    deadline = time.monotonic() + 120
    while httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "vigil serve did not become ready"
        time.sleep(0.2)
    return server, port


def _stop(*procs: subprocess.Popen[bytes]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _match(client: httpx.Client, base: str, token: str, pdq: str) -> dict[str, Any]:
    """The provider's match, once the workers' live indexes have the new indicator."""
    deadline = time.monotonic() + 30
    while True:
        r = client.post(f"{base}/v1/match", headers={"Authorization": f"Bearer {token}"},
                        json={"items": [{"signal_type": "pdq", "value": pdq}]})
        assert r.status_code == 200, r.text
        result: dict[str, Any] = r.json()["results"][0]
        if result["matches"] or time.monotonic() > deadline:
            return result
        time.sleep(0.25)


@pytest.mark.slow
def test_a_real_instance_from_init_to_a_restored_copy(tmp_path: Path,
                                                      two_databases: tuple[str, str]) -> None:
    _need(NGINX, "scripts/install --test installs Debian's nginx")
    source_db, copy_db = two_databases
    file_key = base64.b64encode(os.urandom(32)).decode()
    base_env = {**os.environ, "VIGIL_ENVIRONMENT": "production", "VIGIL_FILE_KEY": file_key,
                "VIGIL_TRUSTED_PROXIES": "127.0.0.1",
                "VIGIL_REDIS_URL": "redis://127.0.0.1:6379/0",
                "VIGIL_REDIS_KEY_PREFIX": f"vigil-walk-{uuid.uuid4().hex[:8]}"}
    env = {**base_env, "VIGIL_DATA_DIR": str(tmp_path / "data"), "VIGIL_DATABASE_URL": source_db}

    # First start: the schema, the Centre and its administrator; partners and their keys.
    _vigil(env, "db", "upgrade")
    _vigil(env, "init", "--centre", "Walk Centre", "--admin", "chief", "--password-stdin",
           stdin="a long passphrase for the head of the centre\n")
    _vigil(env, "org", "add", "Partner Hotline", "--kind", "partner_centre", "--country", "NL")
    _vigil(env, "org", "add", "Photo Host", "--kind", "provider", "--country", "DE")
    centre = _vigil(env, "key", "issue", "--org", "Walk Centre", "--scope", "lists:manage",
                    "--scope", "indicators:propose").strip()
    partner = _vigil(env, "key", "issue", "--org", "Partner Hotline", "--scope",
                     "indicators:review").strip()
    provider = _vigil(env, "key", "issue", "--org", "Photo Host", "--scope", "match").strip()
    assert all(k.startswith("vgl_") for k in (centre, partner, provider))

    picture = np.asarray(pattern_image(4242, (640, 480)))
    pdq, _ = pdq_of(picture)

    server, port = _serve(env, tmp_path / "serve.log", workers=2)
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    http, https = _free_port(), _free_port()
    config = _main_config(prefix, _site(prefix, http=http, https=https, upstream=port))
    with (prefix / "run.log").open("wb") as out:
        proxy = subprocess.Popen(_nginx(prefix, config), stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"https://127.0.0.1:{https}"
        _wait_for(f"http://127.0.0.1:{http}/", proxy, "nginx", prefix / "error.log")
        trust = ssl.create_default_context(cafile=str(prefix / "fullchain.pem"))
        with httpx.Client(verify=trust, timeout=30) as c:

            def call(token: str, method: str, path: str, body: Any = None) -> Any:
                r = c.request(method, f"{base}{path}", json=body,
                              headers={"Authorization": f"Bearer {token}"})
                assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
                return r.json()

            call(centre, "POST", "/v1/lists", {"name": "known-material", "trust": "verified"})
            proposed = call(centre, "POST", "/v1/indicators", {"items": [{
                "signal_type": "pdq", "value": pdq, "list": "known-material",
                "legal_basis": "Regulation (EU) 2024/1307", "label": "A1"}]})
            (indicator,) = proposed
            # The second organisation verifies: the hit may now be acted on.
            call(partner, "POST", f"/v1/indicators/{indicator['id']}/verify")
            hit = _match(c, base, provider, pdq)
            assert hit["verdict"] == "verified_match", hit
            assert [(m["list"], m["trust"], m["distance"]) for m in hit["matches"]] == [
                ("known-material", "verified", 0)]
            unknown = call(provider, "POST", "/v1/match", {"items": [
                {"signal_type": "pdq", "value": pdq_of(np.asarray(pattern_image(7, (640, 480))))[0]}]})
            assert unknown["results"][0]["matches"] == []

        # A backup while it runs.
        archive = tmp_path / "vigil-backup.tar.gz"
        _vigil(env, "backup", "--out", str(archive))
    finally:
        _stop(proxy, server)

    # Elsewhere: an empty data directory and database, the same file key.
    copy = {**base_env, "VIGIL_DATA_DIR": str(tmp_path / "restored"),
            "VIGIL_DATABASE_URL": copy_db}
    _vigil(copy, "restore", str(archive))
    verified = subprocess.run([str(VIGIL), "audit", "verify", "--no-state"], env=copy,
                              capture_output=True, text=True, timeout=300, check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    server, port = _serve(copy, tmp_path / "serve-copy.log", workers=1)
    try:
        with httpx.Client(timeout=30) as c:
            hit = _match(c, f"http://127.0.0.1:{port}", provider, pdq)
        # The copy answers the provider's key as the source did.
        assert hit["verdict"] == "verified_match" and hit["matches"][0]["indicator_id"] == \
            indicator["id"]
    finally:
        _stop(server)
