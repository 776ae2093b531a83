"""Staff accounts: password sign-in, lockout, sessions, CSRF, sign-out, roles bounded by the
organisation's kind."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import make_client
from tests.fixtures.workspace import PASSWORD, build_workspace, form_token, sign_in
from tests.fixtures.world import build_world
from vigil import passwords
from vigil.audit.models import AuditEvent
from vigil.clock import now
from vigil.db import transaction
from vigil.errors import Invalid, RateLimited
from vigil.orgs import accounts, staff
from vigil.orgs.access import Scope
from vigil.orgs.models import StaffAccount, WebSession


def _login(client: TestClient, username: str, password: str) -> object:
    page = client.get("/app/login")
    return client.post("/app/login", data={"username": username, "password": password,
                                           "csrf": form_token(page.text)}, follow_redirects=False)


def test_sign_in_sets_a_private_session_cookie(client: TestClient, factory: sessionmaker[Session],
                                               data_dir: Path) -> None:
    build_workspace(factory, data_dir)
    r = _login(client, "otto", PASSWORD)  # an auditor: no second factor needed
    assert r.status_code == 303 and r.headers["location"] == "/app/"
    cookie = r.headers["set-cookie"]
    assert "vigil_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    page = client.get("/app/")
    assert page.status_code == 200 and "Otto" in page.text
    with factory() as s:  # only the token's hash is stored
        (stored,) = s.scalars(select(WebSession.id))
        assert stored != client.cookies.get("vigil_session") and len(stored) == 64
        assert s.scalar(select(StaffAccount.password_hash)).startswith("$argon2id$")


def test_wrong_password_and_unknown_user_look_the_same(client: TestClient,
                                                       factory: sessionmaker[Session],
                                                       data_dir: Path) -> None:
    build_workspace(factory, data_dir)
    wrong = _login(client, "rita", "not the password")
    unknown = _login(client, "nobody", "not the password")
    assert wrong.status_code == unknown.status_code == 401  # type: ignore[attr-defined]
    assert "Wrong username or password." in wrong.text  # type: ignore[attr-defined]
    assert "Wrong username or password." in unknown.text  # type: ignore[attr-defined]
    assert client.get("/app/", follow_redirects=False).status_code == 303


def test_repeated_failures_block_only_their_source_and_answer_like_a_wrong_password(
        db_url: str, data_dir: Path, factory: sessionmaker[Session]) -> None:
    build_workspace(factory, data_dir)
    with make_client(db_url, data_dir, login_max_failures=3, login_lockout_minutes=15) as client:
        wrong = [_login(client, "rita", "guess") for _ in range(3)]
        assert {r.status_code for r in wrong} == {401}  # type: ignore[attr-defined]
        # Blocked from here: even the right password fails — with the very same answer, so
        # nobody learns that the account exists or is being guessed at.
        blocked = _login(client, "rita", PASSWORD)
        assert blocked.status_code == 401  # type: ignore[attr-defined]
        assert "Wrong username or password." in blocked.text  # type: ignore[attr-defined]
        unknown = _login(client, "nobody-at-all", "guess")
        assert unknown.status_code == 401  # type: ignore[attr-defined]
        # Rita, signing in from her own address, is not locked out by someone else's guesses.
        state = client.app.state.vigil  # type: ignore[attr-defined]
        with transaction(factory) as s:
            ok = accounts.sign_in(s, state.settings, "rita", PASSWORD, source="10.1.2.3",
                                  throttle=state.login_throttle)
        assert ok.ok
    with factory() as s:
        actions = list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions.count("account:sign_in_failed") == 4 and "account:locked" in actions


def test_forms_need_the_session_token_and_the_same_origin(client: TestClient,
                                                          factory: sessionmaker[Session],
                                                          data_dir: Path) -> None:
    ws = build_workspace(factory, data_dir, reports=1)
    token = sign_in(client, "rita")
    url = f"/app/review/{ws.reports[0]}/decision"
    body = {"decision": "not_material", "reason": "benign"}
    r = client.post(url, data=body, follow_redirects=False)
    assert r.status_code == 403 and "form expired" in r.text
    r = client.post(url, data={**body, "csrf": "forged"}, follow_redirects=False)
    assert r.status_code == 403
    r = client.post(url, data={**body, "csrf": token}, follow_redirects=False,
                    headers={"Origin": "https://elsewhere.example"})
    assert r.status_code == 403
    # The sign-in form has its own token (no session yet).
    client.cookies.clear()
    r = client.post("/app/login", data={"username": "rita", "password": PASSWORD, "csrf": "x"})
    assert r.status_code == 403
    token = sign_in(client, "rita")
    r = client.post(url, data={**body, "csrf": token}, follow_redirects=False)
    assert r.status_code == 303


def test_sign_out_ends_the_session_everywhere(client: TestClient, factory: sessionmaker[Session],
                                              data_dir: Path) -> None:
    build_workspace(factory, data_dir)
    token = sign_in(client, "rita")
    stolen = client.cookies.get("vigil_session")
    r = client.post("/app/logout", data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 303 and "signed_out" in r.headers["location"]
    client.cookies.set("vigil_session", stolen or "")
    r = client.get("/app/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/app/login")


def test_idle_sessions_end(client: TestClient, factory: sessionmaker[Session],
                          data_dir: Path) -> None:
    build_workspace(factory, data_dir)
    sign_in(client, "rita")
    assert client.get("/app/", follow_redirects=False).status_code == 200
    with transaction(factory) as s:
        s.execute(update(WebSession).values(last_seen_at=now() - timedelta(minutes=31)))
    assert client.get("/app/", follow_redirects=False).status_code == 303


def test_revoking_the_accounts_credential_signs_it_out(client: TestClient,
                                                       factory: sessionmaker[Session],
                                                       data_dir: Path) -> None:
    ws = build_workspace(factory, data_dir)
    sign_in(client, "rita")
    with transaction(factory) as s:
        account = s.scalar(select(StaffAccount).where(StaffAccount.username == "rita"))
        assert account is not None
        from vigil.orgs import service as orgs
        orgs.revoke_key(s, ws.world.principals["centre"], account.api_key_id)
    assert client.get("/app/", follow_redirects=False).status_code == 303
    assert _login(client, "rita", PASSWORD).status_code == 401  # type: ignore[attr-defined]


def test_roles_are_bounded_by_the_organisation_kind(factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    with transaction(factory) as s:
        provider = w.principals["provider"].organisation_id
        with pytest.raises(Invalid, match="nothing to do"):
            accounts.create_account(s, None, provider, "pat", "officer", password=PASSWORD)
        admin = accounts.create_account(s, None, provider, "pat", "admin", password=PASSWORD)
        scopes = accounts.principal_of(admin.account).scopes
        assert Scope.REPORTS_SUBMIT in scopes and Scope.REPORTS_REVIEW not in scopes
        with pytest.raises(Invalid, match="at least 12"):
            accounts.create_account(s, None, provider, "sam", "admin", password="short")
        with pytest.raises(Invalid, match="must not contain the username"):
            accounts.create_account(s, None, provider, "sam", "admin", password="sam-is-my-password")
        with pytest.raises(Invalid, match="unknown role"):
            accounts.create_account(s, None, provider, "sam", "wizard", password=PASSWORD)
        generated = accounts.create_account(s, None, provider, "sam", "admin")
        assert len(generated.password) >= 16  # shown once, never stored
        assert generated.password not in generated.account.password_hash


def test_next_never_leaves_the_workspace(client: TestClient, factory: sessionmaker[Session],
                                         data_dir: Path) -> None:
    build_workspace(factory, data_dir)
    for target, expected in (("//evil.example/x", "/app/"), ("https://evil.example", "/app/"),
                             ("/app/indicators", "/app/indicators")):
        page = client.get("/app/login", params={"next": target})
        r = client.post("/app/login", data={"username": "otto", "password": PASSWORD,
                                            "csrf": form_token(page.text), "next": target},
                        follow_redirects=False)
        assert r.headers["location"] == expected
        client.cookies.clear()


def test_accounts_from_the_command_line_and_the_api(tmp_path: Path, client: TestClient,
                                                    factory: sessionmaker[Session]) -> None:
    import subprocess
    import sys

    data = tmp_path / "cli-data"
    url = f"sqlite:///{data / 'vigil.db'}"
    env = {"VIGIL_DATA_DIR": str(data), "PATH": "/usr/bin:/bin"}
    from vigil.db import make_engine, session_factory
    from vigil.migrations import upgrade
    from vigil.orgs import service as orgs
    from vigil.orgs.access import OrgKind

    data.mkdir()
    upgrade(url)
    engine = make_engine(url)
    with transaction(session_factory(engine)) as s:  # an initialised instance, and a partner
        orgs.create_organisation(s, None, "Centre", OrgKind.CENTRE)
        orgs.create_organisation(s, None, "LKA", OrgKind.AUTHORITY, "DE")
    engine.dispose()

    def vigil(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "vigil", "account", "add", *args],
                              capture_output=True, text=True, env=env, timeout=120, check=False)

    ok = vigil("--organisation", "LKA", "--username", "dora", "--role", "officer")
    assert ok.returncode == 0, ok.stderr
    password = ok.stdout.strip()
    assert len(password) >= 16 and "shown once" in ok.stderr
    bad = vigil("--organisation", "LKA", "--username", "dora2", "--role", "reviewer")
    assert bad.returncode == 2 and "nothing to do" in bad.stderr
    missing = vigil("--organisation", "Nope", "--username", "x", "--role", "officer")
    assert missing.returncode == 2 and "no organisation named 'Nope'" in missing.stderr
    # The API: the Centre creates accounts for an organisation; others may not.
    from tests.fixtures.api import auth

    w = build_world(factory)
    de = w.principals["authority_de"].organisation_id
    r = client.post(f"/v1/orgs/{de}/accounts", headers=auth(w.tokens["centre"]),
                    json={"username": "erik", "role": "officer", "locale": "de"})
    assert r.status_code == 201 and r.json()["scopes"] == ["log:read", "reports:receive"]
    assert sign_in(client, "erik", r.json()["password"])
    r = client.post(f"/v1/orgs/{de}/accounts", headers=auth(w.tokens["provider"]),
                    json={"username": "mallory", "role": "admin"})
    assert r.status_code == 403


def test_a_flood_of_usernames_never_resets_a_sources_budget() -> None:
    """Trying a new username each time does not help an attacker: the source's own budget
    (ten times the per-username one) runs out, and another address is not affected."""
    throttle = accounts.LoginThrottle(max_failures=2, minutes=15)
    for i in range(19):
        throttle.failed("198.51.100.7", f"user{i}")
    throttle.check_source("198.51.100.7")  # 19 of 20: still allowed
    throttle.failed("198.51.100.7", "user-last")
    with pytest.raises(RateLimited) as caught:
        throttle.check_source("198.51.100.7")
    assert 0 < caught.value.details["retry_after"] <= 15 * 60
    throttle.check_source("198.51.100.8")


def test_passwords_are_checked_outside_the_write_transaction(
        client: TestClient, factory: sessionmaker[Session], data_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id takes tens of milliseconds: a sign-in must not hold the database's write lock
    (on SQLite, one for the whole database) while it hashes."""
    from vigil.db import _WRITE_LOCKS

    build_workspace(factory, data_dir)
    state = client.app.state.vigil  # type: ignore[attr-defined]
    lock = _WRITE_LOCKS.get(state.engine)
    held: list[bool] = []
    real = passwords._hasher

    class Spy:  # each argon2 computation: a verification, or an unknown name's equal work
        def verify(self, stored: str, password: str) -> bool:
            held.append(lock.locked() if lock is not None else False)
            return real.verify(stored, password)

        def hash(self, password: str) -> str:
            held.append(lock.locked() if lock is not None else False)
            return real.hash(password)

        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

    monkeypatch.setattr(passwords, "_hasher", Spy())
    assert _login(client, "otto", PASSWORD).status_code == 303  # type: ignore[attr-defined]
    assert _login(client, "otto", "wrong password!!").status_code == 401  # type: ignore[attr-defined]
    assert _login(client, "nobody", "wrong password!!").status_code == 401  # type: ignore[attr-defined]
    assert held == [False, False, False]
    # A password changed between the check and the transaction does not count.
    with factory() as s:
        checked = accounts.check_password_of(s, "otto", PASSWORD)
    with transaction(factory) as s:
        staff.reset_password(s, None, staff.find_account(s, "otto"), "a brand new passphrase")
    with transaction(factory) as s:
        assert not accounts.sign_in(s, state.settings, "otto", PASSWORD, checked=checked).ok
