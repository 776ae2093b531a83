"""Long commands show progress and clean up when stopped: a user's Ctrl-C (SIGINT to the whole
process group, as a terminal sends it) or a ``kill`` (SIGTERM to the command alone) ends the run
promptly, without a traceback, with no temporary directory left and no child process running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

VIGIL = str(Path(sys.executable).parent / "vigil")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "whole_group", "stage"), [
    (signal.SIGINT, True, "generating images"),  # Ctrl-C while the site is being made
    (signal.SIGTERM, False, "crawl run 1/3"),  # kill while the crawler's workers run
])
def test_bench_crawl_shows_progress_and_cleans_up_when_stopped(
        tmp_path: Path, sig: signal.Signals, whole_group: bool, stage: str) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    images = "3000" if stage == "generating images" else "200"
    proc = subprocess.Popen(
        [VIGIL, "bench", "crawl", "--images", images, "--width", "64"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "TMPDIR": str(scratch)})
    try:
        seen = ""
        deadline = time.monotonic() + 240
        assert proc.stderr is not None
        while stage not in seen:  # progress appears on stderr, even though it is not a terminal
            line = proc.stderr.readline()
            assert line and time.monotonic() < deadline, f"no progress line {stage!r}: {seen}"
            seen += line
        assert next(p.name for p in scratch.iterdir()).startswith("vigil-bench-crawl-")
        stopped_at = time.monotonic()
        if whole_group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - stopped_at
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0 and took < 30, (proc.returncode, took)
    assert "Traceback" not in err, err
    assert "stopped" in err and out == ""  # said why it ended; no figures from a cut-short run
    assert list(scratch.iterdir()) == []  # the generated site and the database are gone
    for _ in range(50):  # the site's server and the worker processes end with it
        if not _group_alive(proc.pid):
            break
        time.sleep(0.2)
    assert not _group_alive(proc.pid)
