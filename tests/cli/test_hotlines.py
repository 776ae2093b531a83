"""`vigil hotline add | list | remove`: the registry of partner hotlines from the server's
command line, good and bad input, on both databases (Typer's runner, in this process)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import Result


@pytest.fixture
def vigil(vigil_cli):  # type: ignore[no-untyped-def]
    return vigil_cli


def test_add_list_remove(vigil, factory: sessionmaker[Session]) -> None:  # type: ignore[no-untyped-def]
    ok = vigil("hotline", "add", "nl", "Meldpunt NL", "--kind", "vigil",
               "--url", "https://meldpunt.test/", stdin="vgl_abc_secretvalue\n")
    assert ok.exit_code == 0, ok.stderr
    assert "partner hotline added — NL: Meldpunt NL (vigil, https://meldpunt.test)" in ok.stderr
    assert "secretvalue" not in ok.stdout + ok.stderr
    assert vigil("hotline", "add", "BE", "Child Focus", "--kind", "webhook",
                 "--url", "https://cf.test/hook", stdin="s3\n").exit_code == 0
    lines = vigil("hotline", "list").stdout.splitlines()
    assert lines[0].split("\t") == ["id", "country", "name", "kind", "url"]
    assert [line.split("\t")[1] for line in lines[1:]] == ["BE", "NL"]
    listed = vigil("hotline", "list", "--json")
    assert [h["country"] for h in json.loads(listed.stdout)] == ["BE", "NL"]
    assert "secretvalue" not in listed.stdout
    with factory() as s:
        actions = list(s.scalars(text("SELECT action FROM audit_events")))
    assert actions.count("hotline:added") == 2
    gone = vigil("hotline", "remove", "nl")
    assert gone.exit_code == 0 and "'Meldpunt NL' removed" in gone.stderr
    assert [h["country"] for h in json.loads(vigil("hotline", "list", "--json").stdout)] == ["BE"]


def _bad(result: Result, message: str) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_bad_input_is_one_line_and_stores_nothing(vigil) -> None:  # type: ignore[no-untyped-def]
    _bad(vigil("hotline", "add", "Netherlands", "X", "--kind", "vigil", "--url",
               "https://x.test", stdin="k\n"), "two-letter code")
    _bad(vigil("hotline", "add", "NL", "X", "--kind", "email", "--url", "https://x.test",
               stdin="k\n"), "kind is one of vigil, webhook")
    _bad(vigil("hotline", "add", "NL", "X", "--kind", "vigil", "--url", "file:///etc/passwd",
               stdin="k\n"), "http(s) URL")
    _bad(vigil("hotline", "add", "NL", "X", "--kind", "vigil", "--url", "https://x.test",
               stdin="\n"), "secret is 1-512 characters")
    assert json.loads(vigil("hotline", "list", "--json").stdout) == []
    assert vigil("hotline", "add", "NL", "X", "--kind", "vigil", "--url", "https://x.test",
                 stdin="k\n").exit_code == 0
    _bad(vigil("hotline", "add", "NL", "Y", "--kind", "vigil", "--url", "https://y.test",
               stdin="k\n"), "NL has a partner hotline already (X)")
    _bad(vigil("hotline", "remove", "FR"), "no partner hotline for FR")
