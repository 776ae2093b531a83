"""The Merkle log against the RFC 9162 definitions, and tampering of every kind."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.translog.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    ProofError,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)


def leaves(n: int) -> list[bytes]:
    return [leaf_hash(f"entry {i}".encode()) for i in range(n)]


def test_rfc_hashing_domain_separation() -> None:
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert leaf_hash(b"a") == hashlib.sha256(b"\x00a").digest()
    assert node_hash(b"l" * 32, b"r" * 32) == hashlib.sha256(b"\x01" + b"l" * 32 + b"r" * 32).digest()
    # Three leaves: node(node(a, b), c), not balanced by padding.
    a, b, c = leaves(3)
    assert MerkleTree([a, b, c]).root() == node_hash(node_hash(a, b), c)


@given(st.integers(0, 130))
def test_incremental_root_equals_recursive_definition(n: int) -> None:
    hs = leaves(n)
    tree = MerkleTree(hs)
    for size in range(n + 1):
        assert tree.root(size) == root_from_leaf_hashes(hs[:size])


@given(st.integers(1, 130), st.data())
def test_inclusion_proofs_verify(n: int, data: st.DataObject) -> None:
    hs = leaves(n)
    tree = MerkleTree(hs)
    size = data.draw(st.integers(1, n))
    index = data.draw(st.integers(0, size - 1))
    proof = tree.inclusion_proof(index, size)
    verify_inclusion(hs[index], index, size, proof, tree.root(size))
    # The same proof says nothing about another leaf, position or tree.
    with pytest.raises(ProofError):
        verify_inclusion(leaf_hash(b"forged"), index, size, proof, tree.root(size))
    if size > 1:
        other = (index + 1) % size
        with pytest.raises(ProofError):
            verify_inclusion(hs[index], other, size, proof, tree.root(size))


@given(st.integers(1, 130), st.data())
def test_consistency_proofs_verify(n: int, data: st.DataObject) -> None:
    hs = leaves(n)
    tree = MerkleTree(hs)
    new = data.draw(st.integers(1, n))
    old = data.draw(st.integers(1, new))
    proof = tree.consistency_proof(old, new)
    verify_consistency(old, new, tree.root(old), tree.root(new), proof)
    # A log that rewrote any old entry cannot prove consistency with the old head.
    forked = list(hs)
    forked[data.draw(st.integers(0, old - 1))] = leaf_hash(b"rewritten")
    forked_tree = MerkleTree(forked)
    if old < new:
        with pytest.raises(ProofError):
            verify_consistency(old, new, tree.root(old), forked_tree.root(new),
                               forked_tree.consistency_proof(old, new))


def test_tampered_proofs_fail() -> None:
    hs = leaves(10)
    tree = MerkleTree(hs)
    proof = tree.inclusion_proof(3)
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes(32)
        with pytest.raises(ProofError):
            verify_inclusion(hs[3], 3, 10, bad, tree.root())
    with pytest.raises(ProofError, match="too short"):
        verify_inclusion(hs[3], 3, 10, proof[:-1], tree.root())
    with pytest.raises(ProofError):
        verify_inclusion(hs[3], 3, 10, [*proof, bytes(32)], tree.root())
    cproof = tree.consistency_proof(4, 10)
    with pytest.raises(ProofError):
        verify_consistency(4, 10, tree.root(4), tree.root(10), cproof[:-1])
    with pytest.raises(ProofError, match="empty"):
        verify_consistency(4, 10, tree.root(4), tree.root(10), [])
    with pytest.raises(ProofError, match="forked"):
        verify_consistency(5, 5, tree.root(5), tree.root(6), [])


def test_out_of_range_requests() -> None:
    tree = MerkleTree(leaves(4))
    with pytest.raises(ProofError):
        tree.inclusion_proof(4)
    with pytest.raises(ProofError):
        tree.consistency_proof(0, 4)
    with pytest.raises(ProofError):
        tree.root(5)
