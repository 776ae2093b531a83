"""Helpers of the sync tests: a provider's ListSync bound to an in-process app, a client that
alters what the server sends, and local matching against a synced folder."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.world import World
from vigil.db import transaction
from vigil.egress import EgressPolicy
from vigil.exchange.sync import ListSync
from vigil.indicators import service as indicators
from vigil.matching.listfile import load_list
from vigil.matching.policy import Item, match_items
from vigil.matching.signals import SignalType

HOST = "centre.test"
SERVER = f"http://{HOST}"
#: The test server's host, pinned to loopback as the settings would (VIGIL_RESOLVER_OVERRIDES).
POLICY = EgressPolicy.of({HOST: "127.0.0.1"})
LIST = "known-material"

#: (path, status, headers, body) -> (status, headers, body): what a test's "server" sends.
Alter = Callable[[str, int, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]


class AlteringClient:
    """An ``httpx.Client`` stand-in that passes requests to the app and lets a test change the
    answers of the paths it chooses (a tampering server or a broken proxy)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.alter: Alter | None = None

    @contextmanager
    def stream(self, method: str, url: str, **kwargs: Any) -> Iterator[httpx.Response]:
        with self.client.stream(method, url, **kwargs) as r:
            body = r.read()
            status, headers = r.status_code, {k.lower(): v for k, v in r.headers.items()}
        path = httpx.URL(url).path
        if self.alter is not None:
            status, headers, body = self.alter(path, status, headers, body)
        headers.pop("content-length", None)
        headers.pop("content-encoding", None)
        # Streamed, without a Content-Length: the client's limit must hold while reading.
        yield httpx.Response(status, headers=headers, content=iter([body]))

    def close(self) -> None:
        pass


def provider_sync(client: TestClient | AlteringClient, world: World, folder: Path,
                  **kwargs: Any) -> ListSync:
    return ListSync(SERVER, world.tokens["provider"], LIST, folder, policy=POLICY,
                    client=client, **kwargs)  # type: ignore[arg-type]


def local_hits(folder: Path, signal_type: SignalType, value: str) -> list[str]:
    """The ids of the entries a query hits in the synced folder, by the one match policy."""
    hl = load_list(folder, signed=True)
    (outcome,) = match_items(hl, [Item.of((signal_type, value))])
    return sorted(str(h.key) for h in outcome.hits)


def add_active(factory: sessionmaker[Session], world: World, signal_type: str, value: str,
               label: str | None = None) -> int:
    with transaction(factory) as s:
        (ind,) = indicators.propose(s, world.principals["centre"], [indicators.Proposal(
            signal_type, value, LIST, "test", label=label)])
        indicators.verify(s, world.principals["partner"], ind.id)
        return ind.id


def retract(factory: sessionmaker[Session], world: World, indicator_id: int) -> None:
    with transaction(factory) as s:
        indicators.retract(s, world.principals["centre"], indicator_id, "wrong")


def folder_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())
            if p.name.startswith(("snapshot-", "changes-", "vigil-sync.json"))}


def state(folder: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((folder / "vigil-sync.json").read_text())
    return loaded
