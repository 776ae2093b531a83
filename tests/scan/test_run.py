"""The scan's hashing run: one journal line per member in order, per-file errors that never stop
it, a bounded window of work in flight, a killed scan resumed without hashing again, a dead
worker costing only its file, and a Dask cluster giving the same results as the local pool."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fixtures.seized import in_process, scene, tar_bytes, zip_bytes
from vigil.matching.content import ContentHashes
from vigil.scan import run as scan_run
from vigil.scan.results import finalize
from vigil.scan.run import JOURNAL, ScanError, hash_sources, read_state
from vigil.scan.sources import Member
from vigil.scan.work import Hashed, WorkOptions


def seized(root: Path, n: int = 6) -> Path:
    src = root / "src"
    src.mkdir()
    for i in range(n):
        (src / f"{i:02d}.jpg").write_bytes(scene(i))
    (src / "case.zip").write_bytes(zip_bytes({"a.jpg": scene(50), "../evil": b"x"}))
    (src / "notes.txt").write_text("a shopping list")
    (src / "broken.jpg").write_bytes(scene(60)[:3000])
    return src


def journal(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / JOURNAL).read_text().splitlines()]


NO_THUMBS = WorkOptions(thumbnails="none")


def test_every_member_one_line_in_order_and_errors_do_not_stop_it(tmp_path: Path) -> None:
    src = seized(tmp_path)
    run = hash_sources([src], tmp_path / "out", in_process(), options=NO_THUMBS)
    rows = journal(tmp_path / "out")
    assert [Path(r["path"]).name for r in rows][:3] == ["00.jpg", "01.jpg", "02.jpg"]
    by_name = {r["path"][len(str(src)) + 1:]: r for r in rows}
    assert by_name["case.zip!/a.jpg"]["content"]["kind"] == "image"
    assert by_name["case.zip!/../evil"]["error"].startswith("unsafe name in archive")
    assert by_name["notes.txt"]["content"]["kind"] == "other"
    assert by_name["broken.jpg"]["content"]["error"]  # digests taken, decoding failed
    assert len(by_name["broken.jpg"]["sha1"]) == 40
    assert run.files == len(rows) == 10 and run.errors == 2 and run.resumed == 0
    assert read_state(tmp_path / "out")["finished"] is True  # type: ignore[index]


def test_a_killed_scan_resumes_without_hashing_again(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    src = seized(tmp_path)
    out = tmp_path / "out"
    monkeypatch.setattr(scan_run, "CHECKPOINT_EVERY", 0.0)
    hashed: list[str] = []
    real = scan_run.hash_batch

    def counting(members: list[Member], options: WorkOptions) -> list[Hashed]:
        hashed.extend(m.path for m in members)
        return real(members, options)

    monkeypatch.setattr(scan_run, "hash_batch", counting)

    def stop_after_four(p: scan_run.Progress) -> None:
        if p.files == 4:
            raise KeyboardInterrupt  # as a Ctrl-C or SIGTERM would, mid-scan

    with pytest.raises(KeyboardInterrupt):
        hash_sources([src], out, in_process(), options=NO_THUMBS, window=2,
                     progress=stop_after_four)
    first = journal(out)
    assert len(first) == 4 and read_state(out)["done"] == 4  # type: ignore[index]
    with open(out / JOURNAL, "a") as fh:  # a line written after the last checkpoint
        fh.write('{"path": "half a line')
    before = list(hashed)
    hashed.clear()
    run = hash_sources([src], out, in_process(), options=NO_THUMBS, window=2)
    assert run.resumed == 4 and run.files == 10
    assert not set(hashed) & {r["path"] for r in first}  # none of them hashed twice
    assert set(before) >= {r["path"] for r in first}
    fresh = tmp_path / "fresh"
    hash_sources([src], fresh, in_process(), options=NO_THUMBS)
    assert journal(out) == journal(fresh)


def test_another_scan_in_the_same_out_is_refused(tmp_path: Path) -> None:
    src = seized(tmp_path)
    out = tmp_path / "out"
    hash_sources([src / "00.jpg"], out, in_process(), options=NO_THUMBS)
    with pytest.raises(ScanError, match="holds another scan"):
        hash_sources([src], out, in_process(), options=NO_THUMBS)
    with pytest.raises(ScanError, match="holds another scan"):
        hash_sources([src / "00.jpg"], out, in_process(), options=WorkOptions())
    run = hash_sources([src], out, in_process(), options=NO_THUMBS, restart=True)
    assert run.files == 10 and run.resumed == 0
    (out / "state.json").write_text("{not json")
    with pytest.raises(ScanError, match="not a scan state file"):
        hash_sources([src], out, in_process(), options=NO_THUMBS)


def test_sources_changed_under_a_resumed_scan_are_refused(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    src = seized(tmp_path)
    out = tmp_path / "out"
    monkeypatch.setattr(scan_run, "CHECKPOINT_EVERY", 0.0)

    def stop(p: scan_run.Progress) -> None:
        if p.files == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        hash_sources([src], out, in_process(), options=NO_THUMBS, window=1, progress=stop)
    (src / "01.jpg").rename(src / "01b.jpg")
    with pytest.raises(ScanError, match="the sources changed"):
        hash_sources([src], out, in_process(), options=NO_THUMBS)


class _Flaky(Executor):
    """Runs work in the calling thread; a member named ``crash*`` kills "the worker"."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        members = args[0] if isinstance(args[0], list) else [args[0]]  # a task, or one alone
        if any(Path(m.path).name.startswith("crash") for m in members):
            future.set_exception(BrokenProcessPool("a worker died"))
        else:
            future.set_result(fn(*args, **kwargs))
        return future


