"""One import run: pages from a programme, each applied in a transaction of its own together
with the checkpoint it ends at — so a run that stops (a failed page, Ctrl-C, a crash) loses
nothing it committed, and the next run resumes at the last committed checkpoint.

A page the programme cannot deliver (the connection refused by the egress policy, an HTTP
error after the client's retries, a body over the size limit, text that does not parse) ends
the run: it is written down with the position it was at, and the next run tries that page
again. Malformed *records* within a page never end it (:mod:`vigil.sharing.service`); the first
:data:`~vigil.sharing.service.MAX_PROBLEMS_PER_RUN` of a run are written down, the rest counted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.db import transaction
from vigil.errors import DomainError, Invalid
from vigil.exchange.programmes import Page, Programme, redact
from vigil.indicators.models import HashList
from vigil.sharing import service
from vigil.sharing.models import ExchangeSource


@dataclass
class ImportRun:
    programme: str
    collection: str
    list_name: str
    tally: service.Tally
    #: Why the run ended before the programme had no more pages (None: it read them all).
    stopped: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"programme": self.programme, "collection": self.collection,
                "list": self.list_name, "stopped": self.stopped, **self.tally.to_json()}


def run_import(factory: sessionmaker[Session], programme: Programme, list_name: str, *,
               legal_basis: str, max_pages: int | None = None,
               progress: Callable[[ImportRun], None] | None = None) -> ImportRun:
    """Import ``programme`` into ``list_name`` from where the last run stopped. Raises a
    :class:`~vigil.errors.DomainError` for a wrong list or legal basis before anything is
    fetched."""
    if not legal_basis.strip() or len(legal_basis.strip()) > 200:
        raise Invalid("a legal basis (1-200 characters) is required for imported indicators")
    with transaction(factory) as s:
        hl = service.importable_list(s, list_name)
        actor = service.import_principal(s, programme.name)
        src = service.source_for(s, programme.name, programme.collection, hl)
        source_id, start = src.id, service.checkpoint_of(src)
    run = ImportRun(programme.name, programme.collection, list_name, service.Tally())
    pages = programme.pages(start)
    try:
        while max_pages is None or run.tally.pages < max_pages:
            try:
                page: Page = next(pages)
            except StopIteration:
                break
            except (KeyboardInterrupt, SystemExit):
                raise
            except DomainError as exc:
                run.stopped = exc.message
                break
            except Exception as exc:  # a page that cannot be read: written down, run ends
                run.stopped = redact(f"page {run.tally.pages + 1}: {type(exc).__name__}: {exc}",
                                     programme.secrets)[:1000]
                break
            with transaction(factory) as s:
                src = _source(s, source_id)
                service.apply_page(s, actor, src, src_list(s, src), page, legal_basis, run.tally)
            if progress is not None:
                progress(run)
    finally:
        close = getattr(pages, "close", None)
        if close is not None:
            close()
        with transaction(factory) as s:
            src = _source(s, source_id)
            service.note_problems_not_kept(s, src, run.tally)
            if run.stopped:
                service.problem(s, src, f"page {run.tally.pages + 1}", run.stopped, run.tally,
                                count=False)
            # The subject is the source (its row); its collection can be a long file path.
            record(s, actor, AuditAction.EXCHANGE_IMPORTED,
                   subject=f"{programme.name}:{source_id}",
                   details={"list": list_name, "collection": programme.collection[:200],
                            "proposed": run.tally.proposed,
                            "already_listed": run.tally.already_listed,
                            "skipped": run.tally.skipped,
                            "problems_not_kept": run.tally.problems_not_kept,
                            "withdrawn": run.tally.withdrawn,
                            "pages": run.tally.pages, "stopped": run.stopped is not None})
    return run


def _source(session: Session, source_id: int) -> ExchangeSource:
    src = session.get(ExchangeSource, source_id)
    assert src is not None
    return src


def src_list(session: Session, src: ExchangeSource) -> HashList:
    hl = session.get(HashList, src.list_id)
    assert hl is not None
    return hl
