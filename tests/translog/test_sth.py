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


def test_workers_starting_together_share_one_key(tmp_path: Path) -> None:
    """Several server workers on a fresh data directory must not each make their own key."""
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "log.key"
    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(lambda _: TreeHeadSigner.from_file(path, create=True).log_id, range(16)))
    assert len(ids) == 1


def test_file_key_is_created_once(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from vigil.config import Settings
    from vigil.reports.storage import load_file_key

    settings = Settings(data_dir=tmp_path)
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: load_file_key(settings), range(16)))
    assert len(keys) == 1 and len(next(iter(keys))) == 32
