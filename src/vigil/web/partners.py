"""The partners page: the Centre's administrators see, in one place, everyone vigil exchanges
with — partner centres (vigil ↔ vigil: the agreement, how far each was pulled, its last error,
what it brought and what was quarantined), partner hotlines (where referrals go, by country)
and the hash-sharing programmes' imports (where each stands, what was skipped, a page that
keeps failing). Read only: registering and removing stay with the CLI and the API, which
check and audit them (docs/exchange.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from vigil.federation import repository as federation_repository
from vigil.federation import service as federation
from vigil.indicators import service as indicators
from vigil.orgs.access import Scope
from vigil.orgs.accounts import SignedIn
from vigil.sharing import service as sharing
from vigil.takedown.referrals import hotlines
from vigil.web.render import PREFIX, page, render

router = APIRouter(include_in_schema=False)
#: The Centre's administrators (the Centre alone holds orgs:manage), as the API's.
Admin = Annotated[SignedIn, page(Scope.ORGS_MANAGE)]


@router.get(f"{PREFIX}/partners")
def partners_page(request: Request, signed: Admin) -> Response:
    with request.app.state.vigil.read_session() as s:
        centres = federation.overview(s)
        quarantined = federation_repository.quarantine_counts(s)
        lists = {hl.id: hl.name for hl in indicators.all_lists(s)}
        registry = hotlines.listing(s, signed.principal)
        sources = [(src, list_name, sharing.recent_problems(s, src.id, 3))
                   for src, list_name in sharing.sources(s)]
    return render(request, "partners.html", {
        "centres": [(p, imported, head, quarantined.get(p.id, 0), lists.get(p.local_list_id, "?"))
                    for p, imported, head in centres],
        "hotlines": registry, "sources": sources})
