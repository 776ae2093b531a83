"""Fixtures of the federation tests: a partner centre — its own app and database — served
over HTTP on 127.0.0.1, and this Centre's world."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.exchange.live import serve
from tests.fixtures.world import World, build_world
from vigil.app import create_app
from vigil.config import Settings
from vigil.db import make_engine, session_factory
from vigil.migrations import upgrade
from vigil.translog.sth import TreeHeadSigner

HOST = "origin.test"


@dataclass
class Origin:
    """The partner centre: its database, its world, its server on loopback, its signing key."""

    factory: sessionmaker[Session]
    world: World
    port: int
    signer: TreeHeadSigner

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


@pytest.fixture(scope="module")
def migrated_origin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated database for partner centres, copied for each test."""
    path = tmp_path_factory.mktemp("origin-template") / "origin.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def origin(migrated_origin: Path, tmp_path: Path) -> Iterator[Origin]:
    data = tmp_path / "origin"
    data.mkdir()
    shutil.copy(migrated_origin, data / "origin.db")
    url = f"sqlite:///{data / 'origin.db'}"
    engine = make_engine(url)
    factory = session_factory(engine)
    app = create_app(Settings(data_dir=data, database_url=url, environment="test",
                              index_poll_interval=0.1))
    try:
        with serve(app) as port:
            yield Origin(factory, build_world(factory), port,
                         TreeHeadSigner.from_file(data / "log-signing.key"))
    finally:
        engine.dispose()


@pytest.fixture
def centre(factory: sessionmaker[Session]) -> World:
    return build_world(factory)


