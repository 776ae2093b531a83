"""The command line loads only what the command it runs needs: ``vigil org list`` does not
wait for the matching kernels, the video decoder or the web app to load."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from vigil.cli import COMMANDS, app, command

#: Modules that only hashing, matching, serving and benchmarks use, with the cost that made
#: leaving them out worth a test (import times on the 2-core CI host).
HEAVY = ("numba", "av", "vigil.matching", "vigil.app", "fastapi", "alembic")


def _loaded_after(*args: str) -> set[str]:
    """The modules of :data:`HEAVY` that ``vigil ARGS`` imported, in a fresh interpreter."""
    code = ("import sys\nfrom vigil.cli import app\n"
            f"try:\n    app({list(args)!r})\nexcept SystemExit:\n    pass\n"
            "import json\n"
            f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} "
            f"or m.startswith('vigil.matching') or m == 'vigil.app')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_every_command_is_listed_and_builds() -> None:
    listing = CliRunner().invoke(app, ["--help"])
    assert listing.exit_code == 0, listing.output
    for name in COMMANDS:
        built = command(name)
        assert built.name == name
        assert re.search(rf"^│ {re.escape(name)} ", listing.output, re.M), name
        assert (built.help or "").strip(), f"`vigil {name}` has no help text"


def test_an_unknown_command_is_named() -> None:
    done = CliRunner().invoke(app, ["nope"])
    assert done.exit_code == 2
    assert "No such command 'nope'" in done.output


# (``vigil --help`` imports every command's module: its listing shows each command's help.)
@pytest.mark.parametrize("args", [["org", "--help"], ["settings"],
                                  ["account", "list", "--help"]])
def test_a_command_that_needs_no_matching_loads_none_of_it(args: list[str]) -> None:
    assert _loaded_after(*args) == set()


def test_a_command_that_matches_loads_the_kernels() -> None:
    """The check above is not vacuous: the same probe sees what ``vigil hash`` loads."""
    assert {"numba", "vigil.matching"} <= _loaded_after("hash", "--help")
