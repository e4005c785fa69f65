"""The compiled kernels' numba cache: every load and save holds a lock, and a damaged cache is recompiled
with a one-line warning instead of failing inside the kernel call."""

from __future__ import annotations

import os
import subprocess
import sys

CALL = ("import numpy as np; from ugbench.search.kernels import quantize_rows; "
        "c, s, e = quantize_rows(np.arange(12, dtype=np.float32).reshape(3, 4)); print(int(c.sum()), float(s.sum()))")


def test_damaged_numba_cache_is_recompiled_with_a_warning(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}

    def run():
        p = subprocess.run([sys.executable, "-c", CALL], env=env, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr[-2000:]
        return p.stdout, [x for x in p.stderr.splitlines() if x.startswith("warning:")]

    first, warned = run()  # compiles and fills the cache
    assert not warned
    (index,) = [p for p in (tmp_path / "numba").rglob("*quantize_rows*.nbi")]
    assert list(index.parent.glob("*quantize_rows*.nbc"))
    for data in index.parent.glob("*quantize_rows*.nbc"):
        data.write_bytes(b"not a pickle")
    again, warned = run()
    assert again == first
    assert len(warned) == 1 and "quantize_rows" in warned[0] and "recompiling" in warned[0], warned
    assert run() == (first, [])  # rewritten whole: reused without a warning
