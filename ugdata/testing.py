"""Small real UGData builds for tests and demos (shared by every test suite as a session fixture).

`small_build` builds a clipped ~650 x 650 m area of the embedded central-Helsinki extract (real OSM data)
with synthetic views; it takes seconds, needs no network and no /work/shared data.
"""

from __future__ import annotations

from pathlib import Path

# Kamppi / Punavuori, central Helsinki: dense streets, ~900 POIs, buildings, a park and water nearby.
SMALL_CLIP = (24.936, 60.164, 24.947, 60.170)


def small_build(out_dir: Path, n_views: int = 120, seed: int = 0, **overrides) -> Path:
    """Build (or reuse, when the same arguments already built it) a small UGData directory.

    out_dir: the directory to create (its parent must be writable). n_views: number of images
    (views_per_point=4 headings per sampled point, so n_views // 4 points). Returns out_dir.
    Extra keyword arguments override BuildConfig fields (e.g. render=False, synth_size=64).
    """
    from ugdata.build import build_ugdata

    out_dir = Path(out_dir)
    per_point = int(overrides.pop("views_per_point", 4))
    n_points = max(1, -(-int(n_views) // per_point))
    return build_ugdata(out_dir, clip=SMALL_CLIP, synth=n_points, views_per_point=per_point, seed=seed,
                        synth_size=int(overrides.pop("synth_size", 96)), overwrite=True, **overrides)


def reseal(root: Path) -> Path:
    """Re-fingerprint a UGData directory whose task data a test rewrote on purpose (e.g. planted targets).

    Evaluation verifies the content it scores against the manifest and refuses a folder edited after its
    build; a test that builds such data by hand declares it as built content with this. Returns root.
    """
    import json

    from ugdata.fingerprint import manifest_fields

    root = Path(root)
    manifest = json.loads((root / "manifest.json").read_text())
    (root / "manifest.json").write_text(json.dumps({**manifest, **manifest_fields(root)}, indent=2))
    return root
