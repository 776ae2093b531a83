"""``vigil bench match``: both sides on the same hex input, at several thresholds, interleaved
runs with medians, a clustered data set, and a one-line answer when the peer is missing."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from vigil.bench.match import (
    PEER,
    VIGIL,
    BenchSpec,
    flip_random_bits,
    make_codes,
    peer_missing,
    run,
    schedule,
)
from vigil.cli import app
from vigil.matching.codes import hamming, random_codes


def test_flipped_rows_are_exactly_that_many_bits_away() -> None:
    codes = random_codes(500, 3)
    counts = np.random.default_rng(4).integers(0, 65, 500)
    flipped = flip_random_bits(codes, counts, np.random.default_rng(5))
    assert (hamming(codes, flipped) == counts).all()
    assert (hamming(codes[:3], flip_random_bits(codes[:3], np.array([256, 0, 255]),
                                            np.random.default_rng(6))) == [256, 0, 255]).all()


def test_clustered_data_is_families_of_near_duplicates() -> None:
    spec = BenchSpec(size=800, queries=2, dataset="clustered", family=8)
    codes = make_codes(spec)
    assert codes.shape == (800, 4)
    # Every hash has its 7 relatives within 2 x 16 bits; random hashes have none.
    near = np.array([(hamming(codes, c) <= 32).sum() - 1 for c in codes])
    assert (near >= 7).all()
    uniform = make_codes(BenchSpec(size=800, queries=2))
    assert max((hamming(uniform, c) <= 32).sum() - 1 for c in uniform[:100]) == 0
    with pytest.raises(ValueError, match="unknown data set 'lumpy'"):
        make_codes(BenchSpec(size=10, queries=2, dataset="lumpy"))


def test_runs_are_interleaved_with_the_first_side_alternating() -> None:
    assert schedule(["a", "b"], 3) == ["a", "b", "b", "a", "a", "b"]
    assert schedule(["a"], 2) == ["a", "a"]


def test_a_small_run_gives_medians_for_both_sides_at_every_threshold() -> None:
    compare = peer_missing() is None  # the peer only where faiss is installed
    spec = BenchSpec(size=2000, queries=20, thresholds=(10, 31, 50), repeats=2, updates=50)
    result = run(spec, compare)
    assert list(result["datasets"]) == ["uniform", "clustered"]
    for name, d in result["datasets"].items():
        sides = [VIGIL, PEER] if compare else [VIGIL]
        assert [s for s in (VIGIL, PEER) if s in d] == sides
        for side in sides:
            assert len(d[side]["runs"]) == 2
            median = d[side]["median"]
            for t in (10, 31, 50):
                assert median[f"single_qps_{t}"] > 0 and median[f"batch_qps_{t}"] > 0
                assert median[f"recall_{t}"] == 1.0 and median[f"false_matches_{t}"] == 0, name
            runs = sorted(r["build_s"] for r in d[side]["runs"])
            assert median["build_s"] == pytest.approx(sum(runs) / 2)  # the median of two
        assert d["true_matches"][50] >= 10  # at least the planted half
        if compare:
            assert set(d["ratios"]) >= {"build_speedup", "memory", "single_qps_10",
                                        "batch_qps_50"}
    clustered, uniform = result["datasets"]["clustered"], result["datasets"]["uniform"]
    assert clustered["true_matches"][31] > uniform["true_matches"][31]  # families match together


def test_missing_peer_is_one_line_before_any_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)  # importing it now fails, as without it
    start = time.monotonic()
    result = CliRunner().invoke(app, ["bench", "match", "--size", "1000000",
                                      "--compare-threatexchange"])
    assert result.exit_code == 2
    assert time.monotonic() - start < 10  # nothing was built
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "'faiss' cannot be imported" in lines[0]
    assert "pip install -e '.[compare]'" in lines[0] and "./scripts/install --test" in lines[0]


def test_unknown_data_set_is_refused() -> None:
    result = CliRunner().invoke(app, ["bench", "match", "--dataset", "lumpy"])
    assert result.exit_code == 2 and "--dataset" in result.output
