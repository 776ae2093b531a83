"""HTTP routes of the transparency log: signed head, proofs, entries, the public key."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any, TypeVar

from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from vigil.deps import LogReadKey, unit_of_work
from vigil.errors import ERROR_RESPONSES, Invalid
from vigil.translog import repository
from vigil.translog.keys import key_of as load_public
from vigil.translog.keys import published
from vigil.translog.merkle import MerkleTree, ProofError
from vigil.translog.schemas import (
    ConsistencyProofOut,
    InclusionProofOut,
    LogEntriesOut,
    LogEntryOut,
    LogKeysOut,
    TreeHeadOut,
)

router = APIRouter(prefix="/v1/log", responses=ERROR_RESPONSES)

#: The public key's answer, described for the API (the body is PEM text, not JSON).
_PEM: dict[int | str, dict[str, Any]] = {
    200: {"description": "The public key, PEM (SubjectPublicKeyInfo).",
          "content": {"text/plain": {"schema": {"type": "string"}}}}}

#: What a proof builder returns.
P = TypeVar("P")


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


@router.get("/key", response_class=PlainTextResponse, responses=_PEM)
def public_key(request: Request) -> str:
    """The Ed25519 public key (PEM) that signs tree heads, snapshots and deltas now (all keys,
    with their ranges: ``GET /v1/log/keys``). Public."""
    state = request.app.state.vigil
    with unit_of_work(request) as s, state.tree_lock:
        chain = state.tree_cache.keys
        state.tree_cache.refresh(s)
    key = load_public(chain.current) if chain.current else state.signer.public_key
    pem: bytes = key.public_bytes(serialization.Encoding.PEM,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem.decode()


@router.get("/keys", response_model=LogKeysOut)
def public_keys(request: Request) -> LogKeysOut:
    """Every key that has signed this log, each with the tree sizes of the heads it signs
    (``first_size`` to ``last_size``; null: the current key) and when it was retired. A new
    key is announced in the log by a leaf its predecessor signed (see docs/operations.md,
    "Key rotation"). Public: ``vigil match --public-key`` and auditors take this list."""
    state = request.app.state.vigil
    with unit_of_work(request) as s, state.tree_lock:
        state.tree_cache.refresh(s)
        return LogKeysOut.model_validate(
            {"keys": published(state.tree_cache.keys, state.signer.public_bytes)})


@router.get("/head", response_model=TreeHeadOut)
def head(request: Request, actor: LogReadKey) -> TreeHeadOut:
    state = request.app.state.vigil
    with unit_of_work(request) as s, state.tree_lock:
        sth = repository.signed_head(s, state.tree_cache, state.signer)
        return TreeHeadOut.model_validate(sth.to_json())


def _proof(request: Request, make: Callable[[MerkleTree], P]) -> P:
    """Run ``make`` on the current tree; a request outside the tree is a 422."""
    state = request.app.state.vigil
    with unit_of_work(request) as s, state.tree_lock:
        try:
            return make(state.tree_cache.refresh(s))
        except ProofError as exc:
            raise Invalid(str(exc)) from None


@router.get("/proof/inclusion", response_model=InclusionProofOut)
def inclusion(request: Request, actor: LogReadKey,
              index: int = Query(ge=0, le=2**62), size: int = Query(ge=1, le=2**62)) -> InclusionProofOut:
    def make(tree: MerkleTree) -> InclusionProofOut:
        path = tree.inclusion_proof(index, size)  # checks the range before the leaf is read
        return InclusionProofOut(index=index, tree_size=size, leaf_hash=_b64(tree.leaf(index)),
                                 audit_path=[_b64(p) for p in path])

    return _proof(request, make)


@router.get("/proof/consistency", response_model=ConsistencyProofOut)
def consistency(request: Request, actor: LogReadKey,
                first: int = Query(ge=1, le=2**62), second: int = Query(ge=1, le=2**62)) -> ConsistencyProofOut:
    return _proof(request, lambda tree: ConsistencyProofOut(
        first=first, second=second,
        consistency_path=[_b64(p) for p in tree.consistency_proof(first, second)]))


@router.get("/entries", response_model=LogEntriesOut)
def entries(request: Request, actor: LogReadKey,
            start: int = Query(0, ge=0, le=2**62), end: int | None = Query(None, ge=1, le=2**62)) -> LogEntriesOut:
    stop = start + 1000 if end is None else min(end, start + 1000)
    if stop <= start:
        raise Invalid("end must be greater than start")
    with unit_of_work(request) as s:
        rows = repository.entries(s, start, stop)
        return LogEntriesOut(entries=[LogEntryOut(index=e.index, leaf=json.loads(e.leaf),
                                                  leaf_data=_b64(e.leaf), leaf_hash=_b64(e.leaf_hash))
                                      for e in rows])
