"""Property tests of the sync folder's formats: the reader applies any sequence of additions and
withdrawals as a set would, and the trusted log state survives its JSON round trip."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from vigil.exchange.client import LogTrust
from vigil.matching.listfile import SYNC_FORMAT, SYNC_STATE, read_synced_folder, synced_entries
from vigil.translog.keys import LogKey
from vigil.translog.sth import TreeHeadSigner

_IDS = st.integers(min_value=1, max_value=12)
_CHANGE = st.tuples(st.sampled_from(["add", "withdraw"]), _IDS)


def _md5(i: int, version: int) -> str:
    return f"{i:016x}{version:016x}"


@given(initial=st.sets(_IDS), pages=st.lists(st.lists(_CHANGE, max_size=6), max_size=5))
def test_the_folder_reads_as_a_set_of_additions_and_withdrawals(
        initial: set[int], pages: list[list[tuple[str, int]]]) -> None:
    model = {i: _md5(i, 0) for i in initial}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        snapshot = {"format": "vigil-list-v1", "type": "snapshot", "list": "l",
                    "trust": "verified", "pdq_threshold": 31, "seq": 10,
                    "entries": [{"id": i, "signal_type": "md5", "value": v, "label": None}
                                for i, v in sorted(model.items())]}
        (folder / "snapshot-10-x.json").write_text(json.dumps(snapshot))
        names, seq = [], 10
        for n, page in enumerate(pages):
            changes = []
            for action, i in page:
                seq += 1
                value = _md5(i, seq)
                changes.append({"seq": seq, "action": action, "id": i, "signal_type": "md5",
                                "value": value, "label": f"v{seq}"})
                if action == "add":
                    model[i] = value
                else:
                    model.pop(i, None)
            name = f"changes-{n}.json"
            (folder / name).write_text(json.dumps({
                "format": "vigil-list-v1", "type": "changes", "list": "l",
                "since": seq - len(page), "until": seq, "changes": changes}))
            names.append(name)
        (folder / SYNC_STATE).write_text(json.dumps({
            "format": SYNC_FORMAT, "snapshot": "snapshot-10-x.json", "pages": names,
            "seq": seq}))
        got = {int(e.id): e.value for e in synced_entries(read_synced_folder(folder))}
    assert got == model


@given(sizes=st.lists(st.integers(min_value=0, max_value=2**40), min_size=1, max_size=4,
                      unique=True),
       retired=st.none() | st.just("2026-01-01T00:00:00+00:00"),
       head_size=st.integers(min_value=0, max_value=2**40))
def test_the_trusted_log_state_survives_its_json(sizes: list[int], retired: str | None,
                                                 head_size: int) -> None:
    signer = TreeHeadSigner.generate()
    keys = [LogKey(TreeHeadSigner.generate().public_bytes, s, s + 1, s or None, retired)
            for s in sorted(sizes)]
    trust = LogTrust(keys, signer.sign(head_size, b"\x01" * 32))
    again = LogTrust.from_json(json.loads(json.dumps(trust.to_json())))
    assert again == trust
