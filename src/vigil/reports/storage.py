"""Evidence files, encrypted at rest with AES-256-GCM. Clear bytes never touch the disk: an
upload is read into memory (within the size limit), encrypted, and only the ciphertext is
written. The associated data binds each ciphertext to its report and file, so a file cannot be
swapped for another's without the decryption failing.

Keys form a ring (:class:`FileKeys`): the current key encrypts every new file, previous keys
only decrypt. Each file's row names the key it was encrypted with (``report_files.key_id``, an
id derived from the key, never the key); files from before key ids (``NULL``) are tried with
every key of the ring. ``vigil keys rotate --file-key`` makes a new current key and the worker
re-encrypts the files in the background (:mod:`vigil.reports.tasks`); once ``vigil keys
status`` shows no file on a previous key, that key can be retired."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vigil.config import Settings
from vigil.db import column_key_from, private_dir, use_column_key, watch_column_keys
from vigil.errors import DomainError
from vigil.translog.sth import write_new_secret

#: The generated key (outside production) and the previous keys after a rotation, in the data
#: directory: one base64 key per line.
KEY_FILE = "file-encryption.key"
OLD_KEYS_FILE = "file-encryption.old-keys"


class StorageError(DomainError):
    code = "storage_error"
    status = 500


def key_id(key: bytes) -> str:
    """A file key's id: 12 hex digits of a SHA-256 of it (tells which key, gives nothing away)."""
    return hashlib.sha256(b"vigil-file-key-id\0" + key).hexdigest()[:12]


@dataclass(frozen=True)
class FileKeys:
    """The ring: ``current`` encrypts, ``previous`` (oldest first) only decrypt."""

    current: bytes
    previous: tuple[bytes, ...] = ()

    @property
    def current_id(self) -> str:
        return key_id(self.current)

    def by_id(self) -> dict[str, bytes]:
        return {key_id(k): k for k in (*self.previous, self.current)}


def load_file_key(settings: Settings) -> bytes:
    """The current 32-byte key (see :func:`load_file_keys`)."""
    return load_file_keys(settings).current


def load_file_keys(settings: Settings) -> FileKeys:
    """The ring: the current key from ``VIGIL_FILE_KEY`` (base64), or outside production a key
    file generated in the data directory; previous keys from ``VIGIL_FILE_KEYS_OLD`` and the
    data directory's ``file-encryption.old-keys``. Production refuses to start without an
    explicit key. Raises ``ValueError`` naming the bad setting or file.

    Every process that loads it (server, worker, seed) also seals and opens the personal-data
    columns with keys derived from it (:func:`vigil.db.use_column_key`): the previous keys'
    to read what they sealed, the current one for everything new."""
    current = _read_file_key(settings)
    previous = tuple(k for k in _old_keys(settings) if k != current)
    for key in previous:
        use_column_key(column_key_from(key))
    use_column_key(column_key_from(current))
    return FileKeys(current, previous)


