"""The second factor of staff sign-in (both databases): enrolment, codes, reused and wrong
codes, recovery codes, the throttle, waiting sessions that open nothing, and what the Centre's
API does to accounts (disable, enable, reset)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth, make_client
from tests.fixtures.workspace import (
    PASSWORD,
    build_workspace,
    form_token,
    fresh_code,
    sign_in,
    totp_secret,
)
from vigil.audit.models import AuditEvent
from vigil.clock import now
from vigil.db import transaction
from vigil.orgs import accounts, second_factor, staff
from vigil.orgs import service as orgs
from vigil.orgs.access import SECOND_FACTOR_SCOPES, OrgKind, Scope
from vigil.orgs.models import StaffAccount, WebSession


def _password(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """The first step; returns where it sends the browser."""
    client.cookies.clear()
    page = client.get("/app/login")
    r = client.post("/app/login", data={"username": username, "password": password,
                                        "csrf": form_token(page.text)}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return str(r.headers["location"])


def _code(client: TestClient, code: str, page: str = "/app/login/code") -> object:
    form = client.get(page)
    return client.post("/app/login/code", data={"code": code, "csrf": form_token(form.text)},
                       follow_redirects=False)


def _actions(factory: sessionmaker[Session]) -> list[str]:
    with factory() as s:
        return list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def _new_officer(factory: sessionmaker[Session], org_id: int, username: str = "dora") -> None:
    with transaction(factory) as s:
        accounts.create_account(s, None, org_id, username, "officer", password=PASSWORD)


def test_which_roles_need_a_second_factor(factory: sessionmaker[Session], data_dir: Path) -> None:
    ws = build_workspace(factory, data_dir)
    with factory() as s:
        needs = {a.username: second_factor.requires_second_factor(a)
                 for a in s.scalars(select(StaffAccount))}
        assert needs == {"rita": True, "carl": True, "paula": True, "dieter": True,
                         "francoise": True, "eva": True, "otto": False}
    with transaction(factory) as s:
        provider = ws.world.principals["provider"].organisation_id
        admin = accounts.create_account(s, None, provider, "pat", "admin", password=PASSWORD)
        # A provider's admin sees no reports and decides nothing about indicators.
        assert not second_factor.requires_second_factor(admin.account)
        assert not accounts.principal_of(admin.account).scopes & SECOND_FACTOR_SCOPES
    assert {Scope.REPORTS_REVIEW, Scope.REPORTS_RECEIVE, Scope.INDICATORS_REVIEW,
            Scope.PREVENTION_REVIEW} <= SECOND_FACTOR_SCOPES
    with transaction(factory) as s:
        # The prevention hub's editor publishes at once to the public: a second factor too;
        # a practitioner, who only proposes, signs in with the password.
        centre = ws.world.principals["centre"].organisation_id
        editor = accounts.create_account(s, None, centre, "edith", "editor", password=PASSWORD)
        assert second_factor.requires_second_factor(editor.account)
        practice = orgs.create_organisation(s, None, "Practice Z", OrgKind.PRACTITIONER)
        pia = accounts.create_account(s, None, practice.id, "pia", "practitioner",
                                      password=PASSWORD)
        assert not second_factor.requires_second_factor(pia.account)


def test_enrolment_is_the_only_page_until_done(client: TestClient, factory: sessionmaker[Session],
                                               data_dir: Path) -> None:
    ws = build_workspace(factory, data_dir)
    _new_officer(factory, ws.world.principals["authority_de"].organisation_id)
    assert _password(client, "dora") == "/app/login/enrol"
    # The session waits: no page opens, the sign-in page sends it back to the enrolment.
    for path in ("/app/inbox", "/app/", "/app/indicators"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/app/login"), path
    r = client.get("/app/login", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/app/login/enrol"
    assert client.get("/app/login/code", follow_redirects=False).headers["location"] == \
        "/app/login/enrol"
    page = client.get("/app/login/enrol")
    assert page.status_code == 200 and "<svg" in page.text
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page.text).group(1)  # type: ignore[union-attr]
    assert f"otpauth://totp/vigil:dora?secret={secret}" in page.text.replace("&amp;", "&")
    # The secret is sealed at rest, like other personal data.
    with factory() as s:
        stored = s.execute(text("SELECT totp_secret FROM staff_accounts WHERE username='dora'")).scalar()
        assert stored.startswith("pd1:") and secret not in stored
    wrong = _code(client, "000000" if second_factor.code_at(secret, now()) != "000000" else "111111",
                  "/app/login/enrol")
    assert wrong.status_code == 401 and "Wrong code" in wrong.text  # type: ignore[attr-defined]
    assert client.get("/app/inbox", follow_redirects=False).status_code == 303
    done = _code(client, fresh_code(factory, "dora", secret), "/app/login/enrol")
    assert done.status_code == 200  # type: ignore[attr-defined]
    codes = re.findall(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>", done.text)  # type: ignore[attr-defined]
    assert len(codes) == len(set(codes)) == 10
    assert client.get("/app/inbox").status_code == 200  # a complete session now
    with factory() as s:
        account = s.scalar(select(StaffAccount).where(StaffAccount.username == "dora"))
        assert account is not None and account.totp_enrolled_at is not None
        stored_codes = s.execute(text("SELECT code_hash FROM staff_recovery_codes")).scalars().all()
        assert len(stored_codes) == 10 and not set(codes) & set(stored_codes)
    actions = _actions(factory)
    assert "account:second_factor_enrolled" in actions and "account:second_factor_failed" in actions
    # From now on the sign-in asks for a code.
    assert _password(client, "dora") == "/app/login/code"


def test_sign_in_with_a_code_and_a_code_is_good_once(client: TestClient,
                                                     factory: sessionmaker[Session],
                                                     data_dir: Path) -> None:
    build_workspace(factory, data_dir)
    assert _password(client, "rita") == "/app/login/code"
    assert client.get("/app/", follow_redirects=False).status_code == 303
    code = fresh_code(factory, "rita")
    r = _code(client, code)
    assert r.status_code == 303 and r.headers["location"] == "/app/"  # type: ignore[attr-defined]
    assert client.get("/app/").status_code == 200
    with factory() as s:  # the waiting session ended; a new token was issued for the full one
        sessions = s.scalars(select(WebSession).order_by(WebSession.created_at)).all()
        assert len(sessions) == 2 and sessions[0].ended_at and sessions[0].pending
        assert sessions[1].pending is None and sessions[1].ended_at is None
    # The same code again, within its 30 seconds: refused.
    assert _password(client, "rita") == "/app/login/code"
    again = _code(client, code)
    assert again.status_code == 401 and "used already" in again.text  # type: ignore[attr-defined]
    assert client.get("/app/", follow_redirects=False).status_code == 303
    assert _actions(factory).count("account:signed_in") == 1


def test_wrong_codes_count_toward_the_sign_in_throttle(db_url: str, data_dir: Path,
                                                       factory: sessionmaker[Session]) -> None:
    build_workspace(factory, data_dir)
    right = second_factor.code_at(totp_secret("rita"), now())
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    with make_client(db_url, data_dir, login_max_failures=3) as client:
        _password(client, "rita")
        assert _code(client, wrong).status_code == 401  # type: ignore[attr-defined]
        assert _code(client, "not a code").status_code == 401  # type: ignore[attr-defined]
        # The password again does not buy fresh guesses at the code.
        _password(client, "rita")
        ended = _code(client, wrong)
        assert ended.status_code == 303  # type: ignore[attr-defined]
        assert ended.headers["location"] == "/app/login?expired=1"  # type: ignore[attr-defined]
        assert "sign in again" in client.get("/app/login?expired=1").text
        # Blocked for this source now: even the right password fails, like a wrong one.
        client.cookies.clear()
        page = client.get("/app/login")
        r = client.post("/app/login", data={"username": "rita", "password": PASSWORD,
                                            "csrf": form_token(page.text)})
        assert r.status_code == 401 and "Wrong username or password." in r.text
    actions = _actions(factory)
    assert actions.count("account:second_factor_failed") == 3 and "account:locked" in actions


def test_a_recovery_code_works_once(client: TestClient, factory: sessionmaker[Session],
                                    data_dir: Path) -> None:
    build_workspace(factory, data_dir)
    with transaction(factory) as s:
        codes = second_factor.new_recovery_codes(s, staff.find_account(s, "paula"))
    _password(client, "paula")
    r = _code(client, codes[3].upper().replace("-", " "))  # as a person might type it
    assert r.status_code == 303, r.text  # type: ignore[attr-defined]
    assert client.get("/app/indicators").status_code == 200
    _password(client, "paula")
    assert _code(client, codes[3]).status_code == 401  # type: ignore[attr-defined]
    assert _code(client, codes[4]).status_code == 303  # type: ignore[attr-defined]
    with factory() as s:
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "account:recovery_code_used")
                         .order_by(AuditEvent.id.desc()))
        assert event is not None and "8" in str(event.details)


def test_waiting_sessions_expire_and_can_be_given_up(client: TestClient,
                                                     factory: sessionmaker[Session],
                                                     data_dir: Path) -> None:
    build_workspace(factory, data_dir)
    _password(client, "rita")
    form = client.get("/app/login/code")
    r = client.post("/app/logout", data={"csrf": form_token(form.text)}, follow_redirects=False)
    assert r.status_code == 303
    with factory() as s:
        assert s.scalar(select(WebSession.ended_at)) is not None
    _password(client, "rita")
    with transaction(factory) as s:
        s.execute(update(WebSession).values(
            created_at=now() - timedelta(minutes=accounts.PENDING_MINUTES + 1)))
    r = client.get("/app/login/code", follow_redirects=False)
    assert r.headers["location"] == "/app/login?expired=1"
    r = client.post("/app/login/code", data={"code": fresh_code(factory, "rita"), "csrf": "x"},
                    follow_redirects=False)
    assert r.headers["location"] == "/app/login?expired=1"
    # A forged form token is refused before the code is looked at.
    _password(client, "rita")
    r = client.post("/app/login/code", data={"code": fresh_code(factory, "rita"), "csrf": "forged"})
    assert r.status_code == 403 and client.get("/app/", follow_redirects=False).status_code == 303


def test_the_centre_manages_accounts_through_the_api(client: TestClient,
                                                     factory: sessionmaker[Session],
                                                     data_dir: Path) -> None:
    ws = build_workspace(factory, data_dir)
    centre = auth(ws.world.tokens["centre"])
    listed = client.get("/v1/accounts", headers=centre).json()
    rita = next(a for a in listed if a["username"] == "rita")
    assert rita["second_factor"] == "enrolled" and not rita["disabled"]
    otto = next(a for a in listed if a["username"] == "otto")
    assert otto["second_factor"] == "none"
    de = ws.world.principals["authority_de"].organisation_id
    assert {a["username"] for a in client.get("/v1/accounts", params={"org_id": de},
                                               headers=centre).json()} == {"dieter"}
    orgs = client.get("/v1/orgs", headers=centre).json()
    assert {o["name"] for o in orgs} >= {"Centre", "LKA", "Europol"}
    keys = client.get("/v1/keys", params={"org_id": de}, headers=centre).json()
    assert {k["holder"] for k in keys} == {"authority_de", "account:dieter"}
    assert all(k["token"] is None for k in keys)
    for path in ("/v1/orgs", "/v1/keys", "/v1/accounts"):
        assert client.get(path, headers=auth(ws.world.tokens["provider"])).status_code == 403
        assert client.get(path).status_code == 401
    assert client.get("/v1/keys", params={"org_id": 0}, headers=centre).status_code == 422

    # Disabling ends the account's session at once, and it cannot sign in again.
    sign_in(client, "rita")
    assert client.get("/app/").status_code == 200
    r = client.post(f"/v1/accounts/{rita['id']}/disable", headers=centre)
    assert r.status_code == 200 and r.json()["disabled"]
    assert client.get("/app/", follow_redirects=False).status_code == 303
    client.cookies.clear()
    page = client.get("/app/login")
    r = client.post("/app/login", data={"username": "rita", "password": PASSWORD,
                                        "csrf": form_token(page.text)})
    assert r.status_code == 401
    assert client.post(f"/v1/accounts/{rita['id']}/disable", headers=centre).status_code == 409
    assert client.post(f"/v1/accounts/{rita['id']}/enable", headers=centre).status_code == 200
    assert client.post(f"/v1/accounts/{rita['id']}/enable", headers=centre).status_code == 409
    assert client.post("/v1/accounts/9999/enable", headers=centre).status_code == 404

    # A reset password is shown once and ends the sessions; a reset second factor is set up
    # again at the next sign-in.
    sign_in(client, "rita")
    r = client.post(f"/v1/accounts/{rita['id']}/reset-password", headers=centre)
    new = r.json()["password"]
    assert r.status_code == 200 and len(new) >= 16
    assert client.get("/app/", follow_redirects=False).status_code == 303
    r = client.post(f"/v1/accounts/{rita['id']}/reset-second-factor", headers=centre)
    assert r.status_code == 200 and r.json()["second_factor"] == "required"
    assert _password(client, "rita", new) == "/app/login/enrol"
    assert client.post(f"/v1/accounts/{rita['id']}/disable",
                       headers=auth(ws.world.tokens["partner"])).status_code == 403
