"""Signatures over the log's JSON artefacts (list snapshots and change feeds), by the log's key.

An artefact is a JSON object; ``signature`` is an Ed25519 signature (base64), by the log's key,
over the canonical JSON (sorted keys, no spaces, ASCII) of the object without ``signature``.
The server signs with :func:`sign` (:mod:`vigil.indicators.feeds`,
:mod:`vigil.indicators.snapshots`); every verifier — ``vigil match --public-key``, the sync
client (:mod:`vigil.exchange.sync`), partner centres — checks with :func:`verify` or
:func:`verify_any`. This is their one home, below the domains, so that a client library that
imports no domain can check them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class _Signer(Protocol):
    def sign_bytes(self, data: bytes) -> bytes: ...


def canonical(obj: dict[str, Any]) -> bytes:
    """The bytes a signature covers: JSON with sorted keys, no spaces, ASCII only."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def sign(obj: dict[str, Any], signer: _Signer) -> dict[str, Any]:
    """``obj`` with ``signature`` set to the signer's signature over the rest."""
    body = {k: v for k, v in obj.items() if k != "signature"}
    return {**body, "signature": base64.b64encode(signer.sign_bytes(canonical(body))).decode()}


def verify(obj: dict[str, Any], public_key: Ed25519PublicKey) -> None:
    """Raises ``ValueError`` naming the problem."""
    sig = obj.get("signature")
    if not isinstance(sig, str):
        raise ValueError("the list file carries no signature")
    body = {k: v for k, v in obj.items() if k != "signature"}
    try:
        public_key.verify(base64.b64decode(sig, validate=True), canonical(body))
    except (InvalidSignature, ValueError):
        raise ValueError("the list file's signature is invalid (altered, or not from this "
                         "key)") from None


def verify_any(obj: dict[str, Any], keys: list[tuple[Ed25519PublicKey, str | None]],
               ranges: Sequence[tuple[int, int | None]] | None = None) -> int:
    """Check ``obj`` against the log's keys as ``GET /v1/log/keys`` lists them: (key, retired
    at). A key retired by a rotation counts only for an artefact generated (``generated_at``)
    before its retirement (one signed later with it was not signed by vigil). ``ranges``, one
    per key: the tree sizes whose heads it signs (``first_size``, ``last_size``; None: no end),
    as the key chain knows them (:class:`vigil.translog.keys.LogKey`); given, the artefact's
    ``log_size`` must lie in the range of the key that signed it — a retired key signs nothing
    of a log that grew past its last size, whatever ``generated_at`` claims (a stolen retired
    key cannot back-date a new artefact). Returns the position of the key that verified;
    raises ``ValueError`` naming the problem."""
    if not isinstance(obj.get("signature"), str):
        raise ValueError("the list file carries no signature")
    generated = str(obj.get("generated_at") or "")
    for n, (key, retired) in enumerate(keys):
        try:
            verify(obj, key)
        except ValueError:
            continue
        if retired is not None and not (generated and _before(generated, retired)):
            raise ValueError(f"the list file is signed with a log key retired at {retired}, "
                             "after which that key signs nothing: fetch a new snapshot")
        if ranges is not None:
            first, last = ranges[n]
            size = obj.get("log_size")
            if not isinstance(size, int) or isinstance(size, bool):
                raise ValueError("the list file names no log size, so the key that signed it "
                                 "cannot be checked against the log")
            if size < first or (last is not None and size > last):
                raise ValueError(f"the list file (log size {size}) is signed with a log key "
                                 f"that signs log sizes {first} to "
                                 f"{'now' if last is None else last} only: refused")
        return n
    raise ValueError("the list file's signature is invalid (altered, or not from any of the "
                     "log's keys)")


def _before(a: str, b: str) -> bool:
    try:
        return datetime.fromisoformat(a) < datetime.fromisoformat(b)
    except ValueError:
        return False
