"""Indicator pages: pending, active, retracted and rejected indicators with their provenance
and the transparency log's inclusion proof for each of their events; verify, reject, retract.

The verify button is never simply missing: when the reviewer's own organisation proposed the
indicator, it is disabled and says why (the two-organisation rule the service enforces)."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from vigil.accountability import service as accountability
from vigil.db import transaction
from vigil.deps import DbId
from vigil.errors import DomainError
from vigil.indicators import service
from vigil.orgs import service as organisations
from vigil.orgs.access import Scope
from vigil.orgs.accounts import SignedIn
from vigil.translog import repository as translog
from vigil.translog.merkle import ProofError, verify_inclusion
from vigil.web.render import PREFIX, FormText, check_csrf, page, redirect, render, tr_for

router = APIRouter(prefix=f"{PREFIX}/indicators", include_in_schema=False)
STATUSES = ("pending", "active", "quarantined", "retracted", "rejected")
Reader = Annotated[SignedIn, page(Scope.INDICATORS_READ)]
Reviewer = Annotated[SignedIn, page(Scope.INDICATORS_REVIEW)]


@router.get("")
def indicators_page(request: Request, signed: Reader,
                    status: Annotated[str, Query(pattern=f"^({'|'.join(STATUSES)})$")] = "pending",
                    after: Annotated[int, Query(ge=0, le=2**62)] = 0) -> Response:
    with request.app.state.vigil.read_session() as s:
        rows = service.list_indicators(s, signed.principal, status=status, limit=101,
                                       after_id=after)
        orgs = organisations.names(s)
    more = rows[100].id - 1 if len(rows) > 100 else None
    return render(request, "indicators.html", {"rows": rows[:100], "status": status,
                                               "statuses": STATUSES, "orgs": orgs, "more": more})


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def log_events(request: Request, session: Session, indicator_id: int) -> tuple[Any, list[dict[str, Any]]]:
    """The indicator's log entries, each with its inclusion proof in the current signed tree
    head and whether that proof checks out."""
    state = request.app.state.vigil
    with state.tree_lock:
        head = translog.signed_head(session, state.tree_cache, state.signer)
        tree = state.tree_cache.tree
        entries = translog.entries_about(session, f"indicator:{indicator_id}")
        events = []
        for e in entries:
            leaf = json.loads(e.leaf)
            if leaf.get("indicator") != indicator_id or e.index >= head.size:
                continue
            path = tree.inclusion_proof(e.index, head.size)
            try:
                verify_inclusion(bytes(e.leaf_hash), e.index, head.size, path, head.root)
                ok = True
            except ProofError:
                ok = False
            events.append({"index": e.index, "leaf": leaf, "leaf_hash": _b64(bytes(e.leaf_hash)),
                           "path": [_b64(p) for p in path], "ok": ok})
    return head, events


@router.get("/{indicator_id}")
def indicator_page(indicator_id: DbId, request: Request, signed: Reader) -> Response:
    state = request.app.state.vigil
    with transaction(state.session) as s:
        signed.principal.require(Scope.INDICATORS_READ)
        ind = service.get_indicator(s, indicator_id)
        orgs = organisations.names(s)
        head, events = log_events(request, s, ind.id)
        commitment = service.commitment(ind.salt, ind.signal_type, ind.value)
        list_name = ind.hash_list.name
    p = signed.principal
    own = ind.proposed_by_org == p.organisation_id
    can_review = Scope.INDICATORS_REVIEW in p.scopes
    return render(request, "indicator.html", {
        "ind": ind, "list_name": list_name, "orgs": orgs, "head": head,
        "root": _b64(head.root), "events": events, "commitment": commitment, "own": own,
        "can_review": can_review, "can_verify": can_review and not own and ind.status == "pending"})


def _act(request: Request, signed: SignedIn, indicator_id: int, csrf: str, action: str,
         reason: str = "") -> Response:
    check_csrf(signed, csrf)
    state = request.app.state.vigil
    here = f"{PREFIX}/indicators/{indicator_id}"
    try:
        with transaction(state.session) as s:
            if action == "verify":
                ind = service.verify(s, signed.principal, indicator_id)
            elif action == "reinstate":
                ind = accountability.reinstate(s, signed.principal, indicator_id, reason)
            elif action == "reject":
                ind = service.reject(s, signed.principal, indicator_id, reason)
            else:
                ind = service.retract(s, signed.principal, indicator_id, reason)
            status = ind.status
    except DomainError as exc:
        return redirect(here, flash=("error", exc.message))
    state.matcher.sync(state.read_session)  # this worker matches the change at once
    tr = tr_for(request, signed)
    return redirect(here, flash=("ok", tr.gettext("Indicator %(id)s is now %(status)s.",
                                                  id=indicator_id, status=tr.label("ind", status))))


@router.post("/{indicator_id}/verify")
def verify(indicator_id: DbId, request: Request, signed: Reviewer,
           csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    return _act(request, signed, indicator_id, csrf, "verify")


@router.post("/{indicator_id}/reinstate")
def reinstate(indicator_id: DbId, request: Request, signed: Reviewer,
              reason: FormText = "",
              csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    return _act(request, signed, indicator_id, csrf, "reinstate", reason)


@router.post("/{indicator_id}/reject")
def reject(indicator_id: DbId, request: Request, signed: Reviewer,
           reason: FormText = "",
           csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    return _act(request, signed, indicator_id, csrf, "reject", reason)


@router.post("/{indicator_id}/retract")
def retract(indicator_id: DbId, request: Request, signed: Reviewer,
            reason: FormText = "",
            csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    return _act(request, signed, indicator_id, csrf, "retract", reason)


