"""The log's signing keys over time: rotation by announcement.

A new Ed25519 key is *announced* in the log itself, by a leaf signed with the key in use
until then::

    {"event": "log:key_announced", "previous_key": b64(old, raw 32 bytes),
     "public_key": b64(new), "signature": b64(old's signature over
     b"vigil-log-key-v1\\n" || old || new), "at": ISO time}

A tree head covers the entries before its size, so the announcement at index ``a`` splits the
heads: sizes up to ``a`` are signed by the old key, sizes from ``a + 1`` — every head that
covers the announcement — by the new one. Heads signed before a rotation therefore still
verify, and a verifier that trusts any one key of the chain learns the others from the log:
an older key vouches for its successor by the announcement's signature, a newer key for its
predecessors by signing heads over the announcements. An announcement not signed by the key
in use at that point is refused (:meth:`LogKeys.add`): its key never signs anything.

Each key keeps its own log id (the SHA-256 of its public key), so the signed bytes of a head
(:mod:`vigil.translog.sth`) are unchanged by rotation.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from vigil.translog.sth import TreeHeadSigner, log_id_of, public_key_bytes

ANNOUNCED = "log:key_announced"
#: The subject of announcement entries (``log_entries.subject``), to find them without
#: reading the log.
SUBJECT = "log:key"
_PREFIX = b"vigil-log-key-v1\n"


def announcement_bytes(previous: bytes, new: bytes) -> bytes:
    """What the previous key signs: the fixed prefix, then both raw public keys."""
    return _PREFIX + previous + new


def announcement(old: TreeHeadSigner, new: Ed25519PublicKey, at: str) -> dict[str, Any]:
    """The leaf that announces ``new``, signed by ``old`` (the key in use)."""
    prev, nxt = old.public_bytes, public_key_bytes(new)
    b64 = base64.b64encode
    return {"event": ANNOUNCED, "previous_key": b64(prev).decode(),
            "public_key": b64(nxt).decode(),
            "signature": b64(old.sign_bytes(announcement_bytes(prev, nxt))).decode(),
            "at": at}


def raw_key(key: Ed25519PublicKey) -> bytes:
    return public_key_bytes(key)


def key_of(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)


def pem_of(raw: bytes) -> str:
    pem: bytes = key_of(raw).public_bytes(serialization.Encoding.PEM,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem.decode()


@dataclass(frozen=True)
class LogKey:
    """One key of the chain and the head sizes it signs: ``first_size`` to ``last_size``
    (None: the current key, no end)."""

    public_key: bytes
    first_size: int
    last_size: int | None = None
    #: The index of the leaf that announced it (None: the log's first key).
    announced_at_index: int | None = None
    #: When its successor was announced (the leaf's ``at``): it signed nothing after that.
    retired_at: str | None = None

    @property
    def log_id(self) -> bytes:
        return log_id_of(key_of(self.public_key))

    def signs(self, size: int) -> bool:
        return self.first_size <= size and (self.last_size is None or size <= self.last_size)

    def to_json(self) -> dict[str, Any]:
        return {"public_key": pem_of(self.public_key),
                "log_id": base64.b64encode(self.log_id).decode(),
                "first_size": self.first_size, "last_size": self.last_size,
                "announced_at_index": self.announced_at_index, "retired_at": self.retired_at}


@dataclass
class LogKeys:
    """The chain of keys as the log announces it (empty: never rotated — the one key is
    whichever the verifier trusts)."""

    keys: list[LogKey] = field(default_factory=list)

    @classmethod
    def from_leaves(cls, leaves: Iterable[tuple[int, dict[str, Any]]],
                    problems: list[str] | None = None) -> LogKeys:
        """The chain from (index, leaf) pairs in index order (other leaves are skipped);
        refused announcements are described in ``problems``."""
        chain = cls()
        for index, leaf in leaves:
            if leaf.get("event") == ANNOUNCED:
                chain.add(index, leaf, problems if problems is not None else [])
        return chain

    def add(self, index: int, leaf: dict[str, Any], problems: list[str]) -> bool:
        """Take the announcement at ``index`` if the key in use then signed it; else say why
        in ``problems`` and ignore it. Returns whether it was taken."""
        try:
            prev = base64.b64decode(str(leaf["previous_key"]), validate=True)
            new = base64.b64decode(str(leaf["public_key"]), validate=True)
            sig = base64.b64decode(str(leaf["signature"]), validate=True)
            previous = key_of(prev)
            key_of(new)
        except (KeyError, ValueError, binascii.Error):
            problems.append(f"log: entry {index} announces a log key but is malformed")
            return False
        if self.keys and self.keys[-1].public_key != prev:
            problems.append(f"log: entry {index} announces a log key on behalf of a key that "
                            "was not the log's key then: refused")
            return False
        if any(k.public_key == new for k in self.keys) or new == prev:
            problems.append(f"log: entry {index} announces a log key used before: refused")
            return False
        try:
            previous.verify(sig, announcement_bytes(prev, new))
        except InvalidSignature:
            problems.append(f"log: entry {index} announces a log key that the key in use did "
                            "not sign: refused")
            return False
        at = str(leaf.get("at")) if leaf.get("at") is not None else None
        if not self.keys:
            self.keys.append(LogKey(prev, 0))
        last = self.keys[-1]
        self.keys[-1] = LogKey(last.public_key, last.first_size, index,
                               last.announced_at_index, at)
        self.keys.append(LogKey(new, index + 1, None, index))
        return True

    def for_size(self, size: int) -> LogKey | None:
        """The key that signs heads of ``size`` (None: the log was never rotated)."""
        for key in self.keys:
            if key.signs(size):
                return key
        return None

    @property
    def current(self) -> bytes | None:
        return self.keys[-1].public_key if self.keys else None

    def resolve(self, trusted: Ed25519PublicKey) -> list[LogKey]:
        """The chain, given the key a verifier trusts: never rotated, that key for every size.
        Raises ``ValueError`` if the trusted key is not one of the chain's."""
        raw = raw_key(trusted)
        if not self.keys:
            return [LogKey(raw, 0)]
        if raw not in {k.public_key for k in self.keys}:
            raise ValueError("the key given is not one of this log's signing keys")
        return list(self.keys)

    def key_for(self, size: int, trusted: Ed25519PublicKey) -> Ed25519PublicKey:
        key = self.for_size(size)
        return trusted if key is None else key_of(key.public_key)


def published(chain: LogKeys, current: bytes) -> list[dict[str, Any]]:
    """Every key with its range, as ``GET /v1/log/keys`` publishes them (``current``: the
    signer's key, the only one of a log never rotated)."""
    keys = chain.keys or [LogKey(current, 0)]
    return [k.to_json() for k in keys]


def parse_published(obj: Any) -> list[tuple[Ed25519PublicKey, str | None]]:
    """(key, retired at) from ``GET /v1/log/keys``'s JSON; ``ValueError`` if malformed."""
    if not isinstance(obj, dict) or not isinstance(obj.get("keys"), list) or not obj["keys"]:
        raise ValueError("not a vigil log key list (expected {\"keys\": [...]})")
    out = []
    for item in obj["keys"]:
        if not isinstance(item, dict):
            raise ValueError("not a vigil log key list")
        key = serialization.load_pem_public_key(str(item.get("public_key", "")).encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("a key of the list is not an Ed25519 public key")
        retired = item.get("retired_at")
        out.append((key, str(retired) if retired is not None else None))
    return out
