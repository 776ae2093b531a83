"""The database as a command sees it: settings from the environment, migrations applied, one
unit of work; a domain error is printed and exits 2."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from sqlalchemy.orm import Session

from vigil.cli._console import print_error

if TYPE_CHECKING:
    from vigil.config import Settings


def load_settings() -> Settings:
    """The settings from the environment; a bad one is one line naming its variable (exit 2),
    never a traceback."""
    from pydantic import ValidationError

    from vigil.config import Settings

    try:
        return Settings()
    except ValidationError as exc:
        for e in exc.errors():
            name = "VIGIL_" + "_".join(str(p) for p in e["loc"][:1]).upper()
            print_error(f"setting {name}: {e['msg']}")
        raise typer.Exit(2) from None


#: What a command (``vigil serve``, ``worker``, ``org``, ``key``...) says on a database nobody
#: has initialised.
NOT_INITIALISED = ("this database has no Centre yet: run `vigil init --centre NAME --admin "
                   "USERNAME` first (or `vigil serve --demo` for a demonstration)")


def initialised(session: Session) -> bool:
    """Whether the Centre organisation exists (``vigil init``, or the demo, made it)."""
    from sqlalchemy import select

    from vigil.orgs.access import OrgKind
    from vigil.orgs.models import Organisation

    return session.scalar(select(Organisation.id).where(
        Organisation.kind == OrgKind.CENTRE.value).limit(1)) is not None


@contextmanager
def unit_of_work(*, initialised_only: bool = True) -> Iterator[Session]:
    """One transaction on the configured database (migrations applied first). Refuses, in one
    line with exit 2, a database that ``vigil init`` has not set up (unless
    ``initialised_only`` is off: ``vigil init`` itself)."""
    from vigil.db import make_engine, private_dir, session_factory, transaction
    from vigil.errors import DomainError
    from vigil.migrations import upgrade

    settings = load_settings()
    private_dir(settings.data_dir)
    upgrade(settings.effective_database_url)
    engine = make_engine(settings.effective_database_url)
    try:
        with transaction(session_factory(engine)) as s:
            if initialised_only and not initialised(s):
                print_error(f"{NOT_INITIALISED}")
                raise typer.Exit(2)
            yield s
    except DomainError as exc:
        print_error(f"{exc.message}")
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
