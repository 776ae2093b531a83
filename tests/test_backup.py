"""Backups and restores (``vigil backup``, ``vigil restore``): an instance with reports,
evidence files, indicators, audit events, log entries and signed heads is backed up, restored
into a fresh data directory and a fresh database — SQLite and PostgreSQL — and then passes
``vigil audit verify``, with every evidence file opening to the bytes that were uploaded.
Archives that were altered, cut short, lack their manifest or point outside the target are
refused before anything is written, and so is a target that is not empty."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.fixtures.db import _postgres_database
from vigil.audit import seal
from vigil.backup import BackupError, backup, read_manifest, restore
from vigil.cli import app
from vigil.config import Settings
from vigil.db import make_engine, session_factory, transaction
from vigil.indicators import log_audit
from vigil.migrations import upgrade
from vigil.reports.models import Report, ReportFile
from vigil.reports.service import aad
from vigil.reports.storage import FileStore
from vigil.seed import seed_demo
from vigil.translog.sth import TreeHeadSigner
from vigil.worker import Worker


@dataclass
class Instance:
    settings: Settings
    url: str


def _urls(kind: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'a' / 'vigil.db'}", f"sqlite:///{tmp_path / 'b' / 'vigil.db'}"
        return
    first, second = _postgres_database(), _postgres_database()
    yield next(first), next(second)
    for gen in (first, second):
        for _ in gen:
            pass


@pytest.fixture(params=["sqlite", "postgresql"])
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Instance, Instance]]:
    for source, target in _urls(request.param, tmp_path):
        yield (Instance(Settings(data_dir=tmp_path / "a", database_url=source,
                                 environment="test"), source),
               Instance(Settings(data_dir=tmp_path / "b", database_url=target,
                                 environment="test"), target))


def _seeded(inst: Instance) -> None:
    """Organisations, indicators (log entries), reports with evidence files (assessed by the
    worker), their audit events sealed, and a signed head."""
    upgrade(inst.url)
    engine = make_engine(inst.url)
    factory = session_factory(engine)
    seed_demo(factory, inst.settings.data_dir, inst.settings)
    with transaction(factory) as s:
        assert seal.seal(s, older_than=timedelta(0)) is not None
    assert Worker(factory, factory, settings=inst.settings).sign_head()
    engine.dispose()


def _verify(inst: Instance) -> log_audit.AuditReport:
    key = TreeHeadSigner.from_file(inst.settings.effective_log_key_path).public_key
    engine = make_engine(inst.url)
    with session_factory(engine)() as s:
        report = log_audit.verify_database(s, key)
    engine.dispose()
    return report


def _evidence(inst: Instance) -> dict[int, bytes]:
    """Every evidence file, decrypted, checked against the hash the Centre computed."""
    store = FileStore.for_settings(inst.settings)
    engine = make_engine(inst.url)
    out = {}
    with session_factory(engine)() as s:
        for f, public_id in s.execute(select(ReportFile, Report.public_id).join(Report)):
            assert f.storage_key is not None and f.nonce is not None
            data = store.get(f.storage_key, f.nonce, aad(public_id, f.id), f.key_id)
            assert hashlib.sha256(data).hexdigest() == f.sha256
            out[f.id] = data
    engine.dispose()
    return out


def test_a_backup_restored_elsewhere_verifies_and_opens_its_evidence(
        pair: tuple[Instance, Instance], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source, target = pair
    _seeded(source)
    before = _verify(source)
    assert before.ok, before.problems
    evidence = _evidence(source)
    assert len(evidence) == 8

    archive = tmp_path / "vigil-backup.tar.gz"
    made = backup(source.settings, archive)
    assert made.files == 8
    assert archive.stat().st_mode & 0o077 == 0  # it holds the keys
    manifest = read_manifest(archive)
    assert manifest["database"] in ("sqlite", "postgresql")
    assert manifest["alembic_revision"]
    assert all(len(m["sha256"]) == 64 for m in manifest["members"].values())
    assert "keys/log-signing.key" in manifest["members"]

    restore(target.settings, archive)
    after = _verify(target)
    assert after.ok, after.problems
    assert (after.entries, after.heads_checked, after.audit_events_checked, after.seals) == \
        (before.entries, before.heads_checked, before.audit_events_checked, before.seals)
    assert after.audit_events_checked > 0 and after.seals >= 1
    assert _evidence(target) == evidence

    # The command line's audit, offline against the restored instance.
    monkeypatch.setenv("VIGIL_DATA_DIR", str(target.settings.data_dir))
    monkeypatch.setenv("VIGIL_DATABASE_URL", target.url)
    monkeypatch.setenv("VIGIL_ENVIRONMENT", "test")
    result = CliRunner().invoke(app, ["audit", "verify", "--no-state"])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output

    # A second restore into the now full target is refused, and changes nothing.
    again = CliRunner().invoke(app, ["restore", str(archive)])
    assert again.exit_code == 2
    assert "not empty" in again.output
    assert _verify(target).ok


@pytest.fixture
def sqlite_instance(tmp_path: Path) -> tuple[Instance, Path]:
    url = f"sqlite:///{tmp_path / 'a' / 'vigil.db'}"
    inst = Instance(Settings(data_dir=tmp_path / "a", database_url=url, environment="test"), url)
    _seeded(inst)
    archive = tmp_path / "backup.tar"
    backup(inst.settings, archive)
    return inst, archive


def _target(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "b", database_url=f"sqlite:///{tmp_path / 'b' / 'v.db'}",
                    environment="test")


def _rewrite(archive: Path, out: Path, change: dict[str, bytes | None],
             extra: list[tarfile.TarInfo] | None = None) -> Path:
    """A copy of ``archive`` with members replaced (None: left out) and members added."""
    with tarfile.open(archive) as src, tarfile.open(out, "w") as dst:
        for m in src.getmembers():
            if m.name in change:
                data = change[m.name]
                if data is None:
                    continue
                m.size = len(data)
                dst.addfile(m, io.BytesIO(data))
            else:
                dst.addfile(m, src.extractfile(m))
        for info in extra or []:
            dst.addfile(info, io.BytesIO(b"x" * info.size) if info.isreg() else None)
    return out


def _refused(tmp_path: Path, archive: Path, message: str) -> None:
    target = _target(tmp_path)
    with pytest.raises(BackupError, match=message):
        restore(target, archive)
    assert not target.data_dir.exists() or not any(target.data_dir.iterdir())


def test_a_tampered_member_is_refused_before_anything_is_written(
        sqlite_instance: tuple[Instance, Path], tmp_path: Path) -> None:
    _, archive = sqlite_instance
    with tarfile.open(archive) as tar:
        name = next(m.name for m in tar.getmembers() if m.name.startswith("files/"))
        blob = bytearray(tar.extractfile(name).read())  # type: ignore[union-attr]
    blob[0] ^= 1
    bad = _rewrite(archive, tmp_path / "tampered.tar", {name: bytes(blob)})
    _refused(tmp_path, bad, f"{name} does not match its checksum")


def test_an_archive_without_its_manifest_is_refused(
        sqlite_instance: tuple[Instance, Path], tmp_path: Path) -> None:
    _, archive = sqlite_instance
    bad = _rewrite(archive, tmp_path / "nomanifest.tar", {"manifest.json": None})
    _refused(tmp_path, bad, "no manifest.json")


@pytest.mark.parametrize("name,kind", [
    ("../escape", tarfile.REGTYPE), ("/etc/cron.d/x", tarfile.REGTYPE),
    ("files/ab/../../../x", tarfile.REGTYPE), ("files/ab/abcd", tarfile.SYMTYPE),
    ("keys/log-signing.key", tarfile.LNKTYPE), ("files/ab/abff", tarfile.CHRTYPE),
    ("notes.txt", tarfile.REGTYPE)])
def test_paths_outside_the_target_links_and_devices_are_refused(
        sqlite_instance: tuple[Instance, Path], tmp_path: Path, name: str, kind: bytes) -> None:
    _, archive = sqlite_instance
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = 4 if kind == tarfile.REGTYPE else 0
    if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        info.linkname = "/etc/passwd"
    bad = _rewrite(archive, tmp_path / "evil.tar", {}, [info])
    _refused(tmp_path, bad, "refused")
    assert not (tmp_path / "escape").exists() and not (tmp_path / "x").exists()


def test_a_truncated_archive_is_one_clear_error(
        sqlite_instance: tuple[Instance, Path], tmp_path: Path) -> None:
    _, archive = sqlite_instance
    cut = tmp_path / "cut.tar.gz"
    with tarfile.open(archive) as src, tarfile.open(cut, "w:gz") as dst:
        for m in src.getmembers():
            dst.addfile(m, src.extractfile(m))
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    _refused(tmp_path, cut, "corrupt or truncated")


def test_a_member_over_its_bound_is_refused_unread(
        sqlite_instance: tuple[Instance, Path], tmp_path: Path) -> None:
    _, archive = sqlite_instance
    big = tarfile.TarInfo("keys/file-encryption.old-keys")
    big.size = 10 * 1024 * 1024
    bad = _rewrite(archive, tmp_path / "big.tar", {}, [big])
    _refused(tmp_path, bad, "over its bound")


def test_restore_refuses_a_data_directory_that_is_not_empty(
        sqlite_instance: tuple[Instance, Path], tmp_path: Path) -> None:
    _, archive = sqlite_instance
    target = _target(tmp_path)
    target.data_dir.mkdir()
    (target.data_dir / "something.txt").write_text("kept")
    with pytest.raises(BackupError, match="not empty"):
        restore(target, archive)
    assert (target.data_dir / "something.txt").read_text() == "kept"
    assert sorted(p.name for p in target.data_dir.iterdir()) == ["something.txt"]


def test_a_different_file_key_in_the_environment_is_refused(
        sqlite_instance: tuple[Instance, Path], tmp_path: Path) -> None:
    _, archive = sqlite_instance
    import base64

    target = _target(tmp_path).model_copy(update={"file_key": base64.b64encode(b"k" * 32).decode()})
    with pytest.raises(BackupError, match="not the key in the archive"):
        restore(target, archive)


def test_backup_without_keys_says_so_and_the_cli_reports_one_line(
        sqlite_instance: tuple[Instance, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    inst, _ = sqlite_instance
    monkeypatch.setenv("VIGIL_DATA_DIR", str(inst.settings.data_dir))
    monkeypatch.setenv("VIGIL_DATABASE_URL", inst.url)
    out = tmp_path / "nokeys.tar.xz"
    result = CliRunner().invoke(app, ["backup", "--out", str(out), "--exclude-keys"])
    assert result.exit_code == 0, result.output
    manifest = read_manifest(out)
    assert manifest["keys_included"] is False
    assert not any(n.startswith("keys/") for n in manifest["members"])
    again = CliRunner().invoke(app, ["backup", "--out", str(out)])
    assert again.exit_code == 2 and "exists already" in again.output
    assert len(again.output.strip().splitlines()) == 1


def test_a_backup_never_misses_files_moved_to_a_new_key(sqlite_instance: tuple[Instance, Path],
                                                         tmp_path: Path) -> None:
    """While a rotation's re-encryption moves evidence files to new names, a copy of the
    database and a copy of the files disagree: the backup refuses to start then, and fails —
    writing nothing — if one ran while it copied, rather than leave files out."""
    from vigil.jobs.queue import enqueue
    from vigil.reports import tasks
    from vigil.reports.storage import rotate_file_key

    inst, _ = sqlite_instance
    engine = make_engine(inst.url)
    factory = session_factory(engine)

    def rotate_and_reencrypt(stage: str, done: int, total: int) -> None:
        if stage == "evidence files" and done == 1:
            rotate_file_key(inst.settings)
            with transaction(factory) as s:
                enqueue(s, tasks.REENCRYPT, {})
            Worker(factory, factory, settings=inst.settings,
                   store=FileStore.for_settings(inst.settings)).run_once()

    out = tmp_path / "during.tar"
    with pytest.raises(BackupError, match="re-encryption of evidence files ran during the backup"):
        backup(inst.settings, out, progress=rotate_and_reencrypt)
    assert not out.exists() and not list(tmp_path.glob("during.tar*"))

    with transaction(factory) as s:
        enqueue(s, tasks.REENCRYPT, {})
    with pytest.raises(BackupError, match="being moved to a new file key"):
        backup(inst.settings, tmp_path / "pending.tar")
    engine.dispose()


def test_an_archive_name_that_does_not_say_tar_is_refused(sqlite_instance: tuple[Instance, Path],
                                                          tmp_path: Path) -> None:
    inst, _ = sqlite_instance
    for name in ("b.zip", "b.tar.bz2", "backup"):
        with pytest.raises(BackupError, match=r"ends in \.tar, \.tar\.gz or \.tar\.xz"):
            backup(inst.settings, tmp_path / name)
        assert not (tmp_path / name).exists()
