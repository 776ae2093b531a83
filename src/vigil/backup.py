"""Backups and restores: one tar archive holds an instance — the database, the encrypted
evidence files, the keys — with a manifest of SHA-256 checksums (``vigil backup``,
``vigil restore``).

The database is copied consistently while the service runs: ``pg_dump`` (custom format) on
PostgreSQL, SQLite's online backup API on SQLite. It is copied *before* the evidence files, so
every file a copied row names is there unless retention deleted it meanwhile (a file written
later is an orphan the retention sweep removes). Members::

    manifest.json                  format, vigil version, Alembic revision, database kind,
                                   created at, {name: {sha256, size}} of every other member
    database/vigil.sqlite | database/vigil.pgdump
    files/<2 hex>/<storage key>    ciphertexts as stored (never decrypted here)
    keys/file-encryption.key       the current file key (also when it came from VIGIL_FILE_KEY)
    keys/file-encryption.old-keys  previous file keys, if any
    keys/log-signing.key           the log's private signing key

The archive holds the keys (unless ``include_keys`` is off): whoever has it can read every
evidence file, so it is written 0600 and must be kept as carefully as the keys themselves.

A restore writes only into an empty data directory and an empty database, and only after
every member's checksum matched the manifest; it refuses absolute paths, ``..``, links and
special files, names outside the layout above, duplicate names and members over their size
bound, and says so in one line. A failure while writing removes what it wrote.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from sqlalchemy import inspect, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

import vigil
from vigil.config import Settings
from vigil.db import make_engine, private_dir
from vigil.migrations import config as alembic_config
from vigil.reports.storage import KEY_FILE, OLD_KEYS_FILE, load_file_keys
from vigil.reports.tasks import reencryption_runs

FORMAT = "vigil-backup-v1"
MANIFEST = "manifest.json"
DB_SQLITE = "database/vigil.sqlite"
DB_POSTGRES = "database/vigil.pgdump"
KEY_MEMBERS = {f"keys/{KEY_FILE}", f"keys/{OLD_KEYS_FILE}", "keys/log-signing.key"}
_FILE_MEMBER = re.compile(r"files/([0-9a-f]{2})/([0-9A-Za-z]{2,64})")
_CHUNK = 1024 * 1024

#: (step, done, total): called as long steps advance (total 0: not known).
Progress = Callable[[str, int, int], None]


class BackupError(ValueError):
    """A backup or restore that cannot go ahead, in one line that names the problem."""


@dataclass(frozen=True)
class Limits:
    """Bounds a restore holds every member to, before reading it."""

    max_database_bytes: int = 256 * 1024**3
    #: An evidence file: the largest upload plus the cipher's tag, with room to spare.
    max_file_bytes: int = 1024**3
    max_members: int = 20_000_000
    max_manifest_bytes: int = 256 * 1024**2
    max_key_bytes: int = 64 * 1024


@dataclass
class Result:
    archive: Path
    database: str
    files: int = 0
    bytes: int = 0
    keys: bool = True
    notes: list[str] = field(default_factory=list)


def _no_progress(step: str, done: int, total: int) -> None:
    pass


def _database_kind(url: str) -> str:
    if url.startswith("sqlite"):
        return "sqlite"
    if url.startswith("postgresql"):
        return "postgresql"
    raise BackupError(f"backups support SQLite and PostgreSQL, not {url.split(':', 1)[0]}")


def _sqlite_path(url: str) -> Path:
    path = make_url(url).database
    if not path or path == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(path)


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password (that goes in PGPASSWORD, not on a
    command line others can read in the process list)."""
    u: URL = make_url(url).set(drivername="postgresql")
    env = dict(os.environ)
    if u.password is not None:
        env["PGPASSWORD"] = str(u.password)
        u = u.set(password=None)
    return u.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} not found: install PostgreSQL's client tools "
                          "(Debian: apt install postgresql-client)")
    return found


def _run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        raise BackupError(f"{Path(args[0]).name} failed: {lines[0] if lines else done.returncode}")


def _revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o600, int(datetime.now(UTC).timestamp())
    return info


