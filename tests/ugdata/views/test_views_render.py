"""The synthetic renderer: deterministic, and each context field changes the pixels where it should."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from ugdata.render import ViewContext, render_view, render_views
from ugdata.render.synth import GROUP_STYLES, HORIZON_FRAC, ROAD_STYLES, poi_group

BASE = ViewContext(
    heading_deg=0.0,
    street_bearing_deg=0.0,
    road_class="residential",
    road_width_m=8.0,
    lanes=2,
    building_density_left=0.6,
    building_density_right=0.6,
    building_levels=4.0,
    poi_categories=(),
    green_share=0.0,
    water_share=0.0,
    distance_to_intersection_m=math.inf,
    seed=7,
)


def px(ctx: ViewContext, size: int = 128) -> np.ndarray:
    return np.asarray(render_view(ctx, size), dtype=np.int16)


def near(arr: np.ndarray, rgb, tol: float = 30.0) -> np.ndarray:
    return np.linalg.norm(arr - np.array(rgb, dtype=np.int16), axis=-1) < tol


def with_(**kw) -> ViewContext:
    return dataclasses.replace(BASE, **kw)


def sky_mask(arr: np.ndarray) -> np.ndarray:
    r, b = arr[..., 0], arr[..., 2]
    return (b > r + 25) & (b > 150)


def test_deterministic_and_size():
    a = render_view(BASE)
    assert a.mode == "RGB" and a.size == (128, 128)
    assert a.tobytes() == render_view(BASE).tobytes()
    assert render_view(BASE, 64).size == (64, 64) and render_view(BASE, 200).size == (200, 200)
    # The seed changes texture and layout details but not the scene's meaning.
    assert render_view(with_(seed=8)).tobytes() != a.tobytes()
    with pytest.raises(ValueError):
        render_view(BASE, 8)


def test_batch_matches_single_and_parallel():
    ctxs = [with_(heading_deg=i * 5.5, green_share=(i % 10) / 10, seed=i) for i in range(64)]
    one = [render_view(c, 32).tobytes() for c in ctxs]
    assert [im.tobytes() for im in render_views(ctxs, 32, n_jobs=1)] == one
    assert [im.tobytes() for im in render_views(ctxs, 32, n_jobs=2)] == one


def test_green_share_adds_green_pixels():
    def green_pixels(share: float) -> int:
        arr = px(with_(green_share=share))
        r, g, b = arr[..., 0], arr[..., 1], arr[..., 2]
        return int(((g > r + 25) & (g > b + 25)).sum())

    counts = [green_pixels(s) for s in (0.0, 0.3, 0.7, 1.0)]
    assert counts[0] < 50
    assert counts[0] < counts[1] < counts[2] < counts[3]


def test_primary_road_is_wider_than_footway():
    size = 128
    bottom = slice(int(size * 0.85), size)

    def road_share(cls: str, width: float, lanes: int) -> float:
        arr = px(with_(road_class=cls, road_width_m=width, lanes=lanes))[bottom]
        return float(near(arr, ROAD_STYLES[cls][0], 28).mean())

    primary, footway = road_share("primary", 14.0, 4), road_share("footway", 2.0, 0)
    assert primary > 0.6
    assert footway < 0.35
    # Same class, wider road -> more road.
    assert road_share("residential", 12.0, 2) > road_share("residential", 5.0, 2) + 0.1
    # Footways and primaries look different even at equal width (surface colour and markings).
    a = px(with_(road_class="footway", road_width_m=6.0, lanes=0))
    b = px(with_(road_class="primary", road_width_m=6.0, lanes=0))
    assert np.abs(a - b)[bottom].mean() > 40


def test_yellow_centre_line_only_on_major_roads():
    def yellow(cls: str) -> int:
        arr = px(with_(road_class=cls, road_width_m=12.0, lanes=2))
        return int(near(arr[int(128 * HORIZON_FRAC) :], (232, 196, 40), 40).sum())

    assert yellow("primary") > 20
    assert yellow("residential") == 0


def test_heading_changes_sky_and_sun():
    top = slice(0, 30)

    def sky(heading: float) -> np.ndarray:
        # No buildings, so the whole top band is sky.
        return px(with_(heading_deg=heading, building_density_left=0.0, building_density_right=0.0))[top]

    south, north, east, west = sky(180.0), sky(0.0), sky(90.0), sky(270.0)
    assert south.mean() > north.mean() + 25
    sun = (250, 244, 196)
    assert near(south, sun, 25).sum() > 20 and near(north, sun, 25).sum() == 0
    # Looking east the sun (south) is to the right, so the right half of the sky is brighter; west: mirrored.
    assert east[:, 64:].mean() > east[:, :64].mean() + 10
    assert west[:, :64].mean() > west[:, 64:].mean() + 10


def test_looking_across_the_street_faces_the_buildings_on_that_side():
    ctx = with_(building_density_left=0.0, building_density_right=1.0, building_levels=6.0)
    upper = slice(10, int(128 * HORIZON_FRAC) - 4)
    sky_right = sky_mask(px(dataclasses.replace(ctx, heading_deg=90.0))[upper]).mean()
    sky_left = sky_mask(px(dataclasses.replace(ctx, heading_deg=270.0))[upper]).mean()
    sky_along = sky_mask(px(ctx)[upper])
    assert sky_right < 0.1  # a facade fills the view
    assert sky_left > 0.8  # nothing built on the left
    # Along the street: built right half, open left half.
    assert sky_along[:, :50].mean() > 0.8 and sky_along[:, 78:].mean() < 0.3
    # Looking back along the street swaps the sides.
    sky_back = sky_mask(px(dataclasses.replace(ctx, heading_deg=180.0))[upper])
    assert sky_back[:, 78:].mean() > 0.7 and sky_back[:, :50].mean() < 0.3
    # Across-view road: a band at the bottom; along the street it runs up to the vanishing point.
    open_ctx = dataclasses.replace(ctx, building_density_right=0.0)
    across = px(dataclasses.replace(open_ctx, heading_deg=90.0))
    along = px(open_ctx)
    road = ROAD_STYLES["residential"][0]
    mid_rows = slice(int(128 * HORIZON_FRAC) + 4, int(128 * HORIZON_FRAC) + 20)
    assert near(along[mid_rows, 54:74], road).mean() > 0.5
    assert near(across[mid_rows, 54:74], road).mean() < 0.1
    assert near(across[-8:, :], road).mean() > 0.8


def test_more_levels_means_taller_buildings():
    upper = slice(0, int(128 * HORIZON_FRAC) - 4)
    ctx = with_(building_density_left=1.0, building_density_right=1.0)
    low = sky_mask(px(dataclasses.replace(ctx, building_levels=2.0))[upper]).mean()
    high = sky_mask(px(dataclasses.replace(ctx, building_levels=10.0))[upper]).mean()
    assert low > high + 0.15


def test_poi_signs_use_the_group_palette():
    ctx = with_(heading_deg=60.0, building_density_right=1.0)

    def group_pixels(cats: tuple[str, ...], group: str) -> int:
        return int(near(px(dataclasses.replace(ctx, poi_categories=cats)), GROUP_STYLES[group][0], 30).sum())

    assert group_pixels(("restaurant",), "food") > 30
    assert group_pixels((), "food") < 5
    assert group_pixels(("pharmacy",), "health") > 30
    assert group_pixels(("pharmacy",), "food") < 5
    # More POIs -> more signs.
    assert group_pixels(("cafe", "bar", "pub"), "food") > group_pixels(("cafe",), "food")


def test_poi_groups():
    assert poi_group("restaurant") == "food"
    assert poi_group("shop=bakery") == "food"
    assert poi_group("shop=something_new") == "shopping"
    assert poi_group("amenity=bank") == "services"
    assert poi_group("bus_station") == "transport"
    assert poi_group("unheard_of") == "other"


def test_water_and_intersection_cues():
    water = (40, 100, 170)
    open_ctx = with_(building_density_left=0.0, building_density_right=0.0)
    counts = [
        int(near(px(dataclasses.replace(open_ctx, water_share=w)), water, 25).sum()) for w in (0.0, 0.3, 0.8)
    ]
    assert counts[0] == 0 and counts[0] + 200 < counts[1] < counts[2]

    ground = slice(int(128 * HORIZON_FRAC) + 1, 128)
    ctx = with_(road_class="primary", road_width_m=14.0, lanes=0, building_density_left=0.0,
                building_density_right=0.0)  # fmt: skip
    far = px(ctx)
    close = px(dataclasses.replace(ctx, distance_to_intersection_m=15.0))
    white = (236, 236, 230)
    assert near(close[ground], white, 30).sum() > near(far[ground], white, 30).sum() + 40  # zebra crossing
    assert near(close, (25, 25, 25), 20).sum() > near(far, (25, 25, 25), 20).sum()  # traffic light head


def test_context_validation():
    assert with_(heading_deg=-90.0).heading_deg == 270.0
    assert with_(heading_deg=450.0, street_bearing_deg=30.0).relative_heading_deg == 60.0
    with pytest.raises(ValueError, match="green_share"):
        with_(green_share=1.5)
    with pytest.raises(ValueError, match="road_width_m"):
        with_(road_width_m=float("nan"))
    # Unknown road classes render as unclassified roads instead of failing.
    assert render_view(with_(road_class="raceway")).size == (128, 128)


def test_extreme_and_random_contexts_render():
    rnd = np.random.default_rng(3)
    classes = ["motorway", "primary", "residential", "footway", "steps", "track", "pedestrian", "cycleway"]
    for i in range(150):
        ctx = ViewContext(
            heading_deg=float(rnd.uniform(-720, 720)),
            street_bearing_deg=float(rnd.uniform(0, 360)),
            road_class=classes[i % len(classes)],
            road_width_m=float(rnd.choice([0.0, 0.5, 3.0, 40.0])),
            lanes=int(rnd.integers(0, 9)),
            building_density_left=float(rnd.choice([0.0, 0.01, 0.5, 1.0])),
            building_density_right=float(rnd.random()),
            building_levels=float(rnd.choice([0.0, 1.0, 40.0])),
            poi_categories=("cafe", "bank", "x", "shop=y", "school", "fuel", "cinema", "clinic")[: i % 9],
            green_share=float(rnd.random()),
            water_share=float(rnd.random()),
            distance_to_intersection_m=float(rnd.choice([0.0, 10.0, math.inf])),
            seed=i,
        )
        im = render_view(ctx, 32 if i % 2 else 48)
        assert im.size in ((32, 32), (48, 48)) and im.mode == "RGB"
