"""Evidence files, encrypted at rest with AES-256-GCM. Clear bytes never touch the disk: an
upload is read into memory (within the size limit), encrypted, and only the ciphertext is
written. The associated data binds each ciphertext to its report and file, so a file cannot be
swapped for another's without the decryption failing."""

from __future__ import annotations

import base64
import os
import secrets
import time
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vigil.config import Settings
from vigil.db import column_key_from, private_dir, use_column_key
from vigil.errors import DomainError
from vigil.translog.sth import write_new_secret


class StorageError(DomainError):
    code = "storage_error"
    status = 500


def load_file_key(settings: Settings) -> bytes:
    """The 32-byte key: from ``VIGIL_FILE_KEY`` (base64), or outside production a key file
    generated in the data directory. Production refuses to start without an explicit key.

    Every process that loads it (server, worker, seed) also seals and opens the personal-data
    columns with a key derived from it (:func:`vigil.db.use_column_key`)."""
    key = _read_file_key(settings)
    use_column_key(column_key_from(key))
    return key


def _read_file_key(settings: Settings) -> bytes:
    if settings.file_key:
        try:
            key = base64.b64decode(settings.file_key, validate=True)
        except ValueError:
            raise ValueError("VIGIL_FILE_KEY is not valid base64") from None
        if len(key) != 32:
            raise ValueError("VIGIL_FILE_KEY must decode to 32 bytes (AES-256)")
        return key
    if settings.environment == "production":
        raise ValueError("VIGIL_FILE_KEY must be set in production (evidence files are "
                         "encrypted with it)")
    path = settings.data_dir / "file-encryption.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_new_secret(path, base64.b64encode(AESGCM.generate_key(bit_length=256)))
    for _ in range(100):  # another worker may be between creating and writing it
        data = path.read_bytes()
        if data:
            return base64.b64decode(data)
        time.sleep(0.01)
    raise ValueError(f"{path} is empty")


class FileStore:
    def __init__(self, root: Path, key: bytes) -> None:
        self.root = root
        self._aead = AESGCM(key)
        private_dir(root)

    def _path(self, storage_key: str) -> Path:
        if not storage_key.isalnum():
            raise StorageError("invalid storage key")
        return self.root / storage_key[:2] / storage_key

    def put(self, data: bytes, aad: bytes) -> tuple[str, bytes]:
        storage_key = secrets.token_hex(16)
        nonce = os.urandom(12)
        path = self._path(storage_key)
        path.parent.mkdir(mode=0o700, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
            fh.write(self._aead.encrypt(nonce, data, aad))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return storage_key, nonce

    def get(self, storage_key: str, nonce: bytes, aad: bytes) -> bytes:
        try:
            blob = self._path(storage_key).read_bytes()
        except FileNotFoundError:
            raise StorageError("the file is no longer stored (deleted at retention?)") from None
        try:
            return self._aead.decrypt(nonce, blob, aad)
        except InvalidTag:
            raise StorageError("stored file failed its integrity check") from None

    def delete(self, storage_key: str) -> None:
        self._path(storage_key).unlink(missing_ok=True)

    def keys(self, older_than: float) -> list[str]:
        """Stored keys (and half-written ``.tmp`` files) last changed over ``older_than``
        seconds ago."""
        cutoff = time.time() - older_than
        return [p.name for p in self.root.glob("*/*")
                if p.is_file() and p.stat().st_mtime < cutoff]

    def remove_name(self, name: str) -> None:
        stem = name.removesuffix(".tmp")
        if stem.isalnum():
            (self.root / stem[:2] / name).unlink(missing_ok=True)
