"""Rotating the file key (``vigil keys rotate --file-key``): files encrypted before — with a key
id, or from before key ids — still open; new files use the new key at once, also in a
process that started before the rotation; the worker's background job re-encrypts every file,
the personal-data columns and the reported users' digests with the new key, in resumable
batches, and running it again changes nothing; ``vigil keys status`` then says the old key
may be retired. (Both databases.)"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from vigil.cli import app
from vigil.config import Settings
from vigil.db import column_key_from, column_key_id, sealed_with, transaction
from vigil.jobs.models import Job
from vigil.jobs.queue import enqueue
from vigil.reports import tasks
from vigil.reports.assessment import subject_digests
from vigil.reports.models import Report, ReportFile, ReportSubject
from vigil.reports.service import aad
from vigil.reports.storage import FileStore, StorageError, load_file_keys, rotate_file_key
from vigil.seed import seed_demo
from vigil.worker import Worker


@pytest.fixture
def settings(data_dir: Path, db_url: str) -> Settings:
    return Settings(data_dir=data_dir, database_url=db_url, environment="test")


def _evidence(factory: sessionmaker[Session], store: FileStore) -> dict[int, bytes]:
    out = {}
    with factory() as s:
        for f, public_id in s.execute(select(ReportFile, Report.public_id).join(Report)):
            assert f.storage_key is not None and f.nonce is not None
            data = store.get(f.storage_key, f.nonce, aad(public_id, f.id), f.key_id)
            assert hashlib.sha256(data).hexdigest() == f.sha256
            out[f.id] = data
    return out


def _key_ids(factory: sessionmaker[Session]) -> dict[str | None, int]:
    with factory() as s:
        return tasks.files_by_key(s)


def test_files_before_a_rotation_open_and_the_worker_moves_them_to_the_new_key(
        factory: sessionmaker[Session], settings: Settings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    seed_demo(factory, settings.data_dir, settings)  # 4 reports, 8 files, assessed
    store = FileStore.for_settings(settings)  # a server's store, started before the rotation
    old = store.ring.current_id
    assert _key_ids(factory) == {old: 8}
    with transaction(factory) as s:  # half of them from before files carried a key id
        s.execute(update(ReportFile).where(ReportFile.id % 2 == 0).values(key_id=None))
    evidence = _evidence(factory, store)
    files_on_disk = {p.name for p in (settings.data_dir / "files").rglob("*") if p.is_file()}

    ring = rotate_file_key(settings)
    new = ring.current_id
    assert new != old and [k for k in ring.by_id() if k != new] == [old]
    assert _evidence(factory, store) == evidence  # the running process reads the old files
    assert _evidence(factory, FileStore.for_settings(settings)) == evidence
    key, _, kid = store.put(b"a file uploaded after the rotation", b"aad")
    assert kid == new  # ... and writes new ones with the new key, without a restart
    store.delete(key)

    monkeypatch.setattr(tasks, "BATCH_FILES", 3)  # several runs: the job resumes where it was
    with transaction(factory) as s:
        enqueue(s, tasks.REENCRYPT, {})
    runner = CliRunner(env={"VIGIL_DATA_DIR": str(settings.data_dir),
                            "VIGIL_DATABASE_URL": settings.effective_database_url})
    early = runner.invoke(app, ["keys", "retire"])
    assert early.exit_code == 2 and "not finished" in early.output
    assert [k for k in load_file_keys(settings).by_id() if k != new] == [old]
    worker = Worker(factory, factory, settings=settings, store=store)
    worker.run_once()
    with factory() as s:
        runs = s.scalars(select(Job.status).where(Job.kind == tasks.REENCRYPT)).all()
    assert len(runs) >= 5 and set(runs) == {"done"}
    assert _key_ids(factory) == {new: 8}
    assert _evidence(factory, FileStore.for_settings(settings)) == evidence
    now_on_disk = {p.name for p in (settings.data_dir / "files").rglob("*") if p.is_file()}
    assert len(now_on_disk) == 8 and not now_on_disk & files_on_disk  # old ciphertexts gone

    # Personal data is sealed with the new key; reported users' digests use the new key.
    new_column = column_key_id(column_key_from(ring.current))
    with factory() as s:
        assert set(sealed_with(s)) == {new_column}
        for report in s.scalars(select(Report).where(Report.details.isnot(None))):
            want = subject_digests(json.loads(report.details or "{}"), worker.services.subject_key)
            have = set(s.scalars(select(ReportSubject.digest).where(
                ReportSubject.report_id == report.id)))
            assert have == want

    # Again: nothing to do, nothing changes.
    with transaction(factory) as s:
        enqueue(s, tasks.REENCRYPT, {})
    worker.run_once()
    assert {p.name for p in (settings.data_dir / "files").rglob("*") if p.is_file()} == now_on_disk

    status = runner.invoke(app, ["keys", "status"])
    assert status.exit_code == 0, status.output
    assert f"{old}  previous  0 files, 0 personal values (unused: may be retired)" in status.output
    assert f"{new}  current   8 files" in status.output
    retired = runner.invoke(app, ["keys", "retire"])
    assert retired.exit_code == 0, retired.output
    assert f"retired 1 previous file key(s) {old}" in retired.output
    assert load_file_keys(settings).previous == ()
    assert _evidence(factory, FileStore.for_settings(settings)) == evidence


def test_a_file_on_a_key_missing_from_the_ring_is_one_clear_error(
        factory: sessionmaker[Session], settings: Settings) -> None:
    seed_demo(factory, settings.data_dir, settings)
    store = FileStore.for_settings(settings)
    with factory() as s:
        f, public_id = s.execute(select(ReportFile, Report.public_id).join(Report)).first()  # type: ignore[misc]
    with pytest.raises(StorageError, match="not in the key ring"):
        store.get(f.storage_key, f.nonce, aad(public_id, f.id), "0123456789ab")


def test_rotation_of_a_key_from_the_environment_changes_nothing_and_prints_a_new_key(
        settings: Settings, tmp_path: Path) -> None:
    import base64

    env_key = base64.b64encode(b"e" * 32).decode()
    runner = CliRunner(env={"VIGIL_DATA_DIR": str(settings.data_dir),
                            "VIGIL_DATABASE_URL": settings.effective_database_url,
                            "VIGIL_FILE_KEY": env_key})
    result = runner.invoke(app, ["keys", "rotate", "--file-key"])
    assert result.exit_code == 0, result.output
    printed = [ln for ln in result.output.splitlines() if len(ln) == 44 and ln.endswith("=")]
    assert len(printed) == 1 and printed[0] != env_key
    assert "VIGIL_FILE_KEYS_OLD" in result.output
    with_old = settings.model_copy(update={"file_key": printed[0], "file_keys_old": [env_key]})
    assert base64.b64decode(env_key) in load_file_keys(with_old).previous
    both = runner.invoke(app, ["keys", "rotate"])
    assert both.exit_code == 2 and "one of --file-key or --log-key" in both.output


def test_a_process_started_before_a_rotation_opens_and_seals_with_the_new_key(
        factory: sessionmaker[Session], settings: Settings) -> None:
    """A server running when the key files change (another process rotated them) reads the
    personal data the worker re-sealed with the new key, and seals new data with it — without
    a restart, as docs/operations.md promises."""
    from vigil import db

    FileStore.for_settings(settings)  # this process's store: it watches the key files
    old_column = column_key_id(column_key_from(load_file_keys(settings).current))
    ring = rotate_file_key(settings)
    new_column = column_key_id(column_key_from(ring.current))
    sealed_elsewhere = db.seal_text("a detail the worker re-sealed", "reports.details")
    assert sealed_elsewhere.split(":")[1] == new_column
    # This process has not seen the new key yet (another process rotated it):
    with db._keys_lock:
        db._column_keys.pop(new_column)
        db._current_key[:] = [old_column]
    assert db.open_text(sealed_elsewhere, "reports.details") == "a detail the worker re-sealed"
    db._last_check[0] = 0.0  # a second later
    assert db.seal_text("a new report's detail", "reports.details").split(":")[1] == new_column


def test_status_and_retire_share_one_rule_for_a_retirable_key() -> None:
    """``vigil keys status``'s "may be retired" and ``vigil keys retire`` read one rule: nothing
    encrypted under the key, no re-encryption queued, no file from before key ids (status used
    to offer a key for retiring while a re-encryption run was still queued)."""
    from vigil.reports.tasks import KeyUsage

    usage = KeyUsage({"k1": 2}, {"k2": 1, "not sealed": 3}, 0)
    assert not usage.retirable("k1") and not usage.retirable("k2") and usage.retirable("k3")
    assert not KeyUsage({}, {}, 1).retirable("k3")
    assert not KeyUsage({None: 1}, {}, 0).retirable("k3")
