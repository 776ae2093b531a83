"""Option (c): the server learns nothing below t matches, exactly the matching vouchers at t,
cannot open a non-matching voucher, and cannot tell synthetic vouchers from matches."""

from __future__ import annotations

import random

import pytest

from vigil.e2ee import encoding, threshold
from vigil.matching.policy import ListRef, Trust, Verdict

LISTED = [encoding.exact_element("pdq", f"{i + 1:064x}").encode() for i in range(40)]
OTHER = [encoding.exact_element("pdq", f"{i + 1:060x}ffff").encode() for i in range(40)]


@pytest.fixture(scope="module")
def server() -> threshold.ThresholdServer:
    return threshold.ThresholdServer(LISTED)


def _upload(server: threshold.ThresholdServer, device: threshold.Device,
            account: threshold.Account, items: list[bytes]) -> None:
    for item in items:
        account.add(server.open(device.voucher(item, item)))


def test_nothing_below_t_then_exactly_the_matches_at_t(server: threshold.ThresholdServer) -> None:
    t = 4
    device = threshold.Device(threshold.Table.from_bytes(server.table.to_bytes()), t)
    account = threshold.Account(t)
    _upload(server, device, account, OTHER[:10] + LISTED[:t - 1])
    assert account.opened_count == t - 1  # non-matching vouchers do not open
    assert account.reveal() is None and account.outcomes(ListRef("k", Trust.VERIFIED)) == []
    _upload(server, device, account, [LISTED[0]])  # the same picture again counts once
    assert account.reveal() is None
    _upload(server, device, account, [LISTED[t - 1]])
    revealed = account.reveal()
    assert revealed is not None and sorted(revealed) == sorted(LISTED[:t])
    outcomes = account.outcomes(ListRef("known", Trust.VERIFIED))
    assert len(outcomes) == t and all(o.verdict is Verdict.VERIFIED for o in outcomes)


def test_a_non_matching_voucher_never_opens(server: threshold.ThresholdServer) -> None:
    device = threshold.Device(server.table, 2)
    assert all(server.open(device.voucher(item, b"x")) is None for item in OTHER[:15])
    other_server = threshold.ThresholdServer(LISTED[:5])  # another key, another table
    device = threshold.Device(other_server.table, 2)
    assert server.open(device.voucher(LISTED[0], b"x")) is None


def test_synthetic_vouchers_open_but_never_reveal_below_t(server: threshold.ThresholdServer) -> None:
    t = 3
    device = threshold.Device(server.table, t, synthetic_rate=0.999, rng=random.Random(5))
    account = threshold.Account(t)
    _upload(server, device, account, OTHER[:8])
    assert account.opened_count == 8  # the server counts 8 "matches": there are none
    assert account.reveal() is None
    # Real matches: t + (synthetics) of them decode; the synthetic ones are told apart then.
    honest = threshold.Device(server.table, t)
    mixed = threshold.Account(t)
    _upload(server, honest, mixed, LISTED[:t + 2])
    for _ in range(2):
        mixed.add(server.open(honest.synthetic()))
    assert mixed.opened_count == t + 4
    assert sorted(mixed.reveal() or []) == sorted(LISTED[:t + 2])


def test_malformed_vouchers_and_tables_are_refused(server: threshold.ThresholdServer) -> None:
    with pytest.raises(threshold.ThresholdError, match="voucher is"):
        server.open(b"\x00" * 10)
    bad_point = b"\xff" * 32 + b"\x00" * (threshold.VOUCHER_BYTES - 32)
    with pytest.raises(threshold.ThresholdError, match="voucher"):
        server.open(bad_point)
    data = server.table.to_bytes()
    with pytest.raises(threshold.ThresholdError, match="larger than 10 slots"):
        threshold.Table.from_bytes(data, max_slots=10)
    with pytest.raises(threshold.ThresholdError, match="not a vigil threshold table"):
        threshold.Table.from_bytes(b"nonsense" + data)
    with pytest.raises(threshold.ThresholdError, match="payload"):
        threshold.Device(server.table, 2).voucher(LISTED[0], b"x" * 200)
    with pytest.raises(threshold.ThresholdError, match="probability"):
        threshold.Device(server.table, 2, synthetic_rate=1.0)


def test_the_count_leak_is_measured() -> None:
    assert threshold.count_leak(1000, 0.0, 0, 1) == 1.0  # without synthetics: counted exactly
    noisy = threshold.count_leak(1000, 0.01, 0, 1)
    assert 0.0 < noisy < 0.5
    assert threshold.count_leak(1000, 0.05, 0, 1) < noisy  # more synthetics, less told
    assert threshold.count_leak(1000, 0.01, 3, 3) == 0.0


def test_the_table_is_deterministic_for_an_auditor() -> None:
    from vigil.e2ee.curve import Scalar

    key = Scalar(123456789)
    a = threshold.build_table(LISTED[:10], key, b"s" * 16)
    b = threshold.build_table(list(reversed(LISTED[:10])), Scalar(123456789), b"s" * 16)
    assert a.to_bytes() == threshold.build_table(LISTED[:10], Scalar(123456789),
                                                 b"s" * 16).to_bytes()
    assert b.size == a.size


def test_a_picture_sent_again_does_not_tell_the_server_it_matched(
        server: threshold.ThresholdServer) -> None:
    """Review of issue 19: a matching picture sent twice opened twice with the same share;
    synthetic vouchers never repeat one, so the server counted re-sent matches exactly. The
    device now sends a voucher that never opens for a picture it already vouchered."""
    device = threshold.Device(server.table, 30, synthetic_rate=0.05, rng=random.Random(7))
    uploads = OTHER[:30] + LISTED[:4] + LISTED[:4] + OTHER[:5]
    random.Random(1).shuffle(uploads)
    vouchers = [device.voucher(u, u) for u in uploads]
    assert all(len(v) == threshold.VOUCHER_BYTES for v in vouchers)
    assert len(set(vouchers)) == len(vouchers)  # no repeated bytes either
    opened = [o for o in map(server.open, vouchers) if o is not None]
    xs = [o.share.x for o in opened]
    assert len(xs) == len(set(xs))  # no share seen twice: nothing singles out a real match
    account = threshold.Account(30)
    for o in opened:
        account.add(o)
    assert account.opened_count == len(opened) >= 4
    assert server.open(threshold.Device.blank()) is None


def test_decoding_is_capped_so_a_flood_of_synthetic_vouchers_is_cheap(
        server: threshold.ThresholdServer) -> None:
    """Review of issue 19: a client whose every voucher opens (all synthetic) made each reveal
    cost ~k^4 (43 s at 120). One linear system, and at most ``max_considered`` vouchers."""
    import time

    t = 3
    device = threshold.Device(server.table, t, synthetic_rate=0.0)
    account = threshold.Account(t, max_considered=9)
    _upload(server, device, account, LISTED[:6])
    for _ in range(150):
        account.add(server.open(device.synthetic()))
    _upload(server, device, account, [LISTED[6]])
    start = time.perf_counter()
    revealed = account.reveal()
    assert time.perf_counter() - start < 2.0
    assert revealed is not None and sorted(revealed) == sorted(LISTED[:7])  # also past the cap
    flood = threshold.Account(t, max_considered=9)
    for _ in range(150):
        flood.add(server.open(device.synthetic()))
    assert flood.reveal() is None
    with pytest.raises(threshold.ThresholdError, match="at least threshold"):
        threshold.Account(30, max_considered=10)
