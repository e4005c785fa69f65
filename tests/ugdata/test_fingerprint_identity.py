"""The fingerprint is the same data on every machine (docs/ugdata.md "Fingerprint"): floats are hashed at a
stated precision and images by their decoded pixels, so last-ulp float noise (numpy's AVX-512 and AVX2 code
paths differ there) and a lossless re-encoding of an image do not change it, while real content does; and a
build under other numpy CPU dispatch and OpenBLAS kernels gives the same fingerprint."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from ugdata import format as F
from ugdata.fingerprint import fingerprint

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def copy(town_dir, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(town_dir, out)
    return out


def _edit(path: Path, column: str, fn) -> None:
    t = pq.read_table(path)
    i = t.schema.get_field_index(column)
    t = t.set_column(i, column, pa.array(fn(t.column(i).to_pylist()), t.schema.field(i).type))
    pq.write_table(t, path)


def _ulps(x: float, n: int) -> float:
    for _ in range(n):
        x = float(np.nextafter(x, np.inf))
    return x


def test_last_ulp_float_noise_is_not_content(copy):
    before = fingerprint(copy)
    _edit(copy / F.NODES, "lat", lambda v: [_ulps(x, 3) for x in v])
    _edit(copy / F.EDGES, "distance_m", lambda v: [_ulps(x, 1) for x in v])
    _edit(copy / F.PATHS, "bearings_deg", lambda v: [[_ulps(b, 3) for b in bs] for bs in v])
    assert fingerprint(copy) == before


@pytest.mark.parametrize("column,delta", [("lat", 1e-5), ("lon", -1e-6)])
def test_a_real_coordinate_change_is_content(copy, column, delta):
    before = fingerprint(copy)
    _edit(copy / F.NODES, column, lambda v: [v[0] + delta, *v[1:]])
    assert fingerprint(copy) != before


def _reencode(path: Path, fn) -> None:
    t = pq.read_table(path)
    i = t.schema.get_field_index("image")
    imgs = t.column(i).to_pylist()
    imgs[0] = {**imgs[0], "bytes": fn(imgs[0]["bytes"])}
    pq.write_table(t.set_column(i, "image", pa.array(imgs, t.schema.field(i).type)), path)


def _save(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, **kw)
    return buf.getvalue()


def _lossless(data: bytes) -> bytes:  # the same pixels as PNG: another container, other bytes
    return _save(Image.open(io.BytesIO(data)).convert("RGB"), format="PNG", optimize=True)


def _one_pixel(data: bytes) -> bytes:
    im = Image.open(io.BytesIO(data)).convert("RGB")
    r, g, b = im.getpixel((5, 5))
    im.putpixel((5, 5), ((r + 40) % 256, g, b))
    return _save(im, format="PNG")


def test_image_reencoding_is_not_content_but_pixels_are(copy):
    p = copy / F.PARQUET_DIR / "train.parquet"
    before = fingerprint(copy)
    old = pq.read_table(p).column("image").to_pylist()[0]["bytes"]
    _reencode(p, _lossless)
    assert pq.read_table(p).column("image").to_pylist()[0]["bytes"] != old
    assert fingerprint(copy) == before
    _reencode(p, _one_pixel)
    assert fingerprint(copy) != before


def _dispatch_variants() -> list[dict[str, str]]:
    """numpy's dispatched CPU features this machine has (each valid to disable here), dropped from the top
    (AVX-512, then AVX2/FMA3), and three OpenBLAS kernels."""
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    have = [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]
    out = [{"NPY_DISABLE_CPU_FEATURES": " ".join(have[i:])} for i in range(len(have) - 1, -1, -1)
           if i == 0 or have[i] in ("X86_V4", "AVX512F", "AVX512_SKX")]
    return out + [{"OPENBLAS_CORETYPE": k} for k in ("Haswell", "Sandybridge", "Prescott")]


_BUILD = ("import sys; from ugdata.build import build_ugdata; "
          "build_ugdata(sys.argv[1], osm=[sys.argv[2]], synth=40, synth_size=48, block_m=100, buffer_m=20, seed=3)")


@pytest.mark.timeout(900)
def test_same_fingerprint_under_other_cpu_dispatch_and_blas_kernels(town_dir, town_osm, tmp_path):
    want = F.UGData(town_dir).fingerprint
    for k, env in enumerate(_dispatch_variants()):
        out = tmp_path / f"b{k}"
        run_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
        res = subprocess.run([sys.executable, "-c", _BUILD, str(out), str(town_osm)], env=run_env,
                             capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, (env, res.stderr[-2000:])
        assert F.UGData(out).fingerprint == want, env
