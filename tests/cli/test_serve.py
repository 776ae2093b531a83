"""The server as a user runs it: `vigil serve --demo` in its own process, then the provider's
and the auditor's tools against it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from vigil.bench.server import free_port, loaded_indicators
from vigil.samples import encode, pattern_image


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data = tmp_path_factory.mktemp("serve")
    port = free_port()
    env = {**os.environ, "VIGIL_DATA_DIR": str(data), "VIGIL_PUBLIC_REPORTS_PER_HOUR": "3"}
    env.pop("VIGIL_DATABASE_URL", None)
    log = open(data / "server.log", "wb")  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen([sys.executable, "-m", "vigil", "serve", "--demo", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if loaded_indicators(base) > 0:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"server did not start: {(data / 'server.log').read_text()}")
            time.sleep(0.2)
        yield base, data
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def _keys(data: Path) -> dict[str, str]:
    rows = json.loads((data / "demo-keys.json").read_text())["keys"]
    return {r["kind"]: r["key"] for r in rows}


def _get(url: str, token: str | None = None) -> bytes:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
        return bytes(r.read())


def vigil(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vigil", *args], capture_output=True, text=True,
                          timeout=300, check=False)


def test_demo_keys_are_written_privately(server: tuple[str, Path]) -> None:
    _, data = server
    assert (data / "demo-keys.json").stat().st_mode & 0o777 == 0o600
    assert set(_keys(data)) >= {"centre", "partner_centre", "provider", "authority", "auditor"}


def test_provider_matches_locally_against_a_signed_snapshot(server: tuple[str, Path],
                                                            tmp_path: Path) -> None:
    base, data = server
    token = _keys(data)["provider"]
    snap = tmp_path / "known-material.json"
    snap.write_bytes(_get(base + "/v1/lists/known-material/snapshot", token))
    key = tmp_path / "log-key.pem"
    key.write_bytes(_get(base + "/v1/log/key"))
    query = tmp_path / "listed.jpg"
    query.write_bytes(encode(pattern_image(1003)))  # the demo list is made from these scenes
    proc = vigil("match", "--list", str(snap), "--public-key", str(key), str(query))
    assert proc.returncode == 0, proc.stderr
    assert "signature verified" in proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert {r["signal_type"] for r in rows} == {"md5", "pdq"}
    # A snapshot altered after download is refused.
    obj = json.loads(snap.read_text())
    obj["entries"] = obj["entries"][1:]
    snap.write_text(json.dumps(obj))
    proc = vigil("match", "--list", str(snap), "--public-key", str(key), str(query))
    assert proc.returncode == 2 and "signature is invalid" in proc.stderr
    # With a byte-order mark and CRLF line ends: the list reader took it for a snapshot (and
    # its trust), the signature check did not even look. One reader now serves both.
    snap.write_bytes(b"\xef\xbb\xbf" + json.dumps(obj, indent=1).replace("\n", "\r\n").encode())
    proc = vigil("match", "--list", str(snap), "--public-key", str(key), str(query))
    assert proc.returncode == 2 and "signature is invalid" in proc.stderr, proc.stderr
    proc = vigil("match", "--list", str(snap), str(query))
    assert "is a vigil snapshot; give --public-key" in proc.stderr, proc.stderr


def test_audit_verify_against_the_server(server: tuple[str, Path], tmp_path: Path) -> None:
    base, data = server
    state = tmp_path / "heads.json"
    args = ("audit", "verify", "--url", base, "--key", _keys(data)["auditor"], "--state", str(state))
    proc = vigil(*args)
    assert proc.returncode == 0, proc.stderr
    assert "OK:" in proc.stderr and "(12 active)" in proc.stderr and "audit events" in proc.stderr
    kept = json.loads(state.read_text())  # the auditor keeps the head it verified ...
    assert len(kept) == 1
    proc = vigil(*args)  # ... and the next run proves the log still contains it
    assert proc.returncode == 0, proc.stderr
    assert "consistent with the head of size" in proc.stderr
    proc = vigil("audit", "verify", "--url", base, "--key", "vgl_bad_key", "--no-state")
    assert proc.returncode != 0


def test_metrics_and_structured_logs(server: tuple[str, Path]) -> None:
    base, data = server
    # A request of its own (under pytest-xdist the other tests may run on another worker).
    _get(base + "/v1/lists/known-material/snapshot", _keys(data)["provider"])
    body = _get(base + "/metrics").decode()
    assert "vigil_index_indicators 12.0" in body
    log = (data / "server.log").read_text()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    requests = [r for r in lines if r["event"] == "request"]
    assert any(r["route"] == "/v1/lists/{name}/snapshot" and r["status"] == 200 for r in requests)
    assert all(len(r["request_id"]) == 32 and r["logger"] == "vigil.http" for r in requests)
    assert all("authorization" not in line.lower() for line in log.splitlines())
    assert _keys(data)["provider"] not in log


def test_demo_accounts_sign_in_to_the_workspace(server: tuple[str, Path]) -> None:
    import http.cookiejar
    import re
    import urllib.parse

    import pyotp

    base, data = server
    accounts = json.loads((data / "demo-keys.json").read_text())["accounts"]
    reviewer = next(a for a in accounts if a["username"] == "reviewer")
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{base}/app/login", timeout=30) as r:
        token = re.search(r'name="csrf" value="([^"]+)"', r.read().decode()).group(1)  # type: ignore[union-attr]
    form = urllib.parse.urlencode({"username": "reviewer", "password": reviewer["password"],
                                   "csrf": token}).encode()
    with opener.open(f"{base}/app/login", data=form, timeout=30) as r:
        page = r.read().decode()
    # A reviewer signs in with a second factor: the demo enrolled one, in demo-keys.json.
    assert "one-time-code" in page
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    code = pyotp.TOTP(reviewer["totp_secret"]).now()
    form = urllib.parse.urlencode({"code": code, "csrf": token}).encode()
    with opener.open(f"{base}/app/login/code", data=form, timeout=30) as r:
        page = r.read().decode()
    assert "Waiting for review" in page  # the dashboard, after the redirect
    with opener.open(f"{base}/app/review", timeout=30) as r:
        queue = r.read().decode()
    assert queue.count("/app/review/") >= 4  # the demo's reports wait for review


def test_a_forwarded_for_header_does_not_make_a_new_client(server: tuple[str, Path]) -> None:
    """Per-address limits (and the sign-in throttle) key on the socket's peer unless the
    operator names a trusted proxy (VIGIL_TRUSTED_PROXIES): a header is not an address."""
    base, _ = server
    codes = []
    for i in range(5):
        req = urllib.request.Request(
            base + "/v1/public/url-reports", method="POST",
            data=json.dumps({"url": f"https://example.org/{i}"}).encode(),
            headers={"Content-Type": "application/json", "X-Forwarded-For": f"10.9.9.{i}"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                codes.append(r.status)
        except urllib.error.HTTPError as exc:
            codes.append(exc.code)
    assert codes == [202, 202, 202, 429, 429]
