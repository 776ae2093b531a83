"""``vigil bench scan`` at a tiny size: both sides run on the same files and the figures are
there (speed itself is measured by running the benchmark, never by a test)."""

from __future__ import annotations

import pytest

from vigil.bench.scan import ScanBenchSpec, run


@pytest.mark.slow
def test_bench_scan_runs_both_sides_on_the_same_files() -> None:
    result = run(ScanBenchSpec(images=12, hashes=500, jobs=1))
    assert result["images"] == 12 and result["hashes"] == 500 + 1
    assert result["known"] >= 1  # the planted hash of the first file
    assert result["vigil_files_per_s"] > 0 and result["peer_files_per_s"] > 0
    # The rates are printed rounded to 0.1 files/s and the ratio from the unrounded rates, so
    # the ratio lies within what the rounded rates allow (at a dozen files that is several %).
    v, p = result["vigil_files_per_s"], result["peer_files_per_s"]
    lowest, highest = (v - 0.05) / (p + 0.05), (v + 0.05) / max(p - 0.05, 1e-9)
    assert lowest - 0.0005 <= result["ratio"] <= highest + 0.0005