def _open_write(raw: IO[bytes], path: Path) -> tarfile.TarFile:
    """A tar writer, compressed as the file name says (.tar.gz/.tgz, .tar.xz/.txz)."""
    if path.name.endswith((".tar.gz", ".tgz")):
        return tarfile.open(fileobj=raw, mode="w:gz")
    if path.name.endswith((".tar.xz", ".txz")):
        return tarfile.open(fileobj=raw, mode="w:xz")
    return tarfile.open(fileobj=raw, mode="w")


def _key_members(settings: Settings) -> dict[str, bytes]:
    ring = load_file_keys(settings)
    out = {f"keys/{KEY_FILE}": base64.b64encode(ring.current) + b"\n"}
    if ring.previous:
        out[f"keys/{OLD_KEYS_FILE}"] = b"".join(base64.b64encode(k) + b"\n"
                                                for k in ring.previous)
    log_key = settings.effective_log_key_path
    if log_key.exists():
        out["keys/log-signing.key"] = log_key.read_bytes()
    return out


def _reencryption(url: str, since: datetime | None = None) -> int:
    """Re-encryption runs (``reencrypt_files`` jobs) waiting or running — or, with ``since``,
    also those that finished after it: while one moves files to a new key, the database's
    copy and the files on disk name different storage keys."""
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return reencryption_runs(session, since)
    finally:
        engine.dispose()


def backup(settings: Settings, out: Path, *, include_keys: bool = True,
           progress: Progress | None = None) -> Result:
    """Write the archive to ``out`` (``.tar``, ``.tar.gz``/``.tgz`` or ``.tar.xz``; refused if
    it exists). Raises :class:`BackupError`."""
    step = progress or _no_progress
    url = settings.effective_database_url
    kind = _database_kind(url)
    if not out.name.endswith((".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz")):
        raise BackupError(f"{out.name}: the archive's name ends in .tar, .tar.gz or .tar.xz "
                          "(it says how it is compressed)")
    if out.exists():
        raise BackupError(f"{out} exists already: give a new file name")
    revision = _revision(url)
    if revision is None:
        raise BackupError("the database has no vigil schema: nothing to back up")
    try:
        keys = _key_members(settings) if include_keys else {}
    except (ValueError, OSError) as exc:
        raise BackupError(str(exc)) from None
    started = datetime.now(UTC)
    if _reencryption(url):
        raise BackupError("evidence files are being moved to a new file key (a rotation's "
                          "re-encryption): back up when `vigil keys status` shows it finished")
    result = Result(out, kind, keys=include_keys)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    members: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".vigil-backup-") as stage:
        os.chmod(stage, 0o700)
        db_member = DB_SQLITE if kind == "sqlite" else DB_POSTGRES
        db_copy = Path(stage) / Path(db_member).name
        step("database", 0, 0)
        if kind == "sqlite":
            _sqlite_copy(_sqlite_path(url), db_copy, step)
        else:
            dsn, env = _libpq(url)
            _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                  "--file", str(db_copy), "--dbname", dsn], env)
        files = sorted(p for p in (settings.data_dir / "files").glob("*/*")
                       if p.is_file() and p.name.isalnum())
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as raw, _open_write(raw, out) as tar:
                members[db_member] = {"sha256": _sha256_file(db_copy),
                                      "size": db_copy.stat().st_size}
                with db_copy.open("rb") as fh:
                    tar.addfile(_info(db_member, members[db_member]["size"]), fh)
                for n, path in enumerate(files):
                    step("evidence files", n, len(files))
                    try:
                        data = path.read_bytes()
                    except FileNotFoundError:
                        continue  # deleted at retention since the directory was listed
                    name = f"files/{path.parent.name}/{path.name}"
                    members[name] = {"sha256": hashlib.sha256(data).hexdigest(),
                                     "size": len(data)}
                    tar.addfile(_info(name, len(data)), io.BytesIO(data))
                    result.files += 1
                    result.bytes += len(data)
                step("evidence files", len(files), len(files))
                # The copy holds the files its database names only if no re-encryption ran
                # meanwhile, and the keys that open them only if none was rotated.
                if _reencryption(url, started):
                    raise BackupError("a re-encryption of evidence files ran during the backup: "
                                      "the archive would not hold the files its database "
                                      "names; run the backup again")
                if include_keys and _key_members(settings) != keys:
                    raise BackupError("the file key or the log key was rotated during the "
                                      "backup: run it again")
                for name, data in sorted(keys.items()):
                    members[name] = {"sha256": hashlib.sha256(data).hexdigest(),
                                     "size": len(data)}
                    tar.addfile(_info(name, len(data)), io.BytesIO(data))
                manifest = json.dumps({
                    "format": FORMAT, "vigil_version": vigil.__version__,
                    "alembic_revision": revision, "database": kind,
                    "created_at": datetime.now(UTC).isoformat(), "keys_included": include_keys,
                    "file_key_source": "environment" if settings.file_key else "data-dir",
                    "members": members}, indent=1, sort_keys=True).encode()
                tar.addfile(_info(MANIFEST, len(manifest)), io.BytesIO(manifest))
                raw.flush()
                os.fsync(raw.fileno())
            os.replace(partial, out)
        finally:
            partial.unlink(missing_ok=True)
    if not include_keys:
        result.notes.append("the archive holds no keys: keep the file key and the log key "
                            "safely elsewhere, or the evidence cannot be read after a restore")
    return result


