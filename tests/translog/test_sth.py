from __future__ import annotations

from pathlib import Path

import pytest

from vigil.translog.merkle import MerkleTree, ProofError, leaf_hash
from vigil.translog.sth import SignedTreeHead, TreeHeadSigner, verify_tree_head


def test_sign_verify_and_forgeries(tmp_path: Path) -> None:
    signer = TreeHeadSigner.from_file(tmp_path / "log.key", create=True)
    assert (tmp_path / "log.key").stat().st_mode & 0o777 == 0o600
    tree = MerkleTree([leaf_hash(b"a"), leaf_hash(b"b")])
    head = signer.sign(2, tree.root(), timestamp_ms=1_700_000_000_000)
    verify_tree_head(head, signer.public_key)
    again = SignedTreeHead.from_json(head.to_json())
    verify_tree_head(again, signer.public_key)
    # A forged size, root or time, or another log's key, is detected.
    for forged in (
        SignedTreeHead(head.log_id, 3, head.timestamp_ms, head.root, head.signature),
        SignedTreeHead(head.log_id, 2, head.timestamp_ms, bytes(32), head.signature),
        SignedTreeHead(head.log_id, 2, head.timestamp_ms + 1, head.root, head.signature),
    ):
        with pytest.raises(ProofError, match="signature is invalid"):
            verify_tree_head(forged, signer.public_key)
    with pytest.raises(ProofError, match="different log"):
        verify_tree_head(head, TreeHeadSigner.generate().public_key)
    # The key file is reused, not replaced.
    assert TreeHeadSigner.from_file(tmp_path / "log.key").log_id == signer.log_id


def test_malformed_head_json() -> None:
    with pytest.raises(ProofError, match="malformed"):
        SignedTreeHead.from_json({"tree_size": 1})