def _decode(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raise ValueError(f"{where} is not valid base64") from None
    if len(key) != 32:
        raise ValueError(f"{where} must decode to 32 bytes (AES-256)")
    return key


def _old_keys(settings: Settings) -> list[bytes]:
    keys = [_decode(k, "VIGIL_FILE_KEYS_OLD") for k in settings.file_keys_old]
    path = settings.data_dir / OLD_KEYS_FILE
    if path.exists():
        keys += [_decode(line, str(path)) for line in path.read_text().splitlines()
                 if line.strip()]
    return list(dict.fromkeys(keys))


def _read_file_key(settings: Settings) -> bytes:
    if settings.file_key:
        key = _decode(settings.file_key, "VIGIL_FILE_KEY")
        if settings.environment == "production" and len(set(key)) < 16:
            raise ValueError("VIGIL_FILE_KEY looks like a placeholder, not a random key: make "
                             "one with `openssl rand -base64 32`")
        return key
    if settings.environment == "production":
        raise ValueError("VIGIL_FILE_KEY must be set in production (evidence files are "
                         "encrypted with it)")
    path = settings.data_dir / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_new_secret(path, base64.b64encode(AESGCM.generate_key(bit_length=256)))
    for _ in range(100):  # another worker may be between creating and writing it
        data = path.read_bytes()
        if data:
            return _decode(data.decode("ascii", "replace"), str(path))
        time.sleep(0.01)
    raise ValueError(f"{path} is empty")


def rotate_file_key(settings: Settings) -> FileKeys:
    """A new current key in the data directory (the key there becomes a previous key first,
    so that no process ever meets a file whose key it cannot find). Only for keys kept in the
    data directory: a ``VIGIL_FILE_KEY`` is changed where it is set (docs/operations.md).
    Returns the new ring."""
    if settings.file_key:
        raise ValueError("the file key comes from VIGIL_FILE_KEY: rotate it there (see "
                         "docs/operations.md, \"Key rotation\")")
    old = load_file_keys(settings)
    old_path = settings.data_dir / OLD_KEYS_FILE
    if old.current not in _old_keys(settings):
        _write_private(old_path, b"".join(base64.b64encode(k) + b"\n"
                                          for k in (*_old_keys(settings), old.current)))
    _write_private(settings.data_dir / KEY_FILE,
                   base64.b64encode(AESGCM.generate_key(bit_length=256)))
    return load_file_keys(settings)


def retire_file_keys(settings: Settings, keep: set[str]) -> list[str]:
    """Drop the previous keys in the data directory whose ids are not in ``keep`` (the ids
    still used by files). Returns the ids dropped."""
    path = settings.data_dir / OLD_KEYS_FILE
    if not path.exists():
        return []
    kept = [k for k in _old_keys(settings) if key_id(k) in keep]
    dropped = [key_id(k) for k in _old_keys(settings) if key_id(k) not in keep]
    _write_private(path, b"".join(base64.b64encode(k) + b"\n" for k in kept))
    return dropped


def _write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically with ``data`` (mode 0600)."""
    private_dir(path.parent)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class FileStore:
    """Encrypted evidence files under ``root``. Given ``settings``, the ring is re-read when
    the data directory's key files change, so that a rotation reaches every running process
    without a restart."""

    def __init__(self, root: Path, key: bytes | FileKeys, settings: Settings | None = None) -> None:
        self.root = root
        self._settings = settings
        self._lock = threading.Lock()
        self._stamp = self._key_files_stamp()
        self._set(key if isinstance(key, FileKeys) else FileKeys(key))
        private_dir(root)

    @classmethod
    def for_settings(cls, settings: Settings) -> FileStore:
        """The store of ``settings``' data directory, with its key ring; the personal-data
        columns of this process follow the ring when its key files change (a rotation)."""
        watch_column_keys(lambda: load_file_keys(settings))
        return cls(settings.data_dir / "files", load_file_keys(settings), settings)

    def _set(self, keys: FileKeys) -> None:
        # One assignment, so that a reader never sees one ring's keys with another's ciphers.
        self._ring = (keys, {kid: AESGCM(k) for kid, k in keys.by_id().items()})

    def _key_files_stamp(self) -> tuple[int, ...]:
        if self._settings is None or self._settings.file_key:
            return ()
        stamp = []
        for name in (KEY_FILE, OLD_KEYS_FILE):
            try:
                stamp.append((self._settings.data_dir / name).stat().st_mtime_ns)
            except FileNotFoundError:
                stamp.append(0)
        return tuple(stamp)

    @property
    def ring(self) -> FileKeys:
        """The ring as it is now (re-read if the key files changed)."""
        if self._settings is not None:
            stamp = self._key_files_stamp()
            if stamp != self._stamp:
                with self._lock:
                    self._set(load_file_keys(self._settings))
                    self._stamp = stamp
        return self._ring[0]

    def _current(self) -> tuple[FileKeys, dict[str, AESGCM]]:
        self.ring  # noqa: B018 - re-reads the ring if its files changed
        return self._ring

    def _path(self, storage_key: str) -> Path:
        if not storage_key.isalnum():
            raise StorageError("invalid storage key")
        return self.root / storage_key[:2] / storage_key

    def put(self, data: bytes, aad: bytes) -> tuple[str, bytes, str]:
        """Encrypt and store ``data`` with the current key. Returns (storage key, nonce,
        key id)."""
        keys, aeads = self._current()
        kid = keys.current_id
        storage_key = secrets.token_hex(16)
        nonce = os.urandom(12)
        path = self._path(storage_key)
        path.parent.mkdir(mode=0o700, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
            fh.write(aeads[kid].encrypt(nonce, data, aad))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return storage_key, nonce, kid

    def get(self, storage_key: str, nonce: bytes, aad: bytes, key_id: str | None = None) -> bytes:
        """The clear bytes. ``key_id``: the key the file was encrypted with (None: a file from
        before key ids, tried with every key of the ring, the current one first)."""
        try:
            blob = self._path(storage_key).read_bytes()
        except FileNotFoundError:
            raise StorageError("the file is no longer stored (deleted at retention?)") from None
        keys, aeads = self._current()
        if key_id is None:
            ids = [keys.current_id, *(k for k in aeads if k != keys.current_id)]
        elif key_id in aeads:
            ids = [key_id]
        else:
            raise StorageError(f"the file is encrypted with key {key_id}, which is not in the "
                               "key ring (a previous key retired too early?)")
        for kid in ids:
            try:
                return aeads[kid].decrypt(nonce, blob, aad)
            except InvalidTag:
                continue
        raise StorageError("stored file failed its integrity check")

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
