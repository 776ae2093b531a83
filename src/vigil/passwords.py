"""Secrets people type — staff passwords, victims' PINs — hashed with argon2id: the one home of
how vigil stores and checks them.

The cost is argon2-cffi's default, the RFC 9106 low-memory profile (64 MiB, 3 passes, 4 lanes;
about 0.1-0.2 s a hash on a small server). A stored hash carries its own parameters, so a hash
made at another cost still verifies, and :func:`needs_rehash` tells the caller to store it
again at this one.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_secret(secret: str) -> str:
    """The argon2id hash of ``secret`` (PHC string form, ``$argon2id$v=19$m=...``)."""
    return _hasher.hash(secret)


def verify(stored: str, secret: str) -> bool:
    """Whether ``secret`` matches the ``stored`` hash; False too for a hash that cannot be read.
    An empty ``secret`` is checked as ``"-"``, like any other wrong one."""
    try:
        return _hasher.verify(stored, secret or "-")
    except (VerificationError, InvalidHashError):
        return False


def verify_nothing(secret: str) -> None:
    """The work of :func:`verify` for an unknown name: a caller that does this instead of
    answering at once tells nothing about which names exist. It hashes ``secret`` at the
    current cost (one argon2 computation, as a verification is), so it needs no stored hash
    and costs the same from a process's first call on."""
    _hasher.hash(secret or "-")


def needs_rehash(stored: str) -> bool:
    """Whether ``stored`` was made at another cost than the current one."""
    return _hasher.check_needs_rehash(stored)
