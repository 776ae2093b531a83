"""The workspace page of the prevention hub's proposals (``/app/prevention``): practitioners
follow their organisation's proposals and the Centre's answer; the Centre's editors publish or
reject them (with a reason the practitioner reads). The same service functions as the API
(``vigil.prevention.endpoints``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response

from vigil.db import transaction
from vigil.errors import DomainError
from vigil.orgs.access import Scope
from vigil.orgs.accounts import SignedIn
from vigil.prevention import repository, service
from vigil.prevention.schemas import EntryIn
from vigil.web.render import PREFIX, check_csrf, page, redirect, render, tr_for

router = APIRouter(include_in_schema=False)
Practitioner = Annotated[SignedIn, page(Scope.PREVENTION_PROPOSE)]
Editor = Annotated[SignedIn, page(Scope.PREVENTION_REVIEW)]


#: Every field of an entry, in the order the review page shows them. A value is one text or a
#: list of texts (targets, languages, members, outputs); the template names each field.
FIELDS = ("kind", "title", "summary", "country", "languages", "targets", "url", "contact",
          "anonymous", "licence", "evaluation.design", "evaluation.strength",
          "evaluation.outcome", "evaluation.source", "members", "outputs", "source.url",
          "source.read", "source.how")

Value = str | list[str] | None


@dataclass(frozen=True)
class FieldRow:
    """One field of a proposal on the review page: its key (one of :data:`FIELDS`), the
    proposed value, and for a change the published value and whether the two differ."""

    key: str
    proposed: Value
    published: Value = None
    changed: bool = False


def _values(e: EntryIn) -> dict[str, Value]:
    ev = e.evaluation
    return {
        "kind": e.kind, "title": e.title, "summary": e.summary, "country": e.country,
        "languages": list(e.languages), "targets": list(e.targets), "url": e.url,
        "contact": e.contact, "anonymous": e.anonymous, "licence": e.licence,
        "evaluation.design": ev.design if ev else None,
        "evaluation.strength": ev.strength if ev else None,
        "evaluation.outcome": ev.outcome if ev else None,
        "evaluation.source": ev.source if ev else None,
        "members": list(e.members), "outputs": list(e.outputs), "source.url": e.source.url,
        "source.read": e.source.read.isoformat(), "source.how": e.source.how}


def field_rows(proposed: EntryIn, published: EntryIn | None) -> list[FieldRow]:
    """Every field of a proposed entry; for a change (``published`` is the entry as it is
    public now) each row also carries the published value and whether it changed, so that an
    editor sees a new website, contact or evaluation before publishing it. An empty value is
    ``None`` or ``[]``; empty and absent compare equal."""
    new = _values(proposed)
    if published is None:
        return [FieldRow(k, new[k]) for k in FIELDS]
    old = _values(published)
    return [FieldRow(k, new[k], old[k], (new[k] or None) != (old[k] or None)) for k in FIELDS]


@router.get(f"{PREFIX}/prevention")
def proposals_page(request: Request, signed: Practitioner) -> Response:
    with request.app.state.vigil.read_session() as s:
        rows = []
        for p in repository.proposals(s, signed.principal):
            out = service.proposal_out(s, p)
            current = repository.entry(s, out.replaces) if out.replaces else None
            published = service.as_entry_in(current) if current is not None else None
            rows.append((out, field_rows(out.entry, published)))
    return render(request, "proposals.html", {
        "proposals": rows, "editor": Scope.PREVENTION_REVIEW in signed.principal.scopes})


@router.post(f"{PREFIX}/prevention/{{proposal_id}}/decision")
def decide(request: Request, signed: Editor, proposal_id: Annotated[str, Path(max_length=36)],
           decision: Annotated[str, Form(max_length=8)] = "",
           reason: Annotated[str, Form(max_length=2000)] = "",
           csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    check_csrf(signed, csrf)
    tr = tr_for(request, signed)
    try:
        with transaction(request.app.state.vigil.session) as s:
            p, row = service.decide(s, signed.principal, proposal_id, decision, reason)
            title = service.proposal_out(s, p).entry.title
    except DomainError as exc:
        if exc.status == 404:
            raise
        return redirect(f"{PREFIX}/prevention", flash=("error", exc.message))
    text = (tr.gettext("“%(title)s” is published.", title=title) if row is not None
            else tr.gettext("“%(title)s” is rejected; the practitioner reads your reason.",
                            title=title))
    return redirect(f"{PREFIX}/prevention", flash=("ok", text))
