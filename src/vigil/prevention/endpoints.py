"""The prevention hub's open JSON API (``/v1/prevention/...``): programmes, resources and
working groups with full-text search and filters, one entry with its history, the helplines,
an Atom feed of new and changed entries — anyone, no key. Practitioners propose entries
(``prevention:propose``) and the Centre publishes or rejects them (``prevention:review``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from vigil.db import transaction
from vigil.deps import PreventionProposeKey, PreventionReviewKey
from vigil.errors import ERROR_RESPONSES, NotFound
from vigil.prevention import feed, repository, service
from vigil.prevention.schemas import (
    DecisionIn,
    EntryDetailOut,
    EntryPage,
    HelplineOut,
    ProposalIn,
    ProposalOut,
    Target,
)
from vigil.victims import helplines

router = APIRouter(prefix="/v1/prevention", tags=["prevention"], responses=ERROR_RESPONSES)

Q = Annotated[str | None, Query(max_length=200, description="words to search for (prefixes)")]
Country = Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$", description="ISO 3166 code; "
                                      "entries for the whole EU and international ones match too")]
Language = Annotated[str | None, Query(pattern=r"^[a-z]{2}$", description="ISO 639-1 code")]
Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=100_000)]
EntryId = Annotated[str, Path(min_length=1, max_length=64)]


def _page(request: Request, kind: str, q: str | None, country: str | None,
          target: str | None, language: str | None, limit: int, offset: int) -> EntryPage:
    with request.app.state.vigil.read_session() as s:
        found = repository.search(s, kind=kind, query=q, country=country, target=target,
                                  language=language, limit=limit, offset=offset)
        return EntryPage(items=[service.as_out(e) for e in found.entries], total=found.total,
                         search=found.search)


@router.get("/programmes", response_model=EntryPage)
def programmes(request: Request, q: Q = None, country: Country = None, target: Target | None = None,
               language: Language = None, limit: Limit = 50, offset: Offset = 0) -> EntryPage:
    """Anyone: prevention programmes, searched and filtered (by target group: ``may_offend``,
    ``offended``, ``children``, ``parents``, ``professionals``), best match first."""
    return _page(request, "programme", q, country, target, language, limit, offset)


@router.get("/resources", response_model=EntryPage)
def resources(request: Request, q: Q = None, country: Country = None, target: Target | None = None,
              language: Language = None, limit: Limit = 50, offset: Offset = 0) -> EntryPage:
    """Anyone: training and campaign material, with its licence, for adaptation."""
    return _page(request, "resource", q, country, target, language, limit, offset)


@router.get("/working-groups", response_model=EntryPage)
def working_groups(request: Request, q: Q = None, country: Country = None,
                   target: Target | None = None, language: Language = None, limit: Limit = 50,
                   offset: Offset = 0) -> EntryPage:
    """Anyone: working groups with their members and outputs."""
    return _page(request, "working_group", q, country, target, language, limit, offset)


@router.get("/entries/{entry_id}", response_model=EntryDetailOut)
def entry(request: Request, entry_id: EntryId) -> EntryDetailOut:
    """Anyone: one published entry and its history (every published version)."""
    with request.app.state.vigil.read_session() as s:
        row = repository.entry(s, entry_id)
        if row is None:
            raise NotFound("no such entry in the prevention hub")
        return EntryDetailOut(**service.as_out(row).model_dump(),
                              history=service.history_out(s, row))


@router.get("/helplines", response_model=list[HelplineOut])
def helpline_list() -> list[HelplineOut]:
    """Anyone: the helplines the Centre lists, by country (``default``: the EU-wide line),
    each with its public source."""
    return [HelplineOut(country=c, name=h.name, phone=h.phone, audience=h.audience, url=h.url,
                        chat=h.chat, always_open=h.always,
                        hours=None if h.hours is None else [
                            {"days": list(o.days), "from": o.start, "to": o.end} for o in h.hours],
                        source_url=h.source_url, source_read=h.source_read)
            for c, rows in helplines.load().items() for h in rows]


@router.get("/feed.atom", response_class=Response,
            responses={200: {"content": {"application/atom+xml": {}}}})
def atom(request: Request) -> Response:
    """Anyone: an Atom feed (RFC 4287) of the newest published and changed entries."""
    with request.app.state.vigil.read_session() as s:
        body = feed.atom(s, request.app.state.vigil.settings.public_url)
    return Response(body, media_type="application/atom+xml")


@router.post("/proposals", response_model=ProposalOut, status_code=201)
def propose(request: Request, body: ProposalIn, actor: PreventionProposeKey) -> ProposalOut:
    """Propose a new entry, or a change to a published one (``replaces``); it is published
    only when the Centre approves it."""
    with transaction(request.app.state.vigil.session) as s:
        p = service.propose(s, actor, body.entry, body.replaces)
        return service.proposal_out(s, p)


@router.get("/proposals", response_model=list[ProposalOut])
def proposal_list(request: Request, actor: PreventionProposeKey,
                  status: Annotated[str | None, Query(pattern="^(proposed|approved|rejected)$")] = None,
                  ) -> list[ProposalOut]:
    """Your organisation's proposals and their outcome (all proposals for the Centre)."""
    with request.app.state.vigil.read_session() as s:
        return [service.proposal_out(s, p) for p in repository.proposals(s, actor, status)]


@router.post("/proposals/{proposal_id}/decision", response_model=ProposalOut)
def decide(request: Request, proposal_id: Annotated[str, Path(max_length=36)], body: DecisionIn,
           actor: PreventionReviewKey) -> ProposalOut:
    """The Centre: publish a proposal (a new entry or a new version) or reject it with a
    reason; never the proposal's own author."""
    with transaction(request.app.state.vigil.session) as s:
        p, _ = service.decide(s, actor, proposal_id, body.decision, body.reason)
        return service.proposal_out(s, p)