def _sqlite_copy(src: Path, dst: Path, step: Progress) -> None:
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(dst)
    try:
        def report(status: int, remaining: int, total: int) -> None:
            step("database", total - remaining, total)

        source.backup(target, pages=4096, progress=report)
    finally:
        target.close()
        source.close()


# --- restore -----------------------------------------------------------------------------


def _check_name(member: tarfile.TarInfo, limits: Limits) -> str:
    """The member's name if it is one vigil writes, within its size bound; else BackupError."""
    name = member.name
    if not (member.isreg() or member.isdir()):
        raise BackupError(f"the archive holds {name!r}, a link or special file: refused")
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\\" in name or not path.parts:
        raise BackupError(f"the archive holds {name!r}, a path outside the target: refused")
    if member.isdir():
        if path.parts[0] not in ("database", "files", "keys") or len(path.parts) > 2:
            raise BackupError(f"the archive holds an unexpected folder {name!r}: refused")
        return name
    if name == MANIFEST:
        bound = limits.max_manifest_bytes
    elif name in (DB_SQLITE, DB_POSTGRES):
        bound = limits.max_database_bytes
    elif name in KEY_MEMBERS:
        bound = limits.max_key_bytes
    elif (m := _FILE_MEMBER.fullmatch(name)) and m.group(2).startswith(m.group(1)):
        bound = limits.max_file_bytes
    else:
        raise BackupError(f"the archive holds {name!r}, which is not part of a vigil backup: "
                          "refused")
    if member.size > bound:
        raise BackupError(f"{name} is {member.size} bytes, over its bound of {bound}: refused")
    return name


def _members(archive: Path, limits: Limits) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo, str]]:
    """Every member of the archive, checked before it is read (use inside :func:`_reading`,
    which turns a corrupt or truncated archive into one BackupError)."""
    if not archive.is_file():
        raise BackupError(f"{archive}: no such file")
    with tarfile.open(archive, "r:*") as tar:
        seen: set[str] = set()
        while (member := tar.next()) is not None:
            name = _check_name(member, limits)
            if member.isdir():
                continue
            if name in seen:
                raise BackupError(f"the archive holds {name} twice: refused")
            seen.add(name)
            if len(seen) > limits.max_members:
                raise BackupError(f"the archive holds over {limits.max_members} members")
            yield tar, member, name


@contextmanager
def _reading(archive: Path) -> Iterator[None]:
    import lzma

    try:
        yield
    except BackupError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError) as exc:
        raise BackupError(f"{archive} is corrupt or truncated ({exc or type(exc).__name__}): "
                          "nothing was restored") from None


def _stream(tar: tarfile.TarFile, member: tarfile.TarInfo, sink: IO[bytes] | None) -> str:
    """The SHA-256 of a member, read in chunks (and written to ``sink``)."""
    fh = tar.extractfile(member)
    assert fh is not None
    h = hashlib.sha256()
    read = 0
    while chunk := fh.read(_CHUNK):
        read += len(chunk)
        h.update(chunk)
        if sink is not None:
            sink.write(chunk)
    if read != member.size:
        raise BackupError(f"{member.name} is truncated")
    return h.hexdigest()


