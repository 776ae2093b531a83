"""HTTP routes for lists, indicators, feeds and provider matching. Thin: parse, call one
service function inside the request's unit of work, render."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.deps import (
    DbId,
    IndicatorsProposeKey,
    IndicatorsReadKey,
    IndicatorsReviewKey,
    ListsDownloadKey,
    ListsManageKey,
    MatchKey,
    unit_of_work,
)
from vigil.errors import ERROR_RESPONSES, Invalid, TooLarge
from vigil.indicators import feeds, receipts, service, snapshots
from vigil.indicators.lifecycle import IndicatorStatus
from vigil.indicators.schemas import (
    HitOut,
    IndicatorOut,
    ListChangesOut,
    ListIn,
    ListOut,
    ListSnapshotOut,
    ListUpdate,
    MatchIn,
    MatchOut,
    MatchResult,
    ProposeIn,
    ReasonIn,
)
from vigil.matching.errors import InvalidSignal
from vigil.matching.policy import Item, Signal, match_items
from vigil.matching.robust import VARIANT_NAMES
from vigil.matching.signals import PdqHash, SignalType, VpdqHash, parse_signal
from vigil.translog import repository as translog

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


def _after_change(request: Request) -> None:
    """The worker that made a change sees it at once; others within the poll interval."""
    state = request.app.state.vigil
    state.matcher.sync(state.read_session)


@router.get("/lists", response_model=list[ListOut])
def get_lists(request: Request, actor: ListsDownloadKey) -> list[ListOut]:
    with unit_of_work(request) as s:
        return [ListOut.model_validate(hl) for hl in service.all_lists(s)]


@router.post("/lists", response_model=ListOut, status_code=201)
def create_list(body: ListIn, request: Request, actor: ListsManageKey) -> ListOut:
    with unit_of_work(request) as s:
        hl = service.create_list(s, actor, body.name, body.trust, body.pdq_threshold,
                                 body.description, robust=body.robust)
        out = ListOut.model_validate(hl)
    _after_change(request)
    return out


@router.patch("/lists/{name}", response_model=ListOut)
def update_list(name: str, body: ListUpdate, request: Request, actor: ListsManageKey) -> ListOut:
    with unit_of_work(request) as s:
        out = ListOut.model_validate(service.update_list(s, actor, name, body.pdq_threshold,
                                                         robust=body.robust))
    _after_change(request)
    return out


@router.get("/lists/{name}/snapshot", response_model=ListSnapshotOut, response_class=Response,
            responses={200: {"model": ListSnapshotOut, "description": (
                "The signed snapshot, streamed; the same bytes for every download of one list "
                "version, with a strong ETag")},
                304: {"description": "Not modified: If-None-Match named the current ETag"}})
def list_snapshot(name: str, request: Request, actor: ListsDownloadKey,
                  if_none_match: Annotated[str | None, Header(max_length=4096)] = None
                  ) -> Response:
    """The list's active indicators as a signed snapshot. Built once per list version (its last
    change in the feed) and kept on disk; `If-None-Match` with the ETag of the current version
    answers 304 without a body. Every download (and every 304) is recorded."""
    state = request.app.state.vigil
    store = snapshots.SnapshotStore(state.settings.data_dir / "snapshots",
                                    state.settings.snapshot_versions_kept)
    # Signed with the key the log announced last (a rotation may have happened since this
    # worker started); built outside the request's write transaction, from a read-only session.
    with state.read_session() as s:
        signer = translog.current_signer(s, state.tree_cache, state.signer)
    snap, fh = store.get(state.read_session, name, signer)
    unchanged = snapshots.etag_matches(if_none_match, snap.etag)
    try:
        with unit_of_work(request) as s:
            record(s, actor, AuditAction.LIST_SNAPSHOT_DOWNLOADED, subject=name,
                   details={"entries": snap.entries, "seq": snap.seq,
                            **({"not_modified": True} if unchanged else {})})
    except BaseException:
        fh.close()
        raise
    headers = {"ETag": snap.etag, "Cache-Control": "private, no-cache"}
    if unchanged:
        fh.close()
        return Response(status_code=304, headers=headers)
    return StreamingResponse(snapshots.iter_file(fh), media_type="application/json",
                             headers={**headers, "Content-Length": str(snap.size)})


@router.get("/lists/{name}/changes", response_model=ListChangesOut)
def list_changes(name: str, request: Request, actor: ListsDownloadKey,
                 since: int = Query(0, ge=0, le=2**62)) -> ListChangesOut:
    with unit_of_work(request) as s:
        hl = service.get_list(s, name)
        state = request.app.state.vigil
        feed = feeds.changes(s, hl, since,
                             translog.current_signer(s, state.tree_cache, state.signer))
        record(s, actor, AuditAction.LIST_CHANGES_DOWNLOADED, subject=name,
               details={"since": since, "changes": len(feed["changes"])})
        return ListChangesOut.model_validate(feed)


@router.post("/indicators", response_model=list[IndicatorOut], status_code=201)
def propose(body: ProposeIn, request: Request, actor: IndicatorsProposeKey) -> list[IndicatorOut]:
    with unit_of_work(request) as s:
        created = service.propose(s, actor, [service.Proposal(**i.model_dump()) for i in body.items])
        return [IndicatorOut.of(i) for i in created]


def _robust_item(st: SignalType, sig: object, variants: dict[str, str], robust: bool) -> Item:
    """A PDQ item with its robust variants (each one a PDQ of the same picture, by name)."""
    if not robust:
        raise InvalidSignal("variants are matched in robust mode only: send \"robust\": true")
    if st is not SignalType.PDQ or not isinstance(sig, PdqHash):
        raise InvalidSignal("variants belong to a PDQ hash")
    unknown = sorted(set(variants) - set(VARIANT_NAMES))
    if unknown:
        raise InvalidSignal(f"unknown variant {unknown[0]!r}; variants are "
                            f"{', '.join(VARIANT_NAMES)}")
    signals = [Signal(SignalType.PDQ, sig.hex, "original")]
    signals += [Signal(SignalType.PDQ, PdqHash.parse(v).hex, name)
                for name, v in variants.items() if name != "original"]
    return Item(tuple(signals))


@router.get("/indicators", response_model=list[IndicatorOut])
def list_indicators(request: Request, actor: IndicatorsReadKey,
                    status: IndicatorStatus | None = None,
                    list_name: str | None = Query(None, alias="list", max_length=64),
                    after: int = Query(0, ge=0, le=2**62),
                    limit: int = Query(100, ge=1, le=1000)) -> list[IndicatorOut]:
    with unit_of_work(request) as s:
        return [IndicatorOut.of(i) for i in service.list_indicators(s, actor, status, list_name, limit, after)]


@router.get("/indicators/{indicator_id}", response_model=IndicatorOut)
def get_indicator(indicator_id: DbId, request: Request, actor: IndicatorsReadKey) -> IndicatorOut:
    with unit_of_work(request) as s:
        return IndicatorOut.of(service.get_indicator(s, indicator_id))


@router.post("/indicators/{indicator_id}/verify", response_model=IndicatorOut)
def verify(indicator_id: DbId, request: Request, actor: IndicatorsReviewKey) -> IndicatorOut:
    with unit_of_work(request) as s:
        out = IndicatorOut.of(service.verify(s, actor, indicator_id))
    _after_change(request)
    return out


@router.post("/indicators/{indicator_id}/reject", response_model=IndicatorOut)
def reject(indicator_id: DbId, body: ReasonIn, request: Request, actor: IndicatorsReviewKey) -> IndicatorOut:
    with unit_of_work(request) as s:
        return IndicatorOut.of(service.reject(s, actor, indicator_id, body.reason))


@router.post("/indicators/{indicator_id}/retract", response_model=IndicatorOut)
def retract(indicator_id: DbId, body: ReasonIn, request: Request, actor: IndicatorsReviewKey) -> IndicatorOut:
    with unit_of_work(request) as s:
        out = IndicatorOut.of(service.retract(s, actor, indicator_id, body.reason))
    _after_change(request)
    return out


@router.post("/match", response_model=MatchOut)
def match(body: MatchIn, request: Request, actor: MatchKey) -> MatchOut:
    state = request.app.state.vigil
    limit = state.settings.match_max_items
    if len(body.items) > limit:
        raise TooLarge(f"at most {limit} hashes per request, got {len(body.items)}")
    if not body.items:
        raise Invalid("no hashes to match")
    items: list[Item] = []
    errors = []
    for i, item in enumerate(body.items):
        try:
            st = SignalType.parse(item.signal_type)
            sig = parse_signal(st, item.value)
            items.append(Item.of((st, sig if isinstance(sig, VpdqHash) else sig.hex))
                         if not item.variants else _robust_item(st, sig, item.variants, body.robust))
        except InvalidSignal as exc:
            errors.append({"index": i, "error": exc.message})
    if errors:
        raise Invalid(f"{len(errors)} of {len(body.items)} hashes are invalid", items=errors)
    if state.match_quota is not None:
        # Every hash looked up counts, a robust item's variants too.
        state.match_quota.take(f"key:{actor.key_id}", sum(len(i.signals) for i in items))
    outcomes = match_items(state.matcher, items)
    day = receipts.today()
    results = [MatchResult(
        index=i, verdict=o.verdict, suppressed_by_allow_list=o.suppressed,
        matches=[HitOut(indicator_id=int(h.key), list=h.list.name, trust=h.trust,
                        signal_type=h.signal_type.value, distance=h.distance, label=h.label,
                        match_id=receipts.match_id(state.receipt_key, actor.organisation_id,
                                                   int(h.key), day),
                        variant=None if h.variant in (None, "original") else h.variant)
                 for h in o.hits]) for i, o in enumerate(outcomes)]
    with unit_of_work(request) as s:
        record(s, actor, AuditAction.MATCH_QUERIED,
               details={"hashes": len(items), "matched_items": sum(1 for r in results if r.matches)})
    state.metrics.hashes_matched.inc(len(items))
    state.hit_counter.add([m.indicator_id for r in results for m in r.matches])
    return MatchOut(results=results)
