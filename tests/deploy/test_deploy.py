"""The shipped deployment files work: the systemd units pass ``systemd-analyze verify`` and run
real ``vigil`` commands; the nginx site passes nginx's own ``-t`` check; and, end to end, the
real nginx in front of a real ``vigil serve`` passes on the client's address, which vigil
believes from the proxy it trusts and from nobody else.

The files under test are the shipped ones. Only what must differ on a test machine is replaced
(the install prefix, the listening ports, the certificate paths), each replacement checked to
hit exactly where expected, so that a changed file cannot slip past its test. nginx runs as
root from a temporary prefix (``-p``/``-c``/``-e``): nothing under /etc or /var is touched.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from vigil.config import Settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
UNITS = ("vigil.service", "vigil-worker@.service")
#: The install prefix the units name; a test machine's is this checkout.
SHIPPED_VIGIL = "/opt/vigil/.venv/bin/vigil"
VIGIL = Path(sys.executable).with_name("vigil")
SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _need(tool: str, how: str) -> None:
    if os.access(tool, os.X_OK):
        return
    if os.environ.get("CI"):
        pytest.fail(f"{tool} is required in CI ({how})")
    pytest.skip(f"{tool} is not installed ({how})")


def _replace(text: str, old: str, new: str, count: int = 1) -> str:
    """``text`` with ``old`` replaced by ``new``, which must occur exactly ``count`` times."""
    assert text.count(old) == count, f"expected {count} of {old!r} in the shipped file"
    return text.replace(old, new)


def _unit(name: str) -> str:
    """A shipped unit, pointed at this checkout's ``vigil``."""
    return _replace((DEPLOY / "systemd" / name).read_text(), SHIPPED_VIGIL, str(VIGIL))


def _directives(unit: str, section: str = "Service") -> list[tuple[str, str]]:
    out, current = [], None
    for line in unit.splitlines():
        line = line.strip()
        if line.startswith("["):
            current = line.strip("[]")
        elif line and not line.startswith("#") and current == section:
            key, _, value = line.partition("=")
            out.append((key, value))
    return out


# --- systemd ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", UNITS)
def test_the_units_pass_systemd_analyze_verify(name: str, tmp_path: Path) -> None:
    _need(SYSTEMD_ANALYZE, "Debian's systemd")
    (tmp_path / name).write_text(_unit(name))
    target = tmp_path / name.replace("@.", "@1.")  # a template is verified as an instance
    proc = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", str(target)], capture_output=True,
                          text=True, timeout=60, check=False)
    # Unknown or malformed directives are warnings with exit status 0: none is allowed.
    assert proc.returncode == 0 and not proc.stderr.strip() and not proc.stdout.strip(), \
        proc.stdout + proc.stderr


def test_a_broken_unit_fails_the_same_check(tmp_path: Path) -> None:
    """The check above can fail: a missing program and a misspelt directive are both caught."""
    _need(SYSTEMD_ANALYZE, "Debian's systemd")
    bad = tmp_path / "vigil.service"
    bad.write_text(_unit("vigil.service").replace("ProtectSystem=strict", "ProtectSystem=strictly")
                   .replace(str(VIGIL), "/nonexistent/vigil"))
    proc = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", str(bad)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode != 0 and "/nonexistent/vigil" in proc.stderr
    assert "protect system" in proc.stderr.lower()