def read_manifest(archive: Path, limits: Limits | None = None,
                  progress: Progress | None = None) -> dict[str, Any]:
    """The manifest, after every member's checksum matched it (nothing is written).
    Raises :class:`BackupError` naming the first problem."""
    limits = limits or Limits()
    step = progress or _no_progress
    manifest: dict[str, Any] | None = None
    sums: dict[str, tuple[str, int]] = {}
    with _reading(archive):
        for tar, member, name in _members(archive, limits):
            if name == MANIFEST:
                fh = tar.extractfile(member)
                assert fh is not None
                try:
                    manifest = json.loads(fh.read(limits.max_manifest_bytes + 1))
                except ValueError:
                    raise BackupError("the archive's manifest is not valid JSON") from None
                continue
            sums[name] = (_stream(tar, member, None), member.size)
            step("checking", len(sums), 0)
    if manifest is None:
        raise BackupError("the archive has no manifest.json: not a vigil backup (or cut short)")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT \
            or not isinstance(manifest.get("members"), dict):
        raise BackupError(f"the manifest is not of format {FORMAT}")
    listed: dict[str, Any] = manifest["members"]
    for name in sorted(set(listed) - set(sums)):
        raise BackupError(f"{name} is in the manifest but not in the archive")
    for name in sorted(set(sums) - set(listed)):
        raise BackupError(f"{name} is in the archive but not in the manifest: refused")
    for name, (digest, size) in sorted(sums.items()):
        want = listed[name]
        if not isinstance(want, dict) or want.get("sha256") != digest or want.get("size") != size:
            raise BackupError(f"{name} does not match its checksum in the manifest (altered or "
                              "damaged): nothing was restored")
    db = {"sqlite": DB_SQLITE, "postgresql": DB_POSTGRES}.get(str(manifest.get("database")))
    if db is None or db not in sums:
        raise BackupError("the archive holds no database")
    return manifest


def _empty_target(settings: Settings) -> None:
    data = settings.data_dir
    if data.exists() and (not data.is_dir() or any(data.iterdir())):
        raise BackupError(f"the data directory {data} is not empty: restore only into an "
                          "empty one")
    url = settings.effective_database_url
    if _database_kind(url) == "sqlite":
        path = _sqlite_path(url)
        if path.exists() and path.stat().st_size > 0:
            raise BackupError(f"the database {path} exists already: restore only into an "
                              "empty one")
        return
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            tables = inspect(conn).get_table_names()
    except Exception as exc:
        raise BackupError(f"cannot reach the target database ({type(exc).__name__}): create "
                          "it first (createdb) and check VIGIL_DATABASE_URL") from None
    finally:
        engine.dispose()
    if tables:
        raise BackupError(f"the target database is not empty ({len(tables)} tables): restore "
                          "only into an empty one")


def _known_revision(revision: str) -> bool:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    try:
        return script.get_revision(revision) is not None
    except Exception:
        return False


