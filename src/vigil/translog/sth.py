"""Signed tree heads (Ed25519).

A tree head says "after ``size`` entries the root was ``root``, at ``timestamp``". The signed
bytes are a fixed binary layout, so that any language can verify them without a JSON canonical
form::

    b"vigil-sth-v1\\n" || log_id (32 bytes) || size (8, big-endian) || timestamp_ms (8) || root (32)

``log_id`` is the SHA-256 of the signing public key (as RFC 9162 identifies logs by key).
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from vigil.translog.merkle import ProofError

_PREFIX = b"vigil-sth-v1\n"


@dataclass(frozen=True)
class SignedTreeHead:
    log_id: bytes
    size: int
    timestamp_ms: int
    root: bytes
    signature: bytes

    def signed_bytes(self) -> bytes:
        return tree_head_bytes(self.log_id, self.size, self.timestamp_ms, self.root)

    def to_json(self) -> dict[str, object]:
        b64 = base64.b64encode
        return {"log_id": b64(self.log_id).decode(), "tree_size": self.size,
                "timestamp_ms": self.timestamp_ms, "root_hash": b64(self.root).decode(),
                "signature": b64(self.signature).decode()}

    @classmethod
    def from_json(cls, obj: dict[str, object]) -> SignedTreeHead:
        """A head as ``GET /v1/log/head`` gives it; :class:`ProofError` for anything else —
        sizes and times are whole numbers that fit the 64 bits the signature covers."""
        try:
            size, timestamp = obj["tree_size"], obj["timestamp_ms"]
            for name, value in (("tree_size", size), ("timestamp_ms", timestamp)):
                if type(value) is not int or not 0 <= value < 2**64:
                    raise ValueError(f"{name} is not a whole number of 64 bits")
            return cls(base64.b64decode(str(obj["log_id"]), validate=True),
                       int(size), int(timestamp),  # type: ignore[call-overload]
                       base64.b64decode(str(obj["root_hash"]), validate=True),
                       base64.b64decode(str(obj["signature"]), validate=True))
        except (KeyError, ValueError, TypeError) as exc:
            raise ProofError(f"malformed tree head: {exc}") from None


def log_id_of(key: Ed25519PublicKey) -> bytes:
    """A log's id: the SHA-256 of its public key."""
    return hashlib.sha256(public_key_bytes(key)).digest()


def tree_head_bytes(log_id: bytes, size: int, timestamp_ms: int, root: bytes) -> bytes:
    return _PREFIX + log_id + struct.pack(">QQ", size, timestamp_ms) + root


def public_key_bytes(key: Ed25519PublicKey) -> bytes:
    raw: bytes = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw


def write_new_secret(path: Path, data: bytes) -> bool:
    """Create ``path`` (mode 0600) with ``data`` unless it exists; False if another process
    created it first. Several workers starting at once must end up with one key, not one each."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    tmp_ok = False
    try:
        os.write(fd, data)
        os.fsync(fd)
        tmp_ok = True
    finally:
        os.close(fd)
        if not tmp_ok:
            path.unlink(missing_ok=True)
    return True


class LogKeyMissing(ValueError):
    """The log announced a signing key this process does not hold."""


class TreeHeadSigner:
    """Signs tree heads (and snapshots, deltas) with one Ed25519 key at a time. Loaded from a
    file, it follows a rotation (:mod:`vigil.translog.keys`) without a restart: the key file
    is read again when it changes, and :meth:`adopt` takes the key the log announced."""

    def __init__(self, private_key: Ed25519PrivateKey, path: Path | None = None) -> None:
        self.path = path
        self._stamp = _stamp(path)
        self._set(private_key)

    def _set(self, key: Ed25519PrivateKey) -> None:
        # One assignment: a signature is never made with one key under another's log id.
        pub = key.public_key()
        self._state = (key, pub, log_id_of(pub))

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._state[1]

    @property
    def log_id(self) -> bytes:
        return self._state[2]

    @property
    def public_bytes(self) -> bytes:
        return public_key_bytes(self._state[1])

    def private_pem(self) -> bytes:
        """The private key, PEM (PKCS#8): only to write it to its key file."""
        return private_pem(self._state[0])

    def with_path(self, path: Path) -> TreeHeadSigner:
        """The same key, following the key file at ``path`` from now on."""
        return TreeHeadSigner(self._state[0], path)

    @classmethod
    def generate(cls) -> TreeHeadSigner:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_file(cls, path: Path, *, create: bool = False) -> TreeHeadSigner:
        """Load a PEM (PKCS#8) key; with ``create``, write a new one (mode 0600) if absent."""
        if not path.exists() and create:
            signer = cls.generate()
            path.parent.mkdir(parents=True, exist_ok=True)
            if write_new_secret(path, signer.private_pem()):
                return signer.with_path(path)
            # Another process (a second server worker) created it first: use that one.
        return cls(load_private_key(path), path)

    def _refresh(self) -> None:
        """Read the key file again if it changed since (a rotation replaced it)."""
        if self.path is None:
            return
        stamp = _stamp(self.path)
        if stamp != self._stamp:
            try:
                self._set(load_private_key(self.path))
            except (OSError, ValueError):
                return  # half-written: the next call reads it
            self._stamp = stamp

    def adopt(self, public_key: bytes) -> None:
        """Sign with the private key of ``public_key`` (raw, 32 bytes) from now on: the log
        announced it. Looks in the key file and in the rotation's ``.new`` file beside it;
        raises :class:`LogKeyMissing` if neither holds it."""
        if self.public_bytes == public_key:
            return
        if self.path is not None:
            for candidate in (self.path, new_key_path(self.path)):
                try:
                    key = load_private_key(candidate)
                except (OSError, ValueError):
                    continue
                if public_key_bytes(key.public_key()) == public_key:
                    self._set(key)
                    self._stamp = _stamp(self.path)
                    return
        raise LogKeyMissing(
            "the log announced a new signing key that this process does not hold: copy the "
            f"rotated key file to {self.path or 'the log key path'} (VIGIL_LOG_KEY_PATH)")

    def sign(self, size: int, root: bytes, timestamp_ms: int | None = None) -> SignedTreeHead:
        key, _, log_id = self._state
        ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        sig = key.sign(tree_head_bytes(log_id, size, ts, root))
        return SignedTreeHead(log_id, size, ts, root, sig)

    def sign_bytes(self, data: bytes) -> bytes:
        """Sign other artefacts of the log (list snapshots, deltas) with the same key."""
        self._refresh()
        signature: bytes = self._state[0].sign(data)
        return signature


def new_key_path(path: Path) -> Path:
    """Where a rotation writes the next key before the log announces it."""
    return path.with_name(path.name + ".new")


def private_pem(key: Ed25519PrivateKey) -> bytes:
    pem: bytes = key.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption())
    return pem


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PEM file; ``ValueError`` if it is something else."""
    for _ in range(100):  # it may still be writing it
        if path.stat().st_size:
            break
        time.sleep(0.01)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    return key


def _stamp(path: Path | None) -> tuple[int, int]:
    if path is None:
        return (0, 0)
    try:
        st = path.stat()
    except FileNotFoundError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_ino)


def verify_tree_head(head: SignedTreeHead, public_key: Ed25519PublicKey) -> None:
    """Raises :class:`ProofError` if the signature or the log id is wrong."""
    if head.log_id != hashlib.sha256(public_key_bytes(public_key)).digest():
        raise ProofError("tree head is from a different log (log id does not match the key)")
    try:
        public_key.verify(head.signature, head.signed_bytes())
    except InvalidSignature:
        raise ProofError("tree head signature is invalid") from None
