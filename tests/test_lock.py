"""The lock files pin everything pyproject.toml asks for, at versions it allows, each with its
hashes: ``scripts/install`` installs from them alone, so a dependency missing here would be
missing from every install. After changing dependencies: ``scripts/lock``."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
HINT = "run scripts/lock and commit the lock files"


def _lock(name: str) -> dict[str, tuple[str, int]]:
    """``{package: (version, number of hashes)}`` of a lock file."""
    text = (REPO / name).read_text()
    pins = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert not [p for p in pins if "file:" in p or " @ " in p], f"{name} names a local path or URL"
    out = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        m = re.match(r"([A-Za-z0-9._-]+)==([^\s;\\]+)", block)
        if m:
            out[canonicalize_name(m.group(1))] = (m.group(2), block.count("--hash=sha256:"))
    return out


def _wanted(extras: bool) -> list[Requirement]:
    project = PYPROJECT["project"]
    wanted = [Requirement(r) for r in project["dependencies"]]
    wanted += [Requirement(r) for r in PYPROJECT["build-system"]["requires"]]
    todo = ["test"] if extras else []
    while todo:
        for r in map(Requirement, project["optional-dependencies"][todo.pop()]):
            if canonicalize_name(r.name) == canonicalize_name(project["name"]):
                todo.extend(r.extras)  # vigil[compare]: the project's own extras
            else:
                wanted.append(r)
    return [r for r in wanted if r.marker is None or r.marker.evaluate()]


@pytest.mark.parametrize(("name", "extras"), [("requirements.lock", False),
                                              ("requirements-test.lock", True)])
def test_the_lock_pins_every_requirement_at_an_allowed_version(name: str, extras: bool) -> None:
    lock = _lock(name)
    for r in _wanted(extras):
        pinned = lock.get(canonicalize_name(r.name))
        assert pinned is not None, f"{name} lacks {r.name} (pyproject.toml asks for {r}): {HINT}"
        assert r.specifier.contains(pinned[0], prereleases=True), \
            f"{name} pins {r.name}=={pinned[0]}, pyproject.toml asks for {r}: {HINT}"
    assert all(hashes > 0 for _, hashes in lock.values()), f"{name}: a pin without hashes"


def test_the_service_lock_is_the_test_lock_without_the_test_tools() -> None:
    service, test = _lock("requirements.lock"), _lock("requirements-test.lock")
    assert set(service) < set(test)
    assert {n: v for n, (v, _) in service.items()} == {n: test[n][0] for n in service}
    assert {"pytest", "ruff", "playwright"} & set(service) == set()
