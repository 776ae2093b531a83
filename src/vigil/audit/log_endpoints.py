"""HTTP routes of the transparency log: signed head, proofs, entries, the public key."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from vigil.deps import principal_of, unit_of_work
from vigil.errors import Invalid
from vigil.orgs.access import Scope
from vigil.translog import repository
from vigil.translog.merkle import MerkleTree, ProofError

router = APIRouter(prefix="/v1/log")


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


@router.get("/key", response_class=PlainTextResponse)
def public_key(request: Request) -> str:
    """The Ed25519 public key (PEM) that signs tree heads, snapshots and deltas. Public."""
    key = request.app.state.vigil.signer.public_key
    pem: bytes = key.public_bytes(serialization.Encoding.PEM,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem.decode()


@router.get("/head")
def head(request: Request, actor: principal_of(Scope.LOG_READ)) -> dict[str, Any]:  # type: ignore[valid-type]
    state = request.app.state.vigil
    with unit_of_work(request) as s, state.tree_lock:
        return repository.signed_head(s, state.tree_cache, state.signer).to_json()


def _proof(request: Request, make: Callable[[MerkleTree], dict[str, Any]]) -> dict[str, Any]:
    """Run ``make`` on the current tree; a request outside the tree is a 422."""
    state = request.app.state.vigil
    with unit_of_work(request) as s, state.tree_lock:
        try:
            return make(state.tree_cache.refresh(s))
        except ProofError as exc:
            raise Invalid(str(exc)) from None


@router.get("/proof/inclusion")
def inclusion(request: Request, actor: principal_of(Scope.LOG_READ),  # type: ignore[valid-type]
              index: int = Query(ge=0), size: int = Query(ge=1)) -> dict[str, Any]:
    def make(tree: MerkleTree) -> dict[str, Any]:
        path = tree.inclusion_proof(index, size)  # checks the range before the leaf is read
        return {"index": index, "tree_size": size, "leaf_hash": _b64(tree.leaf(index)),
                "audit_path": [_b64(p) for p in path]}

    return _proof(request, make)


@router.get("/proof/consistency")
def consistency(request: Request, actor: principal_of(Scope.LOG_READ),  # type: ignore[valid-type]
                first: int = Query(ge=1), second: int = Query(ge=1)) -> dict[str, Any]:
    return _proof(request, lambda tree: {
        "first": first, "second": second,
        "consistency_path": [_b64(p) for p in tree.consistency_proof(first, second)]})


@router.get("/entries")
def entries(request: Request, actor: principal_of(Scope.LOG_READ),  # type: ignore[valid-type]
            start: int = Query(0, ge=0), end: int | None = Query(None, ge=1)) -> dict[str, Any]:
    stop = start + 1000 if end is None else min(end, start + 1000)
    if stop <= start:
        raise Invalid("end must be greater than start")
    with unit_of_work(request) as s:
        rows = repository.entries(s, start, stop)
        return {"entries": [{"index": e.index, "leaf": json.loads(e.leaf),
                             "leaf_data": _b64(e.leaf), "leaf_hash": _b64(e.leaf_hash)}
                            for e in rows]}
