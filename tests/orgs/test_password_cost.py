"""Passwords and victims' PINs are stored as argon2id at the library's recommended cost
(vigil.passwords, their one home).

The rest of the suite hashes at the lowest cost (tests/conftest.py, for time); these tests run
with the cost production uses (marked ``real_password_cost``)."""

from __future__ import annotations

import secrets

import argon2
import pytest
from argon2 import PasswordHasher
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import CHEAP_HASHER
from tests.fixtures.world import build_world
from vigil import passwords
from vigil.config import Settings
from vigil.db import transaction
from vigil.orgs import accounts, staff
from vigil.victims import service as victims

pytestmark = pytest.mark.real_password_cost

RECOMMENDED = argon2.profiles.RFC_9106_LOW_MEMORY  # argon2-cffi's default: 64 MiB, 3 passes


def _cost(stored: str) -> tuple[str, int, int, int]:
    p = argon2.extract_parameters(stored)
    return p.type.name, p.memory_cost, p.time_cost, p.parallelism


REAL = ("ID", RECOMMENDED.memory_cost, RECOMMENDED.time_cost, RECOMMENDED.parallelism)


def test_what_production_uses_is_the_recommended_argon2id() -> None:
    assert passwords._hasher is not CHEAP_HASHER
    assert _cost(passwords.hash_secret("x")) == REAL


def test_an_account_is_stored_at_the_real_cost_and_a_cheaper_hash_is_upgraded_at_sign_in(
        factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    password = "correct horse battery staple"
    with transaction(factory) as s:
        made = accounts.create_account(s, None, w.principals["auditor"].organisation_id,
                                       "otto", "auditor", password=password)
        assert _cost(made.account.password_hash) == REAL
        # A hash written at a lower cost (an older vigil, another library default)...
        made.account.password_hash = PasswordHasher(time_cost=1, memory_cost=8 * 1024,
                                                    parallelism=1).hash(password)
    with transaction(factory) as s:
        assert accounts.sign_in(s, Settings(environment="test"), "otto", password).ok
    with transaction(factory) as s:
        stored = staff.find_account(s, "otto").password_hash
    assert _cost(stored) == REAL  # ...is rewritten at the real cost by the next sign-in


def test_a_victims_pin_is_stored_at_the_real_cost(factory: sessionmaker[Session]) -> None:
    build_world(factory)
    with transaction(factory) as s:
        case, pin = victims.create_case(s, [victims.CaseHashIn(
            "image", secrets.token_hex(16), secrets.token_hex(32), secrets.token_hex(32), 90)])
        assert _cost(case.pin_hash) == REAL
        number = case.case_number
    with transaction(factory) as s:
        assert victims.open_case(s, number, pin).case_number == number


def test_an_unknown_name_costs_one_argon2_computation_from_the_first_call(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """As a wrong password does: no dummy hash made at first use (which made a process's first
    unknown name cost two), none made at import (0.16 s for every process)."""
    real = passwords._hasher
    calls: list[str] = []

    class Counting:
        def hash(self, secret: str) -> str:
            calls.append("hash")
            return real.hash(secret)

        def verify(self, stored: str, secret: str) -> bool:
            calls.append("verify")
            return real.verify(stored, secret)

    stored = passwords.hash_secret("correct horse battery staple")
    monkeypatch.setattr(passwords, "_hasher", Counting())
    passwords.verify_nothing("a guess")
    assert len(calls) == 1
    passwords.verify_nothing("")
    assert len(calls) == 2
    assert not passwords.verify(stored, "a guess") and len(calls) == 3
