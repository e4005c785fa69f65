"""Render a synthetic street view whose content is a deterministic function of its real OSM context.

Why a renderer at all: no street-level photos can be downloaded offline, yet UGE must learn *spatial*
signal. So every pixel group below encodes one field of `ViewContext` (computed by the builder from real
OSM data at the view point), and a vision model that learns to read the picture learns the place.

The scene is a true pinhole projection (90 deg horizontal field of view, camera 2.5 m above the street
centreline, horizon at 55 % of the height) of a ground plane with the street, facades and props, drawn
back to front with PIL.ImageDraw; numpy only builds the sky gradient and the texture noise.

Visual encoding (what to look at -> which context field):

=====================  ==================================================================================
Element                Encodes
=====================  ==================================================================================
camera yaw vs street   relative heading (heading - street bearing): 0/180 deg = looking along the street
                       (one-point perspective, road to the vanishing point), 90/270 = looking across it
                       (road as a band at the bottom, a facade filling the view); 180 swaps the sides
sky gradient, sun      absolute heading: the sun sits at azimuth 180 (south), 30 deg up; each sky column
                       is brighter the closer its azimuth is to the sun, and the sun disc is drawn when it
                       is inside the view. Facade shading also follows the sun (south-facing = lit)
road surface           road_class colour (ROAD_STYLES): asphalt greys darker for bigger roads, beige paving
                       for pedestrian/footway, red for cycleway, brown for path/track, grey for steps
road width             road_width_m (true metric width in the projection)
markings               lanes - 1 dashed white dividers; centre line by class (double yellow for motorway..
                       primary, solid white secondary, dashed white tertiary), white edge lines on major
                       roads, transverse stripes for steps, sidewalks (3 m, light grey) only on roads
                       that carry cars
buildings              building_density_left/right = share of frontage built on that side (left/right of
                       the street direction); height = building_levels * 3.2 m (+-20 % per building);
                       one dark window band per storey; facades stand 1 m behind the sidewalk, or 4 m
                       from the edge of ways without sidewalks
storefront signs       poi_categories, nearest first, at most 6, on the visible facade slots nearest the
                       camera: panel colour + icon shape per category group (POI_GROUPS / GROUP_STYLES)
trees, grass           green_share: trees per side = round(10 * green_share), ground between road and
                       buildings blends paving -> grass, a tree line on the horizon
water                  water_share: a blue band with ripples below the horizon, height proportional
intersection           distance_to_intersection_m < 50: a crossing street at that distance ahead, a gap in
                       the facades, zebra stripes (roads with cars) and a traffic light
texture noise          seed only (+-8 grey levels): never carries signal
=====================  ==================================================================================

Category groups (shop/amenity values; "shop=x"/"amenity=x" prefixes accepted; unknown shop values ->
shopping, anything else unknown -> other):

==========  ===============  ==================
group       panel colour     icon
==========  ===============  ==================
food        red              circle
shopping    yellow           square
services    blue             downward triangle
health      green            plus / cross
education   purple           upward triangle
transport   cyan             diamond
leisure     magenta          two horizontal bars
other       grey             none
==========  ===============  ==================
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageChops, ImageDraw

from .context import ViewContext

# --- fixed palettes (documented above; tests and users may read them) ----------------------------------

# class -> (surface RGB, centre line style, edge lines, has sidewalks)
ROAD_STYLES: dict[str, tuple[tuple[int, int, int], str, bool, bool]] = {
    "motorway": ((52, 52, 58), "double_yellow", True, False),
    "trunk": ((58, 58, 62), "double_yellow", True, True),
    "primary": ((66, 66, 70), "double_yellow", True, True),
    "secondary": ((78, 78, 82), "solid_white", True, True),
    "tertiary": ((90, 90, 92), "dashed_white", False, True),
    "unclassified": ((100, 100, 100), "none", False, True),
    "residential": ((108, 106, 104), "none", False, True),
    "living_street": ((150, 112, 100), "none", False, True),
    "service": ((120, 117, 112), "none", False, False),
    "pedestrian": ((196, 182, 152), "none", False, False),
    "footway": ((206, 190, 160), "none", False, False),
    "cycleway": ((176, 72, 62), "dashed_white", False, False),
    "path": ((150, 120, 84), "none", False, False),
    "track": ((138, 108, 72), "none", False, False),
    "steps": ((165, 165, 165), "steps", False, False),
}
# OSM link roads render as their parent class.
_ROAD_ALIASES = {
    "motorway_link": "motorway",
    "trunk_link": "trunk",
    "primary_link": "primary",
    "secondary_link": "secondary",
    "tertiary_link": "tertiary",
    "road": "unclassified",
    "bridleway": "path",
    "corridor": "footway",
    "sidewalk": "footway",
    "crossing": "footway",
    "busway": "primary",
}

GROUP_STYLES: dict[str, tuple[tuple[int, int, int], str]] = {
    "food": ((220, 40, 40), "circle"),
    "shopping": ((240, 200, 30), "square"),
    "services": ((40, 90, 220), "triangle_down"),
    "health": ((30, 170, 80), "cross"),
    "education": ((140, 60, 200), "triangle_up"),
    "transport": ((0, 180, 200), "diamond"),
    "leisure": ((230, 60, 180), "bars"),
    "other": ((150, 150, 150), "none"),
}

POI_GROUPS: dict[str, str] = {}
for _group, _values in {
    "food": "restaurant cafe fast_food bar pub ice_cream food_court biergarten bakery butcher "
    "confectionery deli greengrocer pastry seafood beverages wine alcohol coffee tea cheese chocolate "
    "supermarket convenience",
    "shopping": "clothes shoes books electronics furniture jewelry mobile_phone gift florist optician "
    "kiosk department_store variety_store mall hardware doityourself sports toys bag boutique computer "
    "cosmetics beauty fabric second_hand charity art interior_decoration houseware kitchen outdoor "
    "stationery tobacco music photo video_games watches perfumery marketplace",
    "services": "bank atm bureau_de_change post_office post_box townhall police fire_station courthouse "
    "hairdresser laundry dry_cleaning copyshop travel_agency estate_agent insurance car_repair "
    "money_lender internet_cafe public_building embassy recycling toilets telephone",
    "health": "pharmacy chemist hospital clinic doctors dentist veterinary medical_supply hearing_aids "
    "nursing_home",
    "education": "school university college kindergarten library language_school music_school "
    "driving_school childcare research_institute",
    "transport": "bus_station fuel parking parking_entrance bicycle_parking bicycle_rental car_rental "
    "car_sharing taxi ferry_terminal charging_station motorcycle_parking bicycle car",
    "leisure": "cinema theatre arts_centre nightclub museum community_centre events_venue casino "
    "gallery gambling social_centre studio fountain place_of_worship",
}.items():
    for _v in _values.split():
        POI_GROUPS[_v] = _group


def poi_group(category: str) -> str:
    """Map an OSM amenity/shop value (optionally 'shop=x' / 'amenity=x') to its sign group."""
    key, _, value = category.strip().lower().partition("=")
    if not value:
        key, value = "", key
    group = POI_GROUPS.get(value)
    if group is not None:
        return group
    return "shopping" if key == "shop" else "other"


def road_style(road_class: str) -> tuple[tuple[int, int, int], str, bool, bool]:
    cls = _ROAD_ALIASES.get(road_class, road_class)
    return ROAD_STYLES.get(cls, ROAD_STYLES["unclassified"])


FACADE_COLOURS = (
    (214, 196, 164),
    (176, 98, 76),
    (190, 190, 186),
    (232, 228, 214),
    (200, 170, 130),
    (150, 140, 150),
    (222, 206, 170),
    (160, 110, 90),
)

CAMERA_HEIGHT_M = 2.5
HORIZON_FRAC = 0.55
SUN_AZIMUTH_DEG = 180.0
SUN_ELEVATION_DEG = 30.0
STOREY_M = 3.2
SIDEWALK_M = 3.0
SETBACK_M = 1.0  # facade behind the sidewalk of a road with cars
PATH_SETBACK_M = 4.0  # facade distance from the edge of a road without sidewalks (paths, motorways)
MIN_SIGN_DEPTH_M = 6.0
FAR_M = 160.0
NEAR_M = 0.3
INTERSECTION_CUE_M = 50.0
MAX_SIGNS = 6
NOISE_AMPLITUDE = 8

_SKY_DARK = np.array([70.0, 110.0, 190.0])
_SKY_LIGHT = np.array([196.0, 214.0, 236.0])
_HAZE = np.array([222.0, 226.0, 232.0])
_PAVED = np.array([150.0, 146.0, 140.0])
_GRASS = np.array([84.0, 146.0, 62.0])


class _Camera:
    """Pinhole camera in the street frame: x along the street, y to its left, z up (metres)."""

    __slots__ = ("fx", "fy", "rx", "ry", "f", "cx", "hz")

    def __init__(self, phi_deg: float, size: int) -> None:
        phi = math.radians(phi_deg)
        # forward = (cos phi, -sin phi): positive phi turns the camera to the right (clockwise).
        self.fx, self.fy = math.cos(phi), -math.sin(phi)
        self.rx, self.ry = -math.sin(phi), -math.cos(phi)
        self.f = size / 2.0  # 90 deg horizontal field of view
        self.cx = size / 2.0
        self.hz = size * HORIZON_FRAC

    def depth(self, x: float, y: float) -> float:
        return x * self.fx + y * self.fy

    def project(self, pts: Sequence[tuple[float, float, float]]) -> list[tuple[float, float]] | None:
        """Project a planar polygon, clipping it against the near plane (Sutherland-Hodgman, one plane)."""
        fx, fy, rx, ry, f, cx, hz = self.fx, self.fy, self.rx, self.ry, self.f, self.cx, self.hz
        cam = [(x * fx + y * fy, x * rx + y * ry, z - CAMERA_HEIGHT_M) for x, y, z in pts]
        if all(c[0] >= NEAR_M for c in cam):
            clipped = cam
        else:
            clipped = []
            n = len(cam)
            for i in range(n):
                a, b = cam[i], cam[(i + 1) % n]
                a_in, b_in = a[0] >= NEAR_M, b[0] >= NEAR_M
                if a_in:
                    clipped.append(a)
                if a_in != b_in:
                    t = (NEAR_M - a[0]) / (b[0] - a[0])
                    clipped.append((NEAR_M, a[1] + t * (b[1] - a[1]), a[2] + t * (b[2] - a[2])))
            if len(clipped) < 3:
                return None
        return [(cx + f * r / d, hz - f * u / d) for d, r, u in clipped]

    def visible_x(self, y: float, margin: float = 1.08) -> tuple[float, float] | None:
        """The x interval of the street-parallel line at lateral offset y that lies in the view, or None.

        The camera has yaw only, so horizontal visibility of a point does not depend on its height: this
        culls whole facades, window bands and dashes before any projection (most of them are off-screen).
        """
        lo, hi = -math.inf, math.inf
        for k, c in (
            (self.fx, NEAR_M - y * self.fy),  # in front of the near plane
            (margin * self.fx - self.rx, -(margin * self.fy - self.ry) * y),  # right edge of the view
            (margin * self.fx + self.rx, -(margin * self.fy + self.ry) * y),  # left edge
        ):
            if k > 1e-9:
                lo = max(lo, c / k)
            elif k < -1e-9:
                hi = min(hi, c / k)
            elif c > 0:
                return None
        return (lo, hi) if lo < hi else None

    def point(self, x: float, y: float, z: float) -> tuple[float, float, float] | None:
        """Screen position and depth of a point, or None behind the camera."""
        d = x * self.fx + y * self.fy
        if d < NEAR_M:
            return None
        return (
            self.cx + self.f * (x * self.rx + y * self.ry) / d,
            self.hz - self.f * (z - CAMERA_HEIGHT_M) / d,
            d,
        )


def _shade(colour: Sequence[float], normal_az_deg: float) -> tuple[int, int, int]:
    """Lambert-like facade shading by the sun's azimuth: south-facing walls are lit, north ones dim."""
    k = 0.62 + 0.38 * max(0.0, math.cos(math.radians(normal_az_deg - SUN_AZIMUTH_DEG)))
    return (int(colour[0] * k), int(colour[1] * k), int(colour[2] * k))


