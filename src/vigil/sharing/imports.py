"""One import run: pages from a programme, each applied in a transaction of its own together
with the checkpoint it ends at — so a run that stops (a failed page, Ctrl-C, a crash) loses
nothing it committed, and the next run resumes at the last committed checkpoint.

A page that fails — not delivered (the connection refused by the egress policy, an HTTP error
after the client's retries) or delivered but unreadable (a body over the size limit, text that
does not parse) — ends the run: it is written down with the position it was at, and the next
run tries that page again. Malformed *records* within a page never end it (:mod:`vigil.sharing.service`); the first
:data:`~vigil.sharing.service.MAX_PROBLEMS_PER_RUN` of a run are written down, the rest counted.

A page that is *unreadable* — the programme answers, but with a body that does not parse or is
over the size limit — at the same checkpoint in ``VIGIL_EXCHANGE_UNREADABLE_RUNS`` runs in a
row is stepped past, so that one bad page never stalls a programme for good: the programme's
:meth:`~vigil.exchange.programmes.Programme.step_past` moves the checkpoint on (NCMEC: to the
end of the paged window, or the window's start ``VIGIL_EXCHANGE_SKIP_SECONDS`` on; StopNCII and
ThreatExchange: the update time that far on; the step doubles for each step in a row without a
readable page between), the window skipped is written down as a problem (the records in it were
not imported: ask the programme for them) and in the audit trail, and the run goes on from
there. At most one step a run. Connection failures, time-outs, HTTP errors (wrong credentials,
the programme down) and the egress policy's refusals are never stepped past: nothing was read,
so the next run retries the page.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.config import Settings
from vigil.db import transaction
from vigil.errors import DomainError, Invalid
from vigil.exchange.http import unreadable
from vigil.exchange.programmes import Page, Programme, position, redact
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
    #: What the run stepped past (an unreadable page's window, in words), if it did.
    stepped_past: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"programme": self.programme, "collection": self.collection,
                "list": self.list_name, "stopped": self.stopped,
                "stepped_past": self.stepped_past, **self.tally.to_json()}


#: Pages in a row with no record and the same checkpoint after which a run stops: a programme
#: (or something posing as it) that says "more follows" for ever cannot keep a run going.
MAX_IDLE_PAGES = 100


def run_import(factory: sessionmaker[Session], programme: Programme, list_name: str, *,
               legal_basis: str, max_pages: int | None = None,
               progress: Callable[[ImportRun], None] | None = None,
               unreadable_runs: int | None = None, skip_seconds: int | None = None) -> ImportRun:
    """Import ``programme`` into ``list_name`` from where the last run stopped.
    ``unreadable_runs`` and ``skip_seconds`` (the settings ``VIGIL_EXCHANGE_UNREADABLE_RUNS``
    and ``VIGIL_EXCHANGE_SKIP_SECONDS``; their defaults if not given) govern stepping
    past an unreadable page (the module's docstring). Raises a
    :class:`~vigil.errors.DomainError` for a wrong list or legal basis before anything is
    fetched."""
    fields = Settings.model_fields
    if unreadable_runs is None:
        unreadable_runs = int(fields["exchange_unreadable_runs"].default)
    if skip_seconds is None:
        skip_seconds = int(fields["exchange_skip_seconds"].default)
    if not legal_basis.strip() or len(legal_basis.strip()) > 200:
        raise Invalid("a legal basis (1-200 characters) is required for imported indicators")
    with transaction(factory) as s:
        hl = service.importable_list(s, list_name)
        actor = service.import_principal(s, programme.name)
        src = service.source_for(s, programme.name, programme.collection, hl)
        source_id, start = src.id, service.checkpoint_of(src)
    run = ImportRun(programme.name, programme.collection, list_name, service.Tally())
    pages = programme.pages(start)
    idle, last = 0, position(start)
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
                if not unreadable(exc) or run.stepped_past:  # at most one step a run
                    break
                stepped = _count_unreadable(factory, programme, source_id, run,
                                            unreadable_runs, skip_seconds)
                if stepped is None:
                    break
                close = getattr(pages, "close", None)
                if close is not None:
                    close()
                run.stopped = None
                pages = programme.pages(stepped)
                continue
            with transaction(factory) as s:
                src = _source(s, source_id)
                service.apply_page(s, actor, src, src_list(s, src), page, legal_basis, run.tally)
            if progress is not None:
                progress(run)
            idle = idle + 1 if not page.records and page.position == last else 0
            last = page.position
            if idle >= MAX_IDLE_PAGES:
                run.stopped = (f"the programme answered {idle} pages in a row that neither held "
                               "a record nor moved its position: stopped here (the next run "
                               "tries again)")
                break
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
                            "pages": run.tally.pages, "stopped": run.stopped is not None,
                            "stepped_past": run.stepped_past})
    return run


def _count_unreadable(factory: sessionmaker[Session], programme: Programme, source_id: int,
                      run: ImportRun, runs: int, seconds: int) -> dict[str, Any] | None:
    """Count this run's unreadable page at the source's checkpoint; on the ``runs``-th run in a
    row at the same checkpoint, step past it: the new checkpoint is stored with a problem
    naming the window skipped, and returned. None: the run ends here (the page is retried)."""
    assert run.stopped is not None
    with transaction(factory) as s:
        src = _source(s, source_id)
        at = src.checkpoint or ""
        if src.unreadable_at == at:
            src.unreadable_runs += 1
        else:
            src.unreadable_at, src.unreadable_runs = at, 1
        if src.unreadable_runs < runs:
            run.stopped += (f" (unreadable at this checkpoint in {src.unreadable_runs} of the "
                            f"{runs} runs in a row after which it is stepped past)")
            return None
        step = programme.step_past(service.checkpoint_of(src),
                                   seconds * 2 ** min(src.steps_in_row, 20))
        if step is None:
            run.stopped += f" (unreadable in {src.unreadable_runs} runs in a row; no step past it)"
            return None
        checkpoint, what = step
        service.problem(s, src, f"page {run.tally.pages + 1}",
                        f"stepped past a page unreadable in {src.unreadable_runs} runs in a row "
                        f"({run.stopped}): {what} were not imported; ask the programme for "
                        "them", run.tally, count=False)
        src.checkpoint = json.dumps(checkpoint, sort_keys=True)
        src.unreadable_at, src.unreadable_runs = None, 0
        src.steps_in_row += 1
        src.updated_at = now()
        run.stepped_past.append(what)
        return checkpoint


def _source(session: Session, source_id: int) -> ExchangeSource:
    src = session.get(ExchangeSource, source_id)
    assert src is not None
    return src


def src_list(session: Session, src: ExchangeSource) -> HashList:
    hl = session.get(HashList, src.list_id)
    assert hl is not None
    return hl
