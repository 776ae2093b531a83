"""``python -m vigil.matching.warm`` (run by scripts/install) compiles every kernel for the
types the real paths use: after it, hashing a photo, building, saving, mapping and searching an
index compile nothing more (each would otherwise cost seconds at its first use)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROBE = r"""
import json, sys, tempfile
from pathlib import Path
import numba
from vigil.matching import _kernels, _pdq_kernel, _preview_kernel, warm

def compiled():
    out = {}
    for mod in (_kernels, _pdq_kernel, _preview_kernel):
        for name, obj in vars(mod).items():
            if isinstance(obj, numba.core.registry.CPUDispatcher) and \
                    obj.targetoptions.get("inline") != "always":
                out[f"{mod.__name__}.{name}"] = sorted(map(str, obj.signatures))
    return out

warm.compile_kernels()
before = compiled()

# The real paths, as vigil hash / match / serve take them.
from vigil.matching.hashing import hash_image_file
from vigil.matching.index import PdqIndex
from vigil.matching.indexfile import load_index, map_arrays, save_arrays, save_index
tmp = Path(tempfile.mkdtemp())
pdqs = [hash_image_file(Path(p)).pdq for p in sys.argv[1:]]
index = PdqIndex.build(pdqs, range(1, len(pdqs) + 1))
index.add(["f" * 64], [99])
index.search_batch(pdqs, 31); index.search(pdqs[0], 31); index.search(pdqs[0], 10)
save_index(index, tmp / "a.idx"); load_index(tmp / "a.idx").search_batch(pdqs, [31] * len(pdqs))
save_arrays(tmp / "b.vmx", index.arrays(), 5)
mapped = PdqIndex.from_arrays(map_arrays(tmp / "b.vmx")[1])
mapped.search_batch(pdqs, 31); mapped.search(pdqs[1], 31)
print(json.dumps({"before": before, "after": compiled()}))
"""


def test_after_the_warm_up_the_real_paths_compile_nothing(tmp_path: Path) -> None:
    from tests.fixtures.images import write_scene

    photos = [str(write_scene(tmp_path / f"p{i}.jpg", seed=i)) for i in range(3)]
    done = subprocess.run([sys.executable, "-c", PROBE, *photos], capture_output=True,
                          text=True, timeout=600, check=True,
                          cwd=Path(__file__).resolve().parents[2])
    seen = json.loads(done.stdout.splitlines()[-1])
    # (Kernels called only from other kernels are compiled into them: no signature of their own
    # when the callers come from numba's cache.)
    entry = {name for name, sigs in seen["after"].items() if sigs}
    assert {"vigil.matching._kernels.search", "vigil.matching._kernels.search_one",
            "vigil.matching._kernels.build_tables", "vigil.matching._pdq_kernel._pdq",
            "vigil.matching._preview_kernel.block_luma"} <= entry
    assert seen["after"] == seen["before"]
