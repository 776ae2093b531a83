"""HTTP routes of series linking (law-enforcement keys with ``series:link``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from vigil.deps import DbId, SeriesLinkKey, unit_of_work
from vigil.errors import ERROR_RESPONSES, NotFound, RateLimited
from vigil.orgs.access import Principal
from vigil.series import repository, service
from vigil.series.schemas import ContactOut, DeconflictionOut, SeriesOut

router = APIRouter(prefix="/v1/series", tags=["series"], responses=ERROR_RESPONSES)


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pdq: str | None = Field(default=None, min_length=64, max_length=64,
                            description="an image's PDQ (64 hex characters)")
    vpdq: str | None = Field(default=None, min_length=2, max_length=200_000,
                             description="a video's vPDQ (threatexchange's JSON list of "
                                         "\"hex,quality,seconds\" frames)")


class SeriesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: str = Field(min_length=1, max_length=200,
                           description="your case reference; shown to you alone")
    discoverable: bool = Field(default=False, description=(
        "whether other authorities' queries find this series (default: not)"))
    items: list[ItemIn] = Field(min_length=1, max_length=service.MAX_ITEMS)


class DiscoverableIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    discoverable: bool


@router.post("", response_model=SeriesOut, status_code=201)
def register(body: SeriesIn, request: Request, actor: SeriesLinkKey) -> SeriesOut:
    """Register a series of one of your cases: hashes only (PDQ, vPDQ), never media."""
    _take_change(request, actor)
    with unit_of_work(request) as s:
        found = service.register(
            s, actor, body.reference, body.discoverable,
            [service.ItemIn(i.pdq, i.vpdq) for i in body.items],
            max_hashes=request.app.state.vigil.settings.series_hashes_per_organisation)
        return SeriesOut.of(found)


@router.get("", response_model=list[SeriesOut])
def own(request: Request, actor: SeriesLinkKey) -> list[SeriesOut]:
    """Your organisation's series."""
    with unit_of_work(request) as s:
        return [SeriesOut.of(x) for x in repository.own_series(s, actor)]


@router.patch("/{series_id}", response_model=SeriesOut)
def discoverable(series_id: DbId, body: DiscoverableIn, request: Request,
                 actor: SeriesLinkKey) -> SeriesOut:
    """Decide whether other authorities' queries find this series."""
    _take_change(request, actor)
    with unit_of_work(request) as s:
        return SeriesOut.of(service.set_discoverable(s, actor, series_id, body.discoverable))


@router.delete("/{series_id}", response_model=SeriesOut)
def withdraw(series_id: DbId, request: Request, actor: SeriesLinkKey) -> SeriesOut:
    """Withdraw a series: its hashes are deleted."""
    _take_change(request, actor)
    with unit_of_work(request) as s:
        return SeriesOut.of(service.withdraw(s, actor, series_id))


@router.post("/{series_id}/deconflict", response_model=DeconflictionOut)
def deconflict(series_id: DbId, request: Request, actor: SeriesLinkKey) -> DeconflictionOut:
    """Which other authorities hold near-duplicates of this series: whom to contact — hit / no
    hit per organisation, no counts. Audited, a refused ask too; their media, hashes and case
    references are never returned. At most ``VIGIL_SERIES_QUERIES_PER_DAY`` queries per
    organisation per UTC day (429 past it)."""
    state = request.app.state.vigil
    threshold = state.settings.series_link_threshold
    service.require_linking(actor)  # the Centre's keys: 403, no quota taken, nothing audited
    try:
        if state.series_queries is not None:
            # Counted per organisation (its keys together) and whatever the answer, a 404 too.
            state.series_queries.take(f"org:{actor.organisation_id}", 1,
                                      "de-confliction queries", holder="organisation")
        state.series_index.refresh(state.read_session)  # outside the ask's transaction
        with unit_of_work(request) as s:
            contacts = service.deconflict(s, actor, series_id, threshold,
                                          state.series_index)
            return DeconflictionOut(series=series_id, threshold=threshold, contacts=[
                ContactOut(organisation=c.organisation, kind=c.kind,
                           member_state=c.member_state) for c in contacts])
    except (NotFound, RateLimited) as exc:
        # A 404 takes quota, so those are bounded by it; of the 429s, the first of the day is
        # audited (the Centre sees who runs into the quota), the rest are in the request log
        # only — else each refused ask would be a row in the audit trail, without end.
        if isinstance(exc, NotFound) or _first_refusal_today(state, actor.organisation_id):
            with unit_of_work(request) as s:
                service.refused(s, actor, series_id,
                                "quota" if isinstance(exc, RateLimited) else "not_found")
        raise


def _take_change(request: Request, actor: Principal) -> None:
    """One of the organisation's series changes of the day (``VIGIL_SERIES_CHANGES_PER_DAY``;
    429 past it): each makes every worker rebuild its index and writes an audit record. The
    Centre's keys are refused first (403), taking nothing."""
    service.require_linking(actor)
    quota = request.app.state.vigil.series_changes
    if quota is not None:
        quota.take(f"org:{actor.organisation_id}", 1, "series changes", holder="organisation")


def _first_refusal_today(state: Any, organisation_id: int) -> bool:
    try:
        state.series_refusals.take(f"org:{organisation_id}", 1, "audited refusals",
                                   holder="organisation")
    except RateLimited:
        return False
    return True
