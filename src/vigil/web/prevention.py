"""The prevention hub's public pages: ``/prevention`` (search and filters over programmes,
resources and working groups), one entry with its evaluation, source and history, and the
ECRIS explainer. The same repository search and service conversions as the open API
(``vigil.prevention.endpoints``); no account, no cookie."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from vigil.errors import NotFound
from vigil.prevention import repository, service
from vigil.prevention.schemas import KINDS, TARGETS, Source
from vigil.web.render import render

router = APIRouter(prefix="/prevention", include_in_schema=False)


@router.get("")
def hub(request: Request, q: Annotated[str, Query(max_length=200)] = "",
        kind: Annotated[str, Query(max_length=20)] = "",
        country: Annotated[str, Query(max_length=2)] = "",
        target: Annotated[str, Query(max_length=20)] = "") -> Response:
    """Public: search the hub. Unknown filter values are ignored (never echoed)."""
    kind = kind if kind in KINDS else ""
    target = target if target in TARGETS else ""
    country = country.upper() if len(country) == 2 and country.isalpha() else ""
    with request.app.state.vigil.read_session() as s:
        found = repository.search(s, kind=kind or None, query=q or None,
                                  country=country or None, target=target or None, limit=100)
        items = [service.as_out(e) for e in found.entries]
    return render(request, "prevention.html", {
        "items": items, "total": found.total, "q": q, "kind": kind, "country": country,
        "target": target, "kinds": KINDS, "targets": TARGETS,
        "countries": sorted({i.country for i in items} | ({country} if country else set()))})


@router.get("/entries/{entry_id}")
def entry_page(request: Request, entry_id: Annotated[str, Path(max_length=64)]) -> Response:
    """Public: one entry — evaluation, how to reach it, its public source, its history."""
    with request.app.state.vigil.read_session() as s:
        row = repository.entry(s, entry_id)
        if row is None:
            raise NotFound("no such entry in the prevention hub")
        item, history = service.as_out(row), service.history_out(s, row)
    return render(request, "prevention_entry.html", {"e": item, "history": history})


@cache
def ecris_authorities() -> list[dict[str, Any]]:
    """The national authorities of the ECRIS page, each with its public source (checked: a
    missing source or date is an error here, never a page without one)."""
    text = resources.files("vigil.prevention").joinpath(service.SEED_FILE).read_text("utf-8")
    out = []
    for a in json.loads(text).get("ecris_authorities", []):
        source = Source.model_validate(a["source"])
        out.append({**a, "source": source})
    return out


@router.get("/ecris")
def ecris(request: Request) -> Response:
    """Public: criminal-record checks before hiring people who work with children (ECRIS),
    explained, with the national authorities we found a public source for."""
    return render(request, "prevention_ecris.html", {"authorities": ecris_authorities()})