def test_a_dead_worker_costs_only_its_file(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a.jpg", "crash.jpg", "c.jpg"):
        (src / name).write_bytes(scene(len(name)))

    @contextmanager
    def flaky() -> Iterator[Executor]:
        yield _Flaky()

    hash_sources([src], tmp_path / "out", flaky, options=NO_THUMBS)
    rows = {Path(r["path"]).name: r for r in journal(tmp_path / "out")}
    assert rows["crash.jpg"]["error"] == ("hashing crashed the worker process (corrupt or "
                                          "hostile file?)")
    assert rows["a.jpg"]["content"]["pdq"] and rows["c.jpg"]["content"]["pdq"]


def test_hostile_files_side_by_side_never_stop_the_scan(tmp_path: Path) -> None:
    """Five (or more) files in a row that each kill their worker are five error lines, and the
    scan goes on: a probe with nothing to decode shows the workers themselves run."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a.jpg", *(f"crash{i}.jpg" for i in range(7)), "z.jpg"):
        (src / name).write_bytes(scene(len(name)))

    @contextmanager
    def flaky() -> Iterator[Executor]:
        yield _Flaky()

    run = hash_sources([src], tmp_path / "out", flaky, options=NO_THUMBS)
    rows = {Path(r["path"]).name: r for r in journal(tmp_path / "out")}
    assert run.files == 9 and len(rows) == 9
    assert all(rows[f"crash{i}.jpg"]["error"].startswith("hashing crashed") for i in range(7))
    assert rows["a.jpg"]["content"]["pdq"] and rows["z.jpg"]["content"]["pdq"]


class _Dead(Executor):
    """Workers that cannot run at all: every task kills its worker."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_exception(BrokenProcessPool("a worker died"))
        return future


def test_workers_that_cannot_run_stop_the_scan(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(8):
        (src / f"{i}.jpg").write_bytes(scene(i))

    @contextmanager
    def dead() -> Iterator[Executor]:
        yield _Dead()

    with pytest.raises(ScanError, match="died on 5 files in a row and on a file with nothing"):
        hash_sources([src], tmp_path / "out", dead, options=NO_THUMBS)


class _BreaksOnSubmit(Executor):
    """A pool that breaks between two results: the third ``submit`` itself raises (as
    ``ProcessPoolExecutor.submit`` does once a worker has died); later pools work."""

    calls = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        type(self).calls += 1
        if type(self).calls == 3:
            raise BrokenProcessPool("a worker died since the last result")
        future: Future[Any] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def test_a_pool_that_breaks_at_submit_loses_no_file(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(40):
        (src / f"f{i:02d}.txt").write_text(f"file {i}")

    _BreaksOnSubmit.calls = 0

    @contextmanager
    def breaking() -> Iterator[Executor]:
        yield _BreaksOnSubmit()

    run = hash_sources([src], tmp_path / "out", breaking, options=NO_THUMBS, window=8)
    rows = journal(tmp_path / "out")
    assert run.files == 40 and [Path(r["path"]).name for r in rows] == \
        [f"f{i:02d}.txt" for i in range(40)]
    assert not any(r.get("error") for r in rows)


def test_work_in_flight_is_bounded_by_the_window(tmp_path: Path) -> None:
    """Memory flat in the number of files: members are read only as results go out."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(12):
        (src / f"{i:02d}.txt").write_text(f"file {i}")
    pulled: list[int] = []
    real = scan_run.iter_members

    def counted(*args: Any) -> Iterator[Member]:
        for m in real(*args):
            pulled.append(1)
            yield m

    seen: list[int] = []
    try:
        scan_run.iter_members = counted  # type: ignore[assignment]
        hash_sources([src], tmp_path / "out", in_process(), options=NO_THUMBS, window=3,
                     progress=lambda p: seen.append(len(pulled) - p.files))
    finally:
        scan_run.iter_members = real  # type: ignore[assignment]
    assert max(seen) <= 3 and len(pulled) == 12


def test_files_are_shipped_as_bytes_to_workers_that_cannot_see_the_disk(tmp_path: Path) -> None:
    src = seized(tmp_path, 2)
    shipped: list[Member] = []

    class Remote(Executor):
        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
            shipped.extend(args[0])
            future: Future[Any] = Future()
            future.set_result(fn(*args, **kwargs))
            return future

    @contextmanager
    def remote() -> Iterator[Executor]:
        yield Remote()

    hash_sources([src], tmp_path / "out", remote, options=NO_THUMBS, ship_bytes=True)
    assert shipped and all(m.data is not None for m in shipped if m.error is None)


@pytest.mark.slow
def test_a_dask_cluster_gives_the_results_of_the_local_pool(tmp_path: Path) -> None:
    from distributed import LocalCluster

    from vigil.egress import EgressPolicy
    from vigil.executors import batch_executor

    src = seized(tmp_path, 4)
    (src / "more.tgz").write_bytes(tar_bytes({"x.jpg": scene(70), "y.png": scene(71, "PNG")}))
    hash_sources([src], tmp_path / "local", in_process(), options=WorkOptions())
    finalize(tmp_path / "local", [])
    started = time.monotonic()
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp",
                      host="127.0.0.1", dashboard_address=None) as cluster:
        policy = EgressPolicy.of(allow=["127.0.0.1"])
        hash_sources([src], tmp_path / "dask", lambda: batch_executor(
            1, cluster.scheduler_address, policy), options=WorkOptions(), ship_bytes=True)
    assert time.monotonic() - started < 120
    finalize(tmp_path / "dask", [])
    for name in ("results.jsonl", "results.csv"):
        assert (tmp_path / "dask" / name).read_text() == (tmp_path / "local" / name).read_text()


def test_a_dask_scheduler_is_checked_by_the_egress_policy() -> None:
    from vigil.egress import EgressPolicy, EgressRefused
    from vigil.executors import batch_executor

    with pytest.raises(EgressRefused), batch_executor(1, "tcp://10.9.8.7:8786", EgressPolicy()):
        pass


@settings(max_examples=40, deadline=None)
@given(st.builds(
    Hashed, path=st.text(min_size=1, max_size=30), size=st.none() | st.integers(0, 2**40),
    content=st.none() | st.builds(
        ContentHashes, sha256=st.just("ab" * 32), md5=st.just("cd" * 16),
        kind=st.sampled_from(["image", "video", "other"]),
        pdq=st.none() | st.just("ef" * 32), quality=st.none() | st.integers(0, 100),
        error=st.none() | st.text(max_size=20),
        variants=st.none() | st.dictionaries(st.sampled_from(["original", "flip"]),
                                             st.just("01" * 32))),
    sha1=st.none() | st.just("12" * 20), thumbnail=st.none() | st.binary(max_size=50),
    error=st.none() | st.text(max_size=20)))
def test_journal_records_round_trip(h: Hashed) -> None:
    assert Hashed.from_json(json.loads(json.dumps(h.to_json()))) == h