@pytest.mark.parametrize("name", UNITS)
def test_the_units_run_real_vigil_commands(name: str) -> None:
    """Each ExecStart= is a command line vigil accepts (its options exist)."""
    directives = _directives(_unit(name))
    command = dict(directives)["ExecStart"]
    for assignment in [a for key, value in directives if key == "Environment" for a in shlex.split(value)]:
        key, _, value = assignment.partition("=")
        command = command.replace("${" + key + "}", value)
    assert "${" not in command, command
    proc = subprocess.run([*shlex.split(command), "--help"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_server_and_workers_run_alike() -> None:
    """The worker unit differs from the server's only in what it runs: same user, settings,
    folders and hardening."""
    own = {"ExecStart", "Environment", "TimeoutStopSec"}
    server = [d for d in _directives(_unit("vigil.service")) if d[0] not in own]
    worker = [d for d in _directives(_unit("vigil-worker@.service")) if d[0] not in own]
    assert server == worker
    settings = dict(server)
    assert settings["User"] == "vigil" and settings["EnvironmentFile"] == "/etc/vigil/vigil.env"
    assert settings["ProtectSystem"] == "strict" and settings["NoNewPrivileges"] == "yes"
    assert settings["Restart"] == "on-failure"
    # The data folder of the example settings is the one the units may write.
    env = _env_example()
    assert settings["ReadWritePaths"] == settings["WorkingDirectory"] == env["VIGIL_DATA_DIR"]


# --- the example settings -----------------------------------------------------------------------

def _env_example() -> dict[str, str]:
    out = {}
    for line in (DEPLOY / "vigil.env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key] = value
    return out


def test_the_example_settings_are_real_settings() -> None:
    example = (DEPLOY / "vigil.env.example").read_text()
    named = set(re.findall(r"^#?(VIGIL_[A-Z0-9_]+)=", example, re.M))
    known = {f"VIGIL_{n.upper()}" for n in Settings.model_fields}
    assert named and named <= known, named - known
    # They parse (the secrets' placeholders aside, which production refuses at start).
    Settings(_env_file=DEPLOY / "vigil.env.example")  # type: ignore[call-arg]


def test_vigil_admin_runs_a_command_as_the_service_user_with_the_settings_file() -> None:
    """deploy/vigil-admin, as the guide uses it for `vigil init`: the command runs as the
    service's user (here ``nobody``) in the data folder, with the settings file's values — a
    JSON value in single quotes included — and nothing from the caller's environment."""
    if os.geteuid() != 0 or not shutil.which("runuser"):
        pytest.skip("vigil-admin needs root and runuser")
    import pwd
    import tempfile

    # nobody, where it can run this checkout's vigil; else (an interpreter under /root, as on
    # some development machines) root, which still checks everything but the change of user.
    probe = subprocess.run(["runuser", "-u", "nobody", "--", str(VIGIL), "--help"], capture_output=True,
                           timeout=120, check=False)
    nobody = pwd.getpwnam("nobody" if probe.returncode == 0 else "root")
    data = Path(tempfile.mkdtemp(prefix="vigil-admin-", dir="/tmp"))
    try:
        os.chown(data, nobody.pw_uid, nobody.pw_gid)
        env_file = data.parent / f"{data.name}.env"
        env_file.write_text(f"VIGIL_DATA_DIR={data}\n"
                            "VIGIL_WEBHOOKS='{\"DE\": \"https://authority.example/in box\"}'\n")
        env_file.chmod(0o644)
        proc = subprocess.run(
            [str(DEPLOY / "vigil-admin"), "init", "--centre", "Test Centre", "--admin", "chief"],
            capture_output=True, text=True, timeout=180, check=False,
            env={**os.environ, "VIGIL_ADMIN_HOME": str(VIGIL.parents[2]), "VIGIL_ADMIN_ENV": str(env_file),
                 "VIGIL_ADMIN_USER": nobody.pw_name, "VIGIL_ADMIN_DIR": str(data),
                 "VIGIL_TRUSTED_PROXIES": "not-an-address"})  # the caller's settings do not count
        assert proc.returncode == 0, proc.stderr
        for made in ("vigil.db", "file-encryption.key"):
            assert (data / made).stat().st_uid == nobody.pw_uid, made
        assert (data / "file-encryption.key").stat().st_mode & 0o077 == 0
    finally:
        shutil.rmtree(data, ignore_errors=True)
        (data.parent / f"{data.name}.env").unlink(missing_ok=True)


# --- nginx --------------------------------------------------------------------------------------

def _certificate(folder: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for vigil.example.org and 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vigil.example.org")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("vigil.example.org"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    chain, private = folder / "fullchain.pem", folder / "privkey.pem"
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    private.chmod(0o600)
    return chain, private


def _site(prefix: Path, *, http: int | None = None, https: int | None = None,
          upstream: int | None = None) -> Path:
    """The shipped site with this test's certificate (and, to run it, its ports)."""
    chain, private = _certificate(prefix)
    site = (DEPLOY / "nginx" / "vigil.conf").read_text()
    site = _replace(site, "/etc/ssl/vigil/fullchain.pem", str(chain))
    site = _replace(site, "/etc/ssl/vigil/privkey.pem", str(private))
    if http is not None and https is not None and upstream is not None:
        site = _replace(site, "listen 80;", f"listen 127.0.0.1:{http};")
        site = _replace(site, "listen 443 ssl;", f"listen 127.0.0.1:{https} ssl;")
        # IPv6 may be missing on a test machine; the IPv4 ones carry the test.
        site = _replace(site, "listen [::]:80;", "")
        site = _replace(site, "listen [::]:443 ssl;", "")
        site = _replace(site, "server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream};")
    path = prefix / "vigil.conf"
    path.write_text(site)
    return path


def _main_config(prefix: Path, site: Path) -> Path:
    """A minimal nginx.conf of the temporary prefix that includes the site, as Debian's
    includes sites-enabled/*; every file nginx writes lies in the prefix."""
    temp = "\n".join(f"    {kind}_temp_path {prefix / kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    path = prefix / "nginx.conf"
    path.write_text(f"""daemon off;
master_process off;
pid {prefix / 'nginx.pid'};
error_log {prefix / 'error.log'} warn;
events {{ worker_connections 64; }}
http {{
    access_log {prefix / 'access.log'};
{temp}
    include {site};
}}
""")
    return path


def _nginx(prefix: Path, config: Path, *args: str) -> list[str]:
    return [NGINX, "-p", str(prefix), "-c", str(config), "-e", str(prefix / "error.log"), *args]


def test_the_proxy_configuration_passes_nginx_t(tmp_path: Path) -> None:
    _need(NGINX, "scripts/install --test installs Debian's nginx")
    config = _main_config(tmp_path, _site(tmp_path))
    proc = subprocess.run(_nginx(tmp_path, config, "-t"), capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "syntax is ok" in proc.stderr and "test is successful" in proc.stderr
    assert "[warn]" not in proc.stderr and "[emerg]" not in proc.stderr, proc.stderr


def test_the_proxy_lets_through_what_vigil_accepts() -> None:
    """client_max_body_size is vigil's own limits (their defaults), on the same routes."""
    site = (DEPLOY / "nginx" / "vigil.conf").read_text()
    sizes = [int(m) * 1024 * 1024 for m in re.findall(r"client_max_body_size (\d+)m;", site)]
    defaults = Settings()
    assert sizes == [defaults.max_request_bytes, defaults.max_report_bytes]
    uploads = re.search(r"location ~ (\S+) \{", site)
    assert uploads is not None
    pattern = re.compile(uploads.group(1))
    # The routes vigil gives the larger limit (app.py: ObserveMiddleware), and others.
    assert pattern.match("/v1/reports/abc/files") and pattern.match("/v1/reports/multipart")
    assert not pattern.match("/v1/reports") and not pattern.match("/v1/match")


# --- end to end ---------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(url: str, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        assert proc.poll() is None, f"{what} stopped: {log.read_text(errors='replace')[-3000:]}"
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"{what} did not start"
            time.sleep(0.2)


@dataclass
class Stack:
    proxy: str
    plain: str
    direct: str
    certificate: Path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """``vigil init`` and ``vigil serve`` (the unit's command line, on a free port, one server
    worker so that the per-address limit is counted in one place) behind the shipped nginx
    site, with VIGIL_TRUSTED_PROXIES naming the proxy (127.0.0.1)."""
    _need(NGINX, "scripts/install --test installs Debian's nginx")
    root = tmp_path_factory.mktemp("stack")
    env = {**os.environ, "VIGIL_DATA_DIR": str(root / "data"), "VIGIL_TRUSTED_PROXIES": "127.0.0.1",
           "VIGIL_PUBLIC_REPORTS_PER_HOUR": "2", "VIGIL_METRICS_ALLOW": "127.0.0.5"}
    init = subprocess.run([str(VIGIL), "init", "--centre", "Test Centre", "--admin", "chief"],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert init.returncode == 0, init.stderr
    port, http, https = _free_port(), _free_port(), _free_port()
    command = _replace(dict(_directives(_unit("vigil.service")))["ExecStart"], "--port 8000",
                       f"--port {port}")
    command = _replace(command, "--workers 2", "--workers 1")
    server_log = root / "serve.log"
    with server_log.open("wb") as out:
        server = subprocess.Popen(shlex.split(command), env=env, stdout=out, stderr=subprocess.STDOUT)
    prefix = root / "nginx"
    prefix.mkdir()
    config = _main_config(prefix, _site(prefix, http=http, https=https, upstream=port))
    with (prefix / "run.log").open("wb") as out:
        proxy = subprocess.Popen(_nginx(prefix, config), stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz", server, "vigil serve", server_log)
        _wait_for(f"http://127.0.0.1:{http}/", proxy, "nginx", prefix / "error.log")
        yield Stack(f"https://127.0.0.1:{https}", f"http://127.0.0.1:{http}",
                    f"http://127.0.0.1:{port}", prefix / "fullchain.pem")
    finally:
        for p in (proxy, server):
            p.terminate()
        for p in (proxy, server):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _from(address: str, stack: Stack) -> httpx.Client:
    """A client whose connections come from ``address`` (any of 127.0.0.0/8 is this machine)."""
    trust = ssl.create_default_context(cafile=str(stack.certificate))
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address, verify=trust), timeout=30)


def _report(client: httpx.Client, base: str, forged: str | None = None) -> int:
    headers = {"X-Forwarded-For": forged} if forged else {}
    return client.post(f"{base}/v1/public/url-reports", json={"url": "https://example.invalid/page"},
                       headers=headers).status_code


def test_http_is_redirected_to_https(stack: Stack) -> None:
    with httpx.Client(timeout=30) as c:
        r = c.get(f"{stack.plain}/v1/lists?x=1", headers={"Host": "vigil.example.org"})
    assert r.status_code == 301
    assert r.headers["location"] == "https://vigil.example.org/v1/lists?x=1"


def test_through_the_trusted_proxy_the_client_is_the_forwarded_address(stack: Stack) -> None:
    """vigil's only peer is nginx (127.0.0.1); the per-address limit (2 an hour) still tells
    the clients behind it apart, and a client cannot pose as another by sending its own
    X-Forwarded-For through the proxy (nginx replaces it)."""
    with _from("127.0.0.2", stack) as a, _from("127.0.0.3", stack) as b:
        assert [_report(a, stack.proxy) for _ in range(2)] == [202, 202]
        assert _report(a, stack.proxy) == 429
        assert _report(a, stack.proxy, forged="198.51.100.7") == 429  # still 127.0.0.2
        assert _report(b, stack.proxy) == 202  # another client behind the same proxy
        # Metrics stay inside: the proxy answers for them itself.
        assert a.get(f"{stack.proxy}/metrics").status_code == 404


def test_directly_a_forged_forwarded_header_is_not_believed(stack: Stack) -> None:
    """A client that is not the proxy is its own address, whatever it claims: the limit counts
    it as one client, and it cannot borrow the monitoring's address to read /metrics."""
    with _from("127.0.0.4", stack) as c:
        assert [_report(c, stack.direct, forged=f"192.0.2.{i}") for i in range(1, 4)] == [202, 202, 429]
        r = c.get(f"{stack.direct}/metrics", headers={"X-Forwarded-For": "127.0.0.5"})
        assert r.status_code == 403
    with _from("127.0.0.5", stack) as monitoring:
        assert monitoring.get(f"{stack.direct}/metrics").status_code == 200


def test_the_proxy_keeps_no_log_of_what_the_reporting_channel_was_told(stack: Stack) -> None:
    """What a child chose on the reporting channel (the situation, the country) is in the page's
    address: the shipped nginx site writes no access-log line for /report, and still logs the
    rest (so an operator's log is not simply off)."""
    log = stack.certificate.parent / "access.log"
    with _from("127.0.0.1", stack) as client:
        assert client.get(f"{stack.proxy}/report/help?what=pictures_threat&country=DE").status_code == 200
        assert client.get(f"{stack.proxy}/healthz").status_code == 200
    deadline = time.monotonic() + 10
    while "/healthz" not in (text := log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "nginx logged nothing at all"
        time.sleep(0.1)
    assert "/report" not in text and "pictures_threat" not in text
