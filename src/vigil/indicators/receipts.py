"""Match receipts: proof that an organisation received a match, so that only what it really
matched can count in its feedback (false positives from two organisations quarantine an
indicator — without receipts any two organisations could quarantine any indicator by id).

A receipt is a ``match_id`` returned with every hit of ``POST /v1/match``: the day, the
indicator and an HMAC-SHA256 (truncated to 128 bits) over the organisation, the day and the
indicator, under a key of its own purpose derived from the Centre's file key. Nothing is stored
on the matching path; a receipt is valid for :data:`VALID_DAYS` days, for its organisation
only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
import time

VALID_DAYS = 30
_PREFIX = "m_"


def receipt_key(file_key: bytes) -> bytes:
    return hashlib.sha256(b"vigil-match-receipt-key-v1" + file_key).digest()


def _mac(key: bytes, org_id: int, payload: bytes) -> bytes:
    return hmac.new(key, b"vigil-match-id-v1" + struct.pack(">Q", org_id) + payload,
                    hashlib.sha256).digest()[:16]


def today() -> int:
    """Days since 1970 (UTC)."""
    return int(time.time() // 86400)


def match_id(key: bytes, org_id: int, indicator_id: int, day: int | None = None) -> str:
    """The receipt of a match of ``indicator_id`` by ``org_id`` (``day``: days since 1970)."""
    d = today() if day is None else day
    payload = struct.pack(">IQ", d, indicator_id)
    return _PREFIX + base64.urlsafe_b64encode(payload + _mac(key, org_id, payload)).decode().rstrip("=")


def indicator_of(key: bytes, org_id: int, token: str, on_day: int | None = None) -> int | None:
    """The indicator a receipt is for, if it is this organisation's and not too old; else
    None (one answer for every kind of bad receipt)."""
    if not token.startswith(_PREFIX) or len(token) > 64:
        return None
    raw = token[len(_PREFIX):]
    try:
        data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(data) != 28:
        return None
    payload, mac = data[:12], data[12:]
    if not hmac.compare_digest(mac, _mac(key, org_id, payload)):
        return None
    day, indicator = struct.unpack(">IQ", payload)
    now = today() if on_day is None else on_day
    return indicator if 0 <= now - day <= VALID_DAYS else None