def restore(settings: Settings, archive: Path, *, limits: Limits | None = None,
            progress: Progress | None = None) -> Result:
    """Restore ``archive`` into the (empty) data directory and database of ``settings``.
    Every checksum is verified before anything is written. Raises :class:`BackupError`."""
    limits = limits or Limits()
    step = progress or _no_progress
    _empty_target(settings)
    manifest = read_manifest(archive, limits, step)
    kind = _database_kind(settings.effective_database_url)
    if manifest["database"] != kind:
        raise BackupError(f"the archive holds a {manifest['database']} database, the target is "
                          f"{kind}: restore into the same kind of database")
    revision = str(manifest.get("alembic_revision"))
    if not _known_revision(revision):
        raise BackupError(f"the archive's schema (revision {revision}) is unknown to this "
                          f"vigil {vigil.__version__}: restore with the version that made it")
    result = Result(archive, kind, keys=bool(manifest.get("keys_included")))
    env_key = settings.file_key
    listed: dict[str, Any] = manifest["members"]
    _check_keys(settings, listed)
    written: list[Path] = []
    created_dir = not settings.data_dir.exists()
    stage = None
    try:
        private_dir(settings.data_dir)
        stage = Path(tempfile.mkdtemp(dir=settings.data_dir, prefix=".restore-"))
        with _reading(archive):
            for tar, member, name in _members(archive, limits):
                target: Path | None
                if name == MANIFEST:
                    continue
                if name in (DB_SQLITE, DB_POSTGRES):
                    target = stage / Path(name).name
                elif name.startswith("files/"):
                    target = settings.data_dir / name
                    private_dir(target.parent.parent)
                    private_dir(target.parent)
                    result.files += 1
                    result.bytes += member.size
                    step("evidence files", result.files, len(listed))
                else:
                    target = _key_target(settings, name)
                    if target is None:
                        continue
                _write(tar, member, target, listed[name]["sha256"], written)
        step("database", 0, 0)
        db_file = stage / Path(DB_SQLITE if kind == "sqlite" else DB_POSTGRES).name
        if kind == "sqlite":
            path = _sqlite_path(settings.effective_database_url)
            private_dir(path.parent)
            os.replace(db_file, path)
            written.append(path)
        else:
            dsn, env = _libpq(settings.effective_database_url)
            _run([_tool("pg_restore"), "--no-owner", "--no-privileges", "--single-transaction",
                  "--exit-on-error", "--dbname", dsn, str(db_file)], env)
    except BaseException:
        # The target was empty: leave it so (nothing half-restored to start from).
        for path in reversed(written):
            path.unlink(missing_ok=True)
        if created_dir:
            shutil.rmtree(settings.data_dir, ignore_errors=True)
        elif settings.data_dir.is_dir():
            for child in settings.data_dir.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise
    finally:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
    if not result.keys:
        result.notes.append("the archive holds no keys: give the file key (VIGIL_FILE_KEY or "
                            f"{settings.data_dir / KEY_FILE}) and the log key "
                            f"({settings.effective_log_key_path}) before starting vigil")
    if manifest.get("file_key_source") == "environment" and not env_key and result.keys:
        result.notes.append(f"the file key came from VIGIL_FILE_KEY on the backed-up host; it "
                            f"is now in {settings.data_dir / KEY_FILE}: move it back into "
                            "VIGIL_FILE_KEY there (production requires it)")
    return result


def _key_target(settings: Settings, name: str) -> Path | None:
    """Where a key member goes: the data directory, or the log key's own path; a key the
    settings give already (VIGIL_FILE_KEY) is checked against the archive, not written."""
    if name == "keys/log-signing.key":
        path = settings.effective_log_key_path
        if path.exists():
            raise BackupError(f"{path} exists already: restore the log key only to an empty "
                              "place")
        return path
    if name == f"keys/{KEY_FILE}" and settings.file_key:
        return None  # compared with VIGIL_FILE_KEY by _check_env_key
    return settings.data_dir / Path(name).name


def _check_keys(settings: Settings, listed: dict[str, Any]) -> None:
    """Before anything is written: a VIGIL_FILE_KEY must be the archived key (else no evidence
    file would open), and the log key's place must be free."""
    member = f"keys/{KEY_FILE}"
    if settings.file_key and member in listed:
        try:
            key = base64.b64decode(settings.file_key, validate=True)
        except ValueError:
            raise BackupError("VIGIL_FILE_KEY is not valid base64") from None
        if hashlib.sha256(base64.b64encode(key) + b"\n").hexdigest() != listed[member]["sha256"]:
            raise BackupError("VIGIL_FILE_KEY is not the key in the archive: the evidence "
                              "would not open; unset it, or set the backed-up key")
    if "keys/log-signing.key" in listed and settings.effective_log_key_path.exists():
        raise BackupError(f"{settings.effective_log_key_path} exists already: restore the log "
                          "key only to an empty place")


def _write(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path, sha256: str,
           written: list[Path]) -> None:
    """Write one member to ``target`` (created, mode 0600; never over an existing file),
    checking its checksum again: the archive may have changed since it was verified."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise BackupError(f"{target} exists already: refused to overwrite it") from None
    written.append(target)
    with os.fdopen(fd, "wb") as fh:
        if _stream(tar, member, fh) != sha256:
            raise BackupError(f"{member.name} changed since it was checked: nothing was "
                              "restored")
        fh.flush()
        os.fsync(fh.fileno())
