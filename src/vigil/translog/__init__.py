"""The verifiable transparency log: RFC 9162 Merkle trees, proofs and signed tree heads.

A plain library (no web framework, no ORM). The indicator service appends one leaf per
indicator event in the same transaction as the event; auditors and providers verify heads and
proofs with the functions here.
"""

from vigil.translog.merkle import (
    MerkleTree,
    ProofError,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from vigil.translog.sth import SignedTreeHead, TreeHeadSigner, verify_tree_head

__all__ = [
    "MerkleTree",
    "ProofError",
    "SignedTreeHead",
    "TreeHeadSigner",
    "leaf_hash",
    "node_hash",
    "root_from_leaf_hashes",
    "verify_consistency",
    "verify_inclusion",
    "verify_tree_head",
]