def _wrap180(a: float) -> float:
    return (a + 180.0) % 360.0 - 180.0


NOISE_TILES = 32


@lru_cache(maxsize=4)
def _noise_tiles(size: int) -> tuple[Image.Image, ...]:
    """Fixed noise tiles (uint8 around +NOISE_AMPLITUDE); a view's texture is the seed-chosen tile.

    Drawing fresh noise per image would cost more than the whole scene, and texture noise carries no signal.
    """
    rng = np.random.default_rng(20240521)
    n = NOISE_TILES if size <= 256 else 4
    return tuple(
        Image.fromarray(rng.integers(0, 2 * NOISE_AMPLITUDE + 1, size=(size, size, 3), dtype=np.uint8), "RGB")
        for _ in range(n)
    )


@lru_cache(maxsize=8)
def _sky_geometry(size: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    cam = _Camera(0.0, size)
    col_offset_deg = np.degrees(np.arctan((np.arange(size) + 0.5 - cam.cx) / cam.f))
    haze = np.clip(1.0 - (cam.hz - np.arange(rows)) / cam.hz, 0.0, 1.0) ** 3 * 0.6  # lighter at the horizon
    return col_offset_deg, haze


def _sky_image(heading_deg: float, size: int, rows: int) -> Image.Image:
    """Sky rows as an image: each column is brighter the closer its azimuth is to the sun (south)."""
    col_offset_deg, haze = _sky_geometry(size, rows)
    sunward = 0.5 + 0.5 * np.cos(np.radians(heading_deg + col_offset_deg - SUN_AZIMUTH_DEG))  # 1 = sunward
    col_rgb = _SKY_DARK[None, :] + sunward[:, None] * (_SKY_LIGHT - _SKY_DARK)[None, :]
    h = haze[:, None, None]
    sky = col_rgb[None, :, :] * (1.0 - h) + _HAZE[None, None, :] * h
    return Image.fromarray(sky.astype(np.uint8), "RGB")


@lru_cache(maxsize=1024)
def _sky_cached(heading_whole_deg: int, size: int, rows: int) -> Image.Image:
    # The sky gradient is quantised to whole degrees so it can be cached (a 1 deg step moves the gradient
    # by about a pixel at 128 px); the sun disc itself is drawn at the exact heading.
    return _sky_image(float(heading_whole_deg), size, rows)


def _building_runs(rnd: random.Random, density: float, x_lo: float, x_hi: float):
    """Blocks (x0, x1, level_factor, colour) along one side covering about `density` of the frontage."""
    if density <= 0.02:
        return []
    runs = []
    x = x_lo - rnd.uniform(0.0, 20.0)
    while x < x_hi:
        width = rnd.uniform(10.0, 24.0)
        gap = width * (1.0 - density) / density * rnd.uniform(0.6, 1.4)
        colour = FACADE_COLOURS[int(rnd.random() * len(FACADE_COLOURS))]
        runs.append((x, x + width, rnd.uniform(0.8, 1.2), colour))
        x += width + min(gap, 80.0)
    return runs


def render_view(ctx: ViewContext, size: int = 128) -> Image.Image:
    """Render `ctx` as an RGB street view of `size` x `size` pixels. Same context -> identical bytes.

    Stages, back to front: camera frame -> sky and ground colour -> sun -> horizon (tree line, water) ->
    ground plane (road, sidewalks, markings, crossing street) -> vertical objects (buildings, trees, traffic
    light, signs), sorted far to near -> texture noise. The random stream is drawn in that order (horizon,
    then buildings left and right, then trees), so the stages must keep it.
    """
    if size < 16:
        raise ValueError(f"render size must be >= 16 pixels, got {size}")
    phi, frame_bearing, dens_left, dens_right = _view_frame(ctx)
    cam = _Camera(phi, size)
    # Python's Mersenne Twister: scalar draws are ~20x cheaper than numpy's, and random()/uniform() from an
    # int seed give the same stream on every platform and Python version.
    rnd = random.Random(ctx.seed * 1_000_003 + 0x5EED)
    s = size / 128.0  # line widths scale with the image

    img = _sky_and_ground(ctx, cam, size)
    draw = ImageDraw.Draw(img)
    _draw_sun(draw, ctx, cam, s)
    _draw_horizon(draw, ctx, cam, rnd, size, s)
    street = _street_layout(ctx)
    _draw_ground(draw, cam, street, ctx.lanes)

    items, buildings_by_side = _building_items(cam, rnd, street, ctx.building_levels, frame_bearing,
                                               dens_left, dens_right)
    items += _tree_items(rnd, street, ctx.green_share)
    items += _light_items(street, ctx.road_width_m)
    items += _sign_items(cam, street, ctx.poi_categories, size, buildings_by_side)
    _draw_items(draw, cam, items)

    tiles = _noise_tiles(size)
    # (img + tile) / 1 - NOISE_AMPLITUDE, clipped to [0, 255]: one C pass for signed, saturating noise.
    return ImageChops.add(img, tiles[ctx.seed % len(tiles)], 1.0, -NOISE_AMPLITUDE)


# --- render_view's stages ----------------------------------------------------------------------------------


def _view_frame(ctx: ViewContext) -> tuple[float, float, float, float]:
    """(camera yaw relative to the street, street bearing of the frame, building density left, right).

    Folds the heading into the street direction the camera faces more (along or against the edge): looking
    back along a street is looking forward along the reversed street with the sides swapped.
    """
    # The builder's views look exactly along (0/180) or across (90/270 deg) the street, so the fold below is
    # decided at its boundary: unrounded, heading - bearing lands at 90 +- 1e-13 and which side it falls on
    # followed the last bit of the bearing, which numpy's AVX-512 and AVX2 arctan2 do not agree on (4 of
    # 1188 pinned views rendered as other scenes on an AVX2 machine). Rounded to 1e-6 deg, +-90 stays unfolded.
    phi = round(_wrap180(ctx.heading_deg - ctx.street_bearing_deg), 6) + 0.0  # + 0.0: no -0.0
    frame_bearing = ctx.street_bearing_deg
    dens_left, dens_right = ctx.building_density_left, ctx.building_density_right
    if abs(phi) > 90.0:
        phi = _wrap180(phi - 180.0)
        frame_bearing = (frame_bearing + 180.0) % 360.0
        dens_left, dens_right = dens_right, dens_left
    return phi, frame_bearing, dens_left, dens_right


def _sky_and_ground(ctx: ViewContext, cam: _Camera, size: int) -> Image.Image:
    """The canvas: ground colour (paving blended to grass by green_share) below, the sky gradient above."""
    hz_row = int(math.ceil(cam.hz))
    ground = tuple(int(c) for c in _PAVED + ctx.green_share * (_GRASS - _PAVED))
    img = Image.new("RGB", (size, size), ground)
    heading_whole = int(round(ctx.heading_deg)) % 360
    sky = _sky_cached(heading_whole, size, hz_row) if size <= 256 else _sky_image(heading_whole, size, hz_row)
    img.paste(sky, (0, 0))
    return img


def _draw_sun(draw: ImageDraw.ImageDraw, ctx: ViewContext, cam: _Camera, s: float) -> None:
    """Sun disc when the sun's azimuth is within the 90 deg field of view."""
    d_sun = _wrap180(SUN_AZIMUTH_DEG - ctx.heading_deg)
    if abs(d_sun) < 44.0:
        u = cam.cx + cam.f * math.tan(math.radians(d_sun))
        v = cam.hz - cam.f * math.tan(math.radians(SUN_ELEVATION_DEG)) / math.cos(math.radians(d_sun))
        r = 7.0 * s
        draw.ellipse((u - r, v - r, u + r, v + r), fill=(255, 244, 196))


def _draw_horizon(draw: ImageDraw.ImageDraw, ctx: ViewContext, cam: _Camera, rnd: random.Random, size: int,
                  s: float) -> None:
    """Horizon tree line (green areas) and water band, both far away so everything else occludes them."""
    green = ctx.green_share
    if green > 0.05:
        h = green * 0.10 * size
        n = 17
        pts = [(0.0, cam.hz)]
        for i in range(n):
            pts.append((i * size / (n - 1), cam.hz - h * rnd.uniform(0.5, 1.0)))
        pts.append((float(size), cam.hz))
        draw.polygon(pts, fill=(46, 98, 46))
    if ctx.water_share > 0.02:
        h = ctx.water_share * 0.22 * size
        draw.rectangle((0, cam.hz, size, cam.hz + h), fill=(40, 100, 170))
        for _ in range(3 + int(6 * ctx.water_share)):
            y = cam.hz + rnd.uniform(0.1, 0.9) * h
            x0 = rnd.uniform(0, size * 0.8)
            draw.line((x0, y, x0 + rnd.uniform(6, 20) * s, y), fill=(120, 170, 215), width=max(1, int(s)))


@dataclass(frozen=True)
class _Street:
    """The street's cross-section and the crossing street, in metres in the street frame (x along, y left)."""

    surface: tuple[int, int, int]
    centre_style: str
    edge_lines: bool
    half: float  # half the carriageway width
    walk: float  # sidewalk width (0 without sidewalks)
    facade_y: float  # lateral distance of the facades from the centreline
    inter_x: float | None  # distance ahead of the crossing street's centre, None without one
    cross_half: float  # half the crossing street's width

    @property
    def gap(self) -> tuple[float | None, float | None]:
        """The x interval the crossing street (with its sidewalks) cuts out of the facades, or (None, None)."""
        if self.inter_x is None:
            return None, None
        return self.inter_x - self.cross_half - self.walk, self.inter_x + self.cross_half + self.walk


def _street_layout(ctx: ViewContext) -> _Street:
    surface, centre_style, edge_lines, sidewalks = road_style(ctx.road_class)
    half = max(ctx.road_width_m, 0.8) / 2.0
    walk = SIDEWALK_M if sidewalks else 0.0
    facade_y = half + (walk + SETBACK_M if walk else PATH_SETBACK_M)
    inter_x = None
    if ctx.distance_to_intersection_m < INTERSECTION_CUE_M:
        inter_x = max(ctx.distance_to_intersection_m, 4.0 + half)
    cross_half = max(0.8 * half, 2.5)
    return _Street(surface, centre_style, edge_lines, half, walk, facade_y, inter_x, cross_half)


def _ground_quad(draw: ImageDraw.ImageDraw, cam: _Camera, x0: float, x1: float, y0: float, y1: float, fill) -> None:
    poly = cam.project(((x0, y0, 0.0), (x1, y0, 0.0), (x1, y1, 0.0), (x0, y1, 0.0)))
    if poly is not None:
        draw.polygon(poly, fill=fill)


def _ground_line(draw: ImageDraw.ImageDraw, cam: _Camera, st: _Street, y: float, width_m: float, colour,
                 dashed: bool) -> None:
    """A street-parallel marking at lateral offset y, interrupted by the crossing street."""
    inter_x, cross_half = st.inter_x, st.cross_half
    if dashed:
        vis = cam.visible_x(y)
        if vis is None:
            return
        x = -30.0
        while x < 60.0:
            if x + 3.0 < vis[0] or x > vis[1]:
                pass
            elif inter_x is None or not (inter_x - cross_half - 4 < x < inter_x + cross_half):
                _ground_quad(draw, cam, x, x + 3.0, y - width_m, y + width_m, colour)
            x += 8.0
    elif inter_x is None:
        _ground_quad(draw, cam, -FAR_M, FAR_M, y - width_m, y + width_m, colour)
    else:
        _ground_quad(draw, cam, -FAR_M, inter_x - cross_half - 4.0, y - width_m, y + width_m, colour)
        _ground_quad(draw, cam, inter_x + cross_half, FAR_M, y - width_m, y + width_m, colour)


def _draw_ground(draw: ImageDraw.ImageDraw, cam: _Camera, st: _Street, lanes: int) -> None:
    """Ground plane: road, sidewalks, crossing street, lane and centre markings, edge lines, zebra."""
    near_x, far_x = -FAR_M, FAR_M
    half, walk, inter_x, cross_half = st.half, st.walk, st.inter_x, st.cross_half
    if walk:
        _ground_quad(draw, cam, near_x, far_x, half, half + walk, (176, 174, 170))
        _ground_quad(draw, cam, near_x, far_x, -half - walk, -half, (176, 174, 170))
    _ground_quad(draw, cam, near_x, far_x, -half, half, st.surface)
    if inter_x is not None:
        _ground_quad(draw, cam, inter_x - cross_half - walk, inter_x + cross_half + walk, -FAR_M, FAR_M,
                     (176, 174, 170))
        _ground_quad(draw, cam, inter_x - cross_half, inter_x + cross_half, -FAR_M, FAR_M, st.surface)

    def line(y: float, width_m: float, colour, dashed: bool) -> None:
        _ground_line(draw, cam, st, y, width_m, colour, dashed)

    white, yellow = (236, 236, 230), (232, 196, 40)
    centre_style = st.centre_style
    centre_y = 0.0
    if lanes >= 2:
        lane_w = 2 * half / lanes
        centre_idx = lanes // 2 if centre_style != "none" else -1
        # With an odd lane count the centre line sits on the boundary after lanes // 2 lanes (the OSM
        # `lanes` tag does not say which direction has more), never across the middle of a lane.
        centre_y = -half + (lanes // 2) * lane_w if lanes % 2 else 0.0
        for i in range(1, lanes):
            if i == centre_idx:
                continue  # drawn below as the centre line
            line(-half + i * lane_w, 0.08, white, dashed=True)
    if centre_style == "double_yellow":
        line(centre_y + 0.22, 0.08, yellow, dashed=False)
        line(centre_y - 0.22, 0.08, yellow, dashed=False)
    elif centre_style == "solid_white":
        line(centre_y, 0.09, white, dashed=False)
    elif centre_style == "dashed_white":
        line(centre_y, 0.08, white, dashed=True)
    elif centre_style == "steps":
        for i in range(30):
            x = -10.0 + i * 1.2
            _ground_quad(draw, cam, x, x + 0.25, -half, half, (110, 110, 110))
    if st.edge_lines:
        line(half - 0.35, 0.08, white, dashed=False)
        line(-half + 0.35, 0.08, white, dashed=False)
    if inter_x is not None and walk:
        x0 = inter_x - cross_half - 4.0
        y = -half + 0.3
        while y < half - 0.3:
            _ground_quad(draw, cam, x0, x0 + 3.0, y, y + 0.5, white)
            y += 1.0


# A vertical object to draw: (sort distance, tie-break by kind, (kind, *its arguments)); drawn far to near.
_Item = tuple[float, int, tuple]


def _building_items(cam: _Camera, rnd: random.Random, st: _Street, building_levels: float, frame_bearing: float,
                    dens_left: float, dens_right: float) -> tuple[list[_Item], dict[int, list[tuple[float, float]]]]:
    """Building blocks along both sides (left = +1 first: the random stream depends on the order), and the
    x extents of the blocks in front of the camera per side (signs hang on them)."""
    items: list[_Item] = []
    gap_lo, gap_hi = st.gap
    facade_y = st.facade_y
    levels = max(building_levels, 1.0)
    # Facade normals as compass azimuths (for sun shading): the left facade faces the street's right.
    normal_left = (frame_bearing + 90.0) % 360.0
    normal_right = (frame_bearing - 90.0) % 360.0
    buildings_by_side: dict[int, list[tuple[float, float]]] = {1: [], -1: []}

    for side, density, normal in ((1, dens_left, normal_left), (-1, dens_right, normal_right)):
        y = side * facade_y
        vis_front = cam.visible_x(y)
        vis_back = cam.visible_x(y + side * 12.0)
        vis_any = (
            (min(v[0] for v in (vis_front, vis_back) if v), max(v[1] for v in (vis_front, vis_back) if v))
            if vis_front or vis_back
            else None
        )
        for x0, x1, lf, colour in _building_runs(rnd, density, -60.0, 120.0):
            segments = [(x0, x1)]
            if gap_lo is not None:
                segments = [(a, min(b, gap_lo)) for a, b in segments if a < gap_lo] + [
                    (max(a, gap_hi), b) for a, b in segments if b > gap_hi
                ]
            for a, b in segments:
                if b - a < 1.0:
                    continue
                height = levels * STOREY_M * lf
                n_storeys = max(1, round(levels * lf))
                mid = 0.5 * (a + b)
                if cam.depth(a, y) < NEAR_M and cam.depth(b, y) < NEAR_M:
                    continue  # entirely behind the camera
                buildings_by_side[side].append((a, b))
                if vis_any is None or b < vis_any[0] or a > vis_any[1]:
                    continue  # outside the field of view
                # The depth of the block (away from the street) is 12 m; its near end wall faces the camera.
                end_x = a if a > 0 else (b if b < 0 else None)
                end_normal = (frame_bearing + (180.0 if end_x == a else 0.0)) % 360.0
                items.append((
                    math.hypot(mid, facade_y) + 6.0,
                    0,
                    ("building", a, b, vis_front, y, side, height, n_storeys, _shade(colour, normal), end_x,
                     _shade(colour, end_normal)),
                ))
    return items, buildings_by_side


def _tree_items(rnd: random.Random, st: _Street, green: float) -> list[_Item]:
    """Trees along both sides of the street: round(10 * green_share) per side."""
    items: list[_Item] = []
    n_trees = round(10 * green)
    tree_y = st.half + (st.walk * 0.5 if st.walk else 1.8)
    for side in (1, -1):
        for x in sorted(rnd.uniform(-25.0, 70.0) for _ in range(n_trees)):
            items.append((math.hypot(x, tree_y), 1, ("tree", float(x), side * tree_y, rnd.uniform(0.85, 1.2))))
    return items


def _light_items(st: _Street, road_width_m: float) -> list[_Item]:
    """Traffic light at the near right corner of the intersection."""
    if st.inter_x is None or road_width_m < 5.0:
        return []
    px, py = st.inter_x - st.cross_half - 1.0, -(st.half + 0.6)
    return [(math.hypot(px, py), 2, ("light", px, py))]


def _sign_items(cam: _Camera, st: _Street, poi_categories: Sequence[str], size: int,
                buildings_by_side: dict[int, list[tuple[float, float]]]) -> list[_Item]:
    """Storefront signs: the POIs, nearest first, on the visible facade slots nearest to the camera."""
    if not poi_categories:
        return []
    gap_lo, gap_hi = st.gap
    slots = []
    for side in (1, -1):
        y = side * (st.facade_y - 0.3)
        vis = cam.visible_x(y, margin=1.0)
        if vis is None:
            continue
        offset = 2.5 if side < 0 else 0.0
        k_lo = max(-12, math.ceil((max(vis[0], -1e4) - offset) / 5.0))
        k_hi = min(23, math.floor((min(vis[1], 1e4) - offset) / 5.0))
        for k in range(k_lo, k_hi + 1):
            x = k * 5.0 + offset
            p = cam.point(x, y, 3.6)
            if p is None or p[2] < MIN_SIGN_DEPTH_M or not (0.06 * size < p[0] < 0.94 * size):
                continue
            if gap_lo is not None and gap_lo - 2.0 < x < gap_hi + 2.0:
                continue
            slots.append((p[2], x, side, y))
    slots.sort()
    items: list[_Item] = []
    for (_d, x, side, y), cat in zip(slots, poi_categories[:MAX_SIGNS], strict=False):
        on_building = any(a <= x - 2.0 and x + 2.0 <= b for a, b in buildings_by_side[side])
        items.append((math.hypot(x, y) + 5.0, 3, ("sign", x, y, poi_group(cat), on_building)))
    return items


def _draw_items(draw: ImageDraw.ImageDraw, cam: _Camera, items: list[_Item]) -> None:
    """Draw the vertical objects far to near (ties: buildings, trees, lights, signs)."""
    drawers = {"building": _draw_building, "tree": _draw_tree, "light": _draw_light, "sign": _draw_sign}
    items.sort(key=lambda it: (-it[0], it[1]))
    for _key, _tb, item in items:
        drawers[item[0]](draw, cam, *item[1:])


def _draw_building(draw: ImageDraw.ImageDraw, cam: _Camera, a: float, b: float, vis, y: float, side: int,
                   height: float, n_storeys: int, face_rgb, end_x: float | None, end_rgb) -> None:
    """A block: its end wall facing the camera, its facade inside the view, one window band per storey."""
    y_back = y + side * 12.0
    if end_x is not None:
        poly = cam.project(((end_x, y, 0.0), (end_x, y_back, 0.0), (end_x, y_back, height), (end_x, y, height)))
        if poly:
            draw.polygon(poly, fill=end_rgb)
    if vis is None:
        return
    fa, fb = max(a, vis[0]), min(b, vis[1])  # the facade part inside the view
    if fb - fa < 0.05:
        return
    poly = cam.project(((fa, y, 0.0), (fb, y, 0.0), (fb, y, height), (fa, y, height)))
    if not poly:
        return
    draw.polygon(poly, fill=face_rgb)
    storey = height / n_storeys
    wa, wb = max(a + 0.8, fa), min(b - 0.8, fb)
    nearest = max(NEAR_M, min(cam.depth(wa, y), cam.depth(wb, y)))
    if wb <= wa or cam.f * 0.4 * storey / nearest < 0.7:
        return  # window bands would be under a pixel high
    dark = (face_rgb[0] // 2, face_rgb[1] // 2, face_rgb[2] // 2 + 20)
    for k in range(min(n_storeys, 12)):
        z0 = (k + 0.35) * storey
        z1 = (k + 0.75) * storey
        band = cam.project(((wa, y, z0), (wb, y, z0), (wb, y, z1), (wa, y, z1)))
        if band:
            draw.polygon(band, fill=dark)


def _draw_tree(draw: ImageDraw.ImageDraw, cam: _Camera, x: float, y: float, scale: float) -> None:
    top = cam.point(x, y, 4.6 * scale)
    base = cam.point(x, y, 0.0)
    if top is None or base is None:
        return
    w = max(1, round(cam.f * 0.35 / base[2]))
    draw.line((base[0], base[1], top[0], top[1]), fill=(96, 70, 44), width=w)
    r = cam.f * 2.0 * scale / top[2]
    draw.ellipse((top[0] - r, top[1] - 1.1 * r, top[0] + r, top[1] + 0.9 * r), fill=(44, 122, 50))


def _draw_light(draw: ImageDraw.ImageDraw, cam: _Camera, x: float, y: float) -> None:
    base, top = cam.point(x, y, 0.0), cam.point(x, y, 4.2)
    if base is None or top is None:
        return
    w = max(1, round(cam.f * 0.18 / base[2]))
    draw.line((base[0], base[1], top[0], top[1]), fill=(40, 40, 40), width=w)
    r = cam.f * 0.28 / top[2]
    draw.rectangle((top[0] - r, top[1] - 3.4 * r, top[0] + r, top[1]), fill=(25, 25, 25))
    for j, c in enumerate(((230, 40, 30), (240, 190, 20), (40, 200, 70))):
        cy = top[1] - 2.85 * r + j * 1.1 * r
        draw.ellipse((top[0] - 0.6 * r, cy - 0.5 * r, top[0] + 0.6 * r, cy + 0.5 * r), fill=c)


def _draw_sign(draw: ImageDraw.ImageDraw, cam: _Camera, x: float, y: float, group: str, on_building: bool) -> None:
    """A storefront panel in the group's colour with its icon; on a post where no building stands behind."""
    colour, shape = GROUP_STYLES[group]
    if not on_building:
        base, top = cam.point(x, y, 0.0), cam.point(x, y, 3.0)
        if base is not None and top is not None:
            w = max(1, round(cam.f * 0.12 / base[2]))
            draw.line((base[0], base[1], top[0], top[1]), fill=(70, 70, 70), width=w)
    poly = cam.project(((x - 2.0, y, 3.0), (x + 2.0, y, 3.0), (x + 2.0, y, 4.3), (x - 2.0, y, 4.3)))
    if not poly:
        return
    draw.polygon(poly, fill=colour)
    c = cam.point(x, y, 3.65)
    if c is None or shape == "none":
        return
    u, v, d = c
    r = cam.f * 0.5 / d
    icon = (255, 255, 255) if group != "shopping" else (40, 40, 40)
    _draw_icon(draw, shape, u, v, r, icon)


def _draw_icon(draw: ImageDraw.ImageDraw, shape: str, u: float, v: float, r: float, fill) -> None:
    if shape == "circle":
        draw.ellipse((u - r, v - r, u + r, v + r), fill=fill)
    elif shape == "square":
        draw.rectangle((u - r, v - r, u + r, v + r), fill=fill)
    elif shape == "triangle_down":
        draw.polygon(((u - r, v - r), (u + r, v - r), (u, v + r)), fill=fill)
    elif shape == "triangle_up":
        draw.polygon(((u - r, v + r), (u + r, v + r), (u, v - r)), fill=fill)
    elif shape == "diamond":
        draw.polygon(((u, v - r), (u + r, v), (u, v + r), (u - r, v)), fill=fill)
    elif shape == "cross":
        t = r / 3.0
        draw.rectangle((u - r, v - t, u + r, v + t), fill=fill)
        draw.rectangle((u - t, v - r, u + t, v + r), fill=fill)
    elif shape == "bars":
        t = r / 3.0
        draw.rectangle((u - r, v - r, u + r, v - r + 2 * t), fill=fill)
        draw.rectangle((u - r, v + r - 2 * t, u + r, v + r), fill=fill)


def _render_chunk(args: tuple[list[ViewContext], int]) -> list[Image.Image]:
    contexts, size = args
    return [render_view(c, size) for c in contexts]


def render_views(contexts: Iterable[ViewContext], size: int = 128, n_jobs: int = 1) -> list[Image.Image]:
    """Render many contexts, in order; n_jobs > 1 spreads chunks over worker processes.

    Results are identical to calling `render_view` one by one (each image depends only on its context).
    """
    contexts = list(contexts)
    if n_jobs <= 1 or len(contexts) < 64:
        return [render_view(c, size) for c in contexts]
    from concurrent.futures import ProcessPoolExecutor

    chunk = max(16, math.ceil(len(contexts) / (n_jobs * 4)))
    chunks = [(contexts[i : i + chunk], size) for i in range(0, len(contexts), chunk)]
    out: list[Image.Image] = []
    with ProcessPoolExecutor(max_workers=n_jobs) as pool:
        for part in pool.map(_render_chunk, chunks):
            out.extend(part)
    return out
