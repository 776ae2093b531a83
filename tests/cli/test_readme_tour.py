"""The README's short tour, run as written: its commands are taken from README.md itself, so the
tour cannot drift from what vigil does.

Each command runs in one bash session in a fresh directory (so ``data/`` and the files the tour
writes are the test's own), with three adjustments, each named where it is made:

* the server listens on a free port instead of 8000 (``--port``, and the URLs with it);
* ``.venv/bin/vigil`` and ``.venv/bin/python`` are this test run's own;
* the benchmarks run at tiny sizes (their full sizes take minutes to hours; their own tests
  check the figures) — and ``vigil bench match --compare-threatexchange`` is skipped: it
  runs HMA's index (the peer) at a million hashes.

Then the claims the tour's comments make are checked against what each command printed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.images import write_scene

README = Path(__file__).resolve().parents[2] / "README.md"
VIGIL = str(Path(sys.executable).parent / "vigil")

#: Benchmarks at tiny sizes: (what the README's command starts with, the arguments used instead).
TINY = {
    "vigil bench intake": "--seconds 1 --clients 1 --workers 1",
    "vigil bench api": "--size 2000 --seconds 1 --clients 1",
    "vigil bench crawl": "--images 100 --repeats 1 --width 64",
    "vigil bench quality": "--images photos --min-pairs 20",
}
#: Commands not run, and why.
SKIPPED = {
    "vigil bench match": "runs HMA's index (the peer) at a million hashes: minutes, and its own "
                         "tests cover it (tests/cli/test_cli.py)",
}

pytestmark = pytest.mark.slow


def tour_commands() -> list[str]:
    """The commands of the README's "A short tour" block, comments and blank lines dropped."""
    text = README.read_text()
    block = re.search(r"## A short tour\s+```sh\n(.*?)```", text, re.S)
    assert block, "README.md has no '## A short tour' with a ```sh block"
    commands = []
    for line in block.group(1).splitlines():
        code = line.split("  #")[0].strip() if not line.lstrip().startswith("#") else ""
        if code:
            commands.append(code)
    return commands


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _adjust(command: str, port: int) -> tuple[str, str | None]:
    """The command as this test runs it, and why it is skipped (or None)."""
    cmd = (command.replace(".venv/bin/vigil", VIGIL).replace(".venv/bin/python", sys.executable)
           .replace("127.0.0.1:8000", f"127.0.0.1:{port}"))
    plain = command.replace(".venv/bin/", "")
    for prefix, why in SKIPPED.items():
        if plain.startswith(prefix):
            return cmd, why
    for prefix, tiny in TINY.items():
        if plain.startswith(prefix):
            words = shlex.split(cmd)
            return " ".join([*words[:3], tiny]), None
    if plain.startswith("vigil serve --demo"):
        cmd = cmd.replace("--demo", f"--demo --port {port}")
    return cmd, None


def test_the_readme_tour_works_as_written(tmp_path: Path) -> None:
    commands = tour_commands()
    port = _free_port()
    photos = tmp_path / "photos"
    photos.mkdir()
    for seed in (1, 2, 3):
        write_scene(photos / f"{seed}.jpg", seed)
    script = ["set -u", "mkdir -p out"]
    runs: list[tuple[int, str]] = []
    skipped: list[tuple[str, str]] = []
    for i, command in enumerate(commands):
        cmd, why = _adjust(command, port)
        if why:
            skipped.append((command, why))
            continue
        if cmd.endswith("&"):  # the server: in the background, stopped at the end
            script.append(f"{cmd[:-1].strip()} > out/server.log 2>&1 & echo $! > out/server.pid")
        elif re.match(r"^[A-Z_]+=\$\(", cmd) or cmd.startswith("until "):
            script.append(cmd)  # a variable or a wait: the tour's plumbing, no output to check
        else:
            script.append(f"{{ {cmd} ; }} > out/{i}.out 2> out/{i}.err; echo $? > out/{i}.rc")
            runs.append((i, command))
    assert [c for c, _ in skipped] == [c for c in commands if "--compare-threatexchange" in c]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    env["TMPDIR"] = str(tmp_path)  # the benchmarks' temporary files, checked below
    (tmp_path / "tour.sh").write_text("\n".join(script) + "\n")
    try:
        subprocess.run(["bash", "tour.sh"], cwd=tmp_path, env=env, timeout=900, check=True)
    finally:
        pid_file = tmp_path / "out" / "server.pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGTERM)

    def result(prefix: str, nth: int = 0) -> tuple[int, str, str]:
        matching = [i for i, c in runs if c.replace(".venv/bin/", "").startswith(prefix)]
        assert len(matching) > nth, f"the tour has no command starting {prefix!r}"
        i = matching[nth]
        out = tmp_path / "out"
        return (int((out / f"{i}.rc").read_text()), (out / f"{i}.out").read_text(),
                (out / f"{i}.err").read_text())

    # Every command ran; all but the match (one broken file) exit 0.
    for i, command in runs:
        rc = int((tmp_path / "out" / f"{i}.rc").read_text())
        expected = 1 if command.startswith(".venv/bin/vigil match ") else 0
        assert rc == expected, (command, (tmp_path / "out" / f"{i}.err").read_text()[-2000:])

    snapshot = json.loads((tmp_path / "snapshot.json").read_text())
    assert snapshot["trust"] == "verified" and snapshot["entries"] and snapshot["signature"]

    # "Edited copies of the listed scenes match, each hit with its list, trust ("verified") and
    # verdict; the unlisted scenes do not; the one broken file is reported (exit status 1)."
    rc, out, err = result("vigil match --list snapshot.json")
    hits = [json.loads(line) for line in out.splitlines()]
    matched = {Path(h["query"]).name for h in hits}
    assert matched == {f"scene-{s}-{edit}" for s in (0, 1, 2)
                       for edit in ("recompressed.jpg", "half-size.jpg", "greyscale.png")}
    assert {(h["list"], h["trust"], h["verdict"]) for h in hits} == {
        ("known-material", "verified", "verified_match")}
    assert "signature verified" in err and "not-an-image.jpg: not a recognised image format" in err

    # The robust match also finds the mirrored copies; "transform" names the variant.
    rc, out, err = result("vigil match --robust")
    hits = [json.loads(line) for line in out.splitlines()]
    mirrored = [h for h in hits if "mirrored" in h["query"]]
    assert {Path(h["query"]).name for h in mirrored} == {f"scene-{s}-mirrored.png" for s in (0, 1, 2)}
    assert all(h["transform"] != "original" for h in mirrored)
    assert not [h for h in hits if "unlisted" in h["query"]]

    rc, out, err = result("vigil audit verify")
    assert (out + err).count("OK:") == 1

    for prefix in TINY:
        rc, out, err = result(prefix)
        assert json.loads(out.splitlines()[-1]), prefix  # the last line is the figures as JSON
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("vigil-bench-")], \
        "a benchmark left its temporary directory behind"
