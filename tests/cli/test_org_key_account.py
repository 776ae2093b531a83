"""Managing people and partners from the command line: `vigil org`, `vigil key` and
`vigil account`, good and bad input, on both databases. The commands run in this process
(Typer's runner) against the database the test fixtures made."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import Result

from vigil import passwords
from vigil.audit.models import AuditEvent
from vigil.db import transaction
from vigil.orgs import accounts, staff
from vigil.orgs.models import ApiKey, Organisation, RecoveryCode, StaffAccount, WebSession


@pytest.fixture
def vigil(vigil_cli):  # type: ignore[no-untyped-def]
    return vigil_cli


def _bad(result: Result, message: str) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_org_add_and_list(vigil, factory: sessionmaker[Session]) -> None:  # type: ignore[no-untyped-def]
    ok = vigil("org", "add", "LKA Berlin", "--kind", "authority", "--country", "de")
    assert ok.exit_code == 0, ok.stderr
    org_id = int(ok.stdout.strip())
    assert "added (authority, DE)" in ok.stderr
    assert vigil("org", "add", "Photo Service", "--kind", "provider").exit_code == 0
    listed = vigil("org", "list")
    lines = listed.stdout.splitlines()
    assert lines[0].split("\t") == ["id", "name", "kind", "country", "approved", "keys"]
    assert f"{org_id}\tLKA Berlin\tauthority\tDE\tTrue\t0" in lines
    as_json = json.loads(vigil("org", "list", "--json").stdout)
    assert [o["name"] for o in as_json] == ["LKA Berlin", "Photo Service", "Test Centre"]
    # Set up by the operator: a founding organisation, approved from the start, in the log too.
    with factory() as s:
        org = s.get(Organisation, org_id)
        assert org is not None and org.approved_at is not None
        assert "org:created" in s.scalars(select(AuditEvent.action)).all()


def test_org_add_refuses_bad_input_and_stores_nothing(vigil, factory: sessionmaker[Session]) -> None:  # type: ignore[no-untyped-def]
    _bad(vigil("org", "add", "X", "--kind", "wizard"),
         "unknown organisation kind 'wizard' (known: centre, partner_centre, provider")
    _bad(vigil("org", "add", "X", "--kind", "provider", "--country", "Germany"),
         "two-letter code such as 'DE', got 'Germany'")
    _bad(vigil("org", "add", "X", "--kind", "authority"), "an authority needs its member-state")
    _bad(vigil("org", "add", "Test Centre", "--kind", "provider"),
         "an organisation named 'Test Centre' exists already")
    _bad(vigil("org", "add", "Second Centre", "--kind", "centre"), "there is one Centre")
    with factory() as s:
        assert s.scalars(select(Organisation.name)).all() == ["Test Centre"]


def test_key_issue_list_revoke(vigil, client, factory: sessionmaker[Session]) -> None:  # type: ignore[no-untyped-def]
    vigil("org", "add", "Photo Service", "--kind", "provider")
    issued = vigil("key", "issue", "--org", "Photo Service", "--scope", "match",
                   "--scope", "lists:download", "--holder", "matcher")
    assert issued.exit_code == 0, issued.stderr
    token = issued.stdout.strip()
    assert token.startswith("vgl_") and "shown once" in issued.stderr
    assert "lists:download match" in issued.stderr
    # The key works against the API, with the scopes it was given and no others.
    r = client.post("/v1/match", headers={"Authorization": f"Bearer {token}"},
                    json={"items": []})
    assert r.status_code != 401
    every = vigil("key", "issue", "--org", "Photo Service")  # default: all the kind allows
    assert "lists:download log:read match reports:submit" in every.stderr
    listed = vigil("key", "list", "--org", "Photo Service", "--json")
    rows = json.loads(listed.stdout)
    assert [(k["holder"], k["scopes"], k["revoked"]) for k in rows] == [
        ("matcher", ["lists:download", "match"], None),
        ("Photo Service", ["lists:download", "log:read", "match", "reports:submit"], None)]
    assert token not in listed.stdout and token.rsplit("_", 1)[1] not in listed.stdout
    revoked = vigil("key", "revoke", str(rows[0]["id"]))
    assert revoked.exit_code == 0 and "revoked" in revoked.stderr
    again = vigil("key", "revoke", str(rows[0]["id"]))
    assert again.exit_code == 0 and "revoked already" in again.stderr
    assert vigil("key", "list", "--org", "Photo Service").stdout.splitlines()[1].split("\t")[5] != "-"
    import time

    time.sleep(1.1)  # the server's cache of authenticated keys (VIGIL_AUTH_CACHE_SECONDS = 1)
    r = client.post("/v1/match", headers={"Authorization": f"Bearer {token}"},
                    json={"items": []})
    assert r.status_code == 401
    with factory() as s:
        actions = s.scalars(select(AuditEvent.action)).all()
        assert actions.count("key:issued") == 2 and actions.count("key:revoked") == 1


def test_key_commands_refuse_bad_input(vigil, factory: sessionmaker[Session]) -> None:  # type: ignore[no-untyped-def]
    vigil("org", "add", "Photo Service", "--kind", "provider")
    _bad(vigil("key", "issue", "--org", "Nope"), "no organisation named 'Nope'")
    _bad(vigil("key", "issue", "--org", "Photo Service", "--scope", "match", "--scope", "bogus"),
         "unknown scope 'bogus' (known: orgs:manage")
    _bad(vigil("key", "issue", "--org", "Photo Service", "--scope", "indicators:review"),
         "an organisation of kind 'provider' cannot hold: indicators:review")
    _bad(vigil("key", "list", "--org", "Nope"), "no organisation named 'Nope'")
    _bad(vigil("key", "revoke", "999"), "no key 999")
    assert vigil("key", "revoke", "0").exit_code == 2  # not an id at all
    with factory() as s:
        assert s.scalars(select(ApiKey)).all() == []


def test_account_commands(vigil, factory: sessionmaker[Session]) -> None:  # type: ignore[no-untyped-def]
    vigil("org", "add", "LKA", "--kind", "authority", "--country", "DE")
    made = vigil("account", "add", "--org", "LKA", "--username", "dora", "--role", "officer")
    assert made.exit_code == 0, made.stderr
    password = made.stdout.strip()
    assert len(password) >= 16 and "second factor at the first sign-in" in made.stderr
    chosen = vigil("account", "add", "--org", "LKA", "--username", "ida", "--role", "admin",
                   "--password-stdin", stdin="a long chosen passphrase\n")
    assert chosen.exit_code == 0 and chosen.stdout == ""
    rows = json.loads(vigil("account", "list", "--org", "LKA", "--json").stdout)
    assert [(a["username"], a["role"], a["second_factor"], a["disabled"]) for a in rows] == [
        ("dora", "officer", "required", None), ("ida", "admin", "required", None)]
    assert "username\tname" in vigil("account", "list").stdout

    disabled = vigil("account", "disable", "dora")
    assert disabled.exit_code == 0 and "sessions have ended" in disabled.stderr
    assert json.loads(vigil("account", "list", "--json").stdout)[0]["disabled"]
    enabled = vigil("account", "enable", "dora")
    assert enabled.exit_code == 0

    reset = vigil("account", "reset-password", "dora")
    new = reset.stdout.strip()
    assert reset.exit_code == 0 and len(new) >= 16 and new != password
    chosen = vigil("account", "reset-password", "dora", "--password-stdin",
                   stdin="another long passphrase\n")
    assert chosen.exit_code == 0 and chosen.stdout == ""
    with factory() as s:
        account = s.scalar(select(StaffAccount).where(StaffAccount.username == "dora"))
        assert account is not None
        assert passwords.verify(account.password_hash, "another long passphrase")
    assert vigil("account", "reset-2fa", "dora").exit_code == 0
    with factory() as s:
        actions = s.scalars(select(AuditEvent.action)).all()
    for action in ("account:created", "account:disabled", "account:enabled",
                   "account:password_reset", "account:second_factor_reset"):
        assert action in actions, action


def test_account_commands_refuse_bad_input(vigil, factory: sessionmaker[Session]) -> None:  # type: ignore[no-untyped-def]
    vigil("org", "add", "LKA", "--kind", "authority", "--country", "DE")
    _bad(vigil("account", "add", "--org", "Nope", "--username", "x", "--role", "officer"),
         "no organisation named 'Nope'")
    _bad(vigil("account", "add", "--org", "LKA", "--username", "x", "--role", "wizard"),
         "unknown role 'wizard'")
    _bad(vigil("account", "add", "--org", "LKA", "--username", "x", "--role", "reviewer"),
         "nothing to do in an organisation of kind 'authority'")
    _bad(vigil("account", "add", "--org", "LKA", "--username", "x", "--role", "officer",
               "--password-stdin", stdin="short\n"), "at least 12 characters")
    _bad(vigil("account", "add", "--org", "LKA", "--username", "x", "--role", "officer",
               "--password-stdin", stdin="\n"), "no password on standard input")
    assert vigil("account", "add", "--org", "LKA", "--username", "dora",
                 "--role", "officer").exit_code == 0
    _bad(vigil("account", "add", "--org", "LKA", "--username", "Dora", "--role", "officer"),
         "the username 'dora' is taken")
    for command in ("disable", "enable", "reset-password", "reset-2fa"):
        _bad(vigil("account", command, "nobody"), "no account named 'nobody'")
    _bad(vigil("account", "enable", "dora"), "the account 'dora' is not disabled")
    vigil("account", "disable", "dora")
    _bad(vigil("account", "disable", "dora"), "the account 'dora' is disabled already")
    _bad(vigil("account", "reset-password", "dora", "--password-stdin", stdin="dora-password-123\n"),
         "must not contain the username")
    _bad(vigil("account", "list", "--org", "Nope"), "no organisation named 'Nope'")
    with factory() as s:
        assert s.scalars(select(StaffAccount.username)).all() == ["dora"]


def test_disabling_ends_sessions_and_resetting_forgets_the_authenticator(
        vigil, factory: sessionmaker[Session]) -> None:  # type: ignore[no-untyped-def]
    from vigil.config import Settings
    from vigil.orgs import second_factor

    vigil("org", "add", "LKA", "--kind", "authority", "--country", "DE")
    vigil("account", "add", "--org", "LKA", "--username", "dora", "--role", "officer",
          "--password-stdin", stdin="a long chosen passphrase\n")
    settings = Settings(environment="test")
    with transaction(factory) as s:
        account = staff.find_account(s, "dora")
        account.totp_secret = second_factor.new_secret()
        account.totp_enrolled_at = account.created_at
        second_factor.new_recovery_codes(s, account)
        s.add(WebSession(id="a" * 64, account_id=account.id, csrf_token="x",
                         created_at=account.created_at, last_seen_at=account.created_at))
    assert vigil("account", "reset-2fa", "dora").exit_code == 0
    with factory() as s:
        account = staff.find_account(s, "dora")
        assert account.totp_secret is None and account.totp_enrolled_at is None
        assert s.scalars(select(RecoveryCode)).all() == []
        assert s.scalar(select(WebSession.ended_at)) is not None
    with transaction(factory) as s:
        signed = accounts.sign_in(s, settings, "dora", "a long chosen passphrase")
        assert signed.session is not None and signed.session.pending == "enrol"
    vigil("account", "disable", "dora")
    with factory() as s:
        assert all(w.ended_at for w in s.scalars(select(WebSession)))
    with transaction(factory) as s:
        assert not accounts.sign_in(s, settings, "dora", "a long chosen passphrase").ok
