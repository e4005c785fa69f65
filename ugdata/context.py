"""Spatial context of each view point from the real OSM layers: nearby POIs, built-up and green shares per
side of the street, nearest intersection, containing land-use area.

Shares are measured on a coverage raster (4 m cells; building / green / water bits) sampled on a fixed
disc of offsets around each point. Exact polygon-disc intersections would cost minutes for 100k points;
the raster gives the same shares to within a few percent in milliseconds, and is deterministic.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree
from shapely import STRtree

from ugcore.geo import bearing_deg, haversine_m
from ugdata.streets import StreetLayer

BUILDING, GREEN, WATER = 1, 2, 4
COMMERCIAL = {
    "restaurant", "cafe", "fast_food", "bar", "pub", "bank", "pharmacy", "marketplace", "ice_cream",
    "nightclub", "cinema", "theatre", "food_court", "biergarten", "bureau_de_change", "car_rental",
}
POI_RADIUS_M = 100.0
POI_K = 8
SHARE_RADIUS_M = 50.0


@dataclass
class MapLayers:
    """Features split by kind, projected, with the indexes context queries need."""

    pois: pd.DataFrame  # feature rows (kind == poi) + x, y, lon, lat
    areas: pd.DataFrame  # non-poi features + area_m2
    area_geom_m: np.ndarray
    area_tree: STRtree | None
    poi_tree: cKDTree | None
    bld_tree: cKDTree | None
    bld_levels: np.ndarray
    raster: np.ndarray  # uint8 bitmask, rows = y from y0 upward
    x0: float
    y0: float
    cell: float
    inter_tree: cKDTree | None
    inter_idx: np.ndarray  # street-node rows with degree >= 3


def build_map_layers(features, feats_m: np.ndarray, layer: StreetLayer) -> MapLayers:
    kinds = features["kind"].to_numpy() if len(features) else np.array([], dtype=object)
    is_poi = kinds == "poi"
    pois = features[is_poi].reset_index(drop=True).copy()
    pois_m = feats_m[is_poi]
    pois["x"] = shapely.get_x(pois_m) if len(pois) else []
    pois["y"] = shapely.get_y(pois_m) if len(pois) else []
    pois["lon"] = shapely.get_x(pois.geometry.to_numpy()) if len(pois) else []
    pois["lat"] = shapely.get_y(pois.geometry.to_numpy()) if len(pois) else []
    # one area node per OSM object: a polygon tagged both building and park keeps its most specific kind
    rank = pd.Series(kinds).map({"park": 0, "water": 1, "landuse": 2, "building": 3}).fillna(4).to_numpy()
    areas_all = features.assign(_rank=rank, _row=np.arange(len(features)))[~is_poi]
    keep = areas_all.sort_values(["feature_id", "_rank"], kind="stable").drop_duplicates("feature_id")._row
    keep_mask = np.zeros(len(features), dtype=bool)
    keep_mask[keep.to_numpy()] = True
    areas = features[keep_mask].reset_index(drop=True).copy()
    area_m = feats_m[keep_mask]
    areas["area_m2"] = shapely.area(area_m) if len(areas) else []
    # bounding box of everything (streets + areas) for the raster
    xs = np.r_[layer.nodes.x.to_numpy()]
    ys = np.r_[layer.nodes.y.to_numpy()]
    pad = 200.0
    x0, x1 = xs.min() - pad, xs.max() + pad
    y0, y1 = ys.min() - pad, ys.max() + pad
    cell = 4.0
    while (x1 - x0) * (y1 - y0) / cell**2 > 60e6:  # keep the raster under ~60 MB for huge extracts
        cell *= 1.5
    nx_, ny_ = int(np.ceil((x1 - x0) / cell)), int(np.ceil((y1 - y0) / cell))
    akind = areas["kind"].to_numpy() if len(areas) else np.array([])
    raster = _rasterize(area_m, akind, x0, y0, cell, nx_, ny_)
    bld = akind == "building"
    if bld.any():
        rp = shapely.point_on_surface(area_m[bld])
        bld_tree = cKDTree(np.column_stack([shapely.get_x(rp), shapely.get_y(rp)]))
        bld_levels = areas.loc[bld, "levels"].to_numpy(dtype=float)
    else:
        bld_tree, bld_levels = None, np.array([])
    inter_idx = np.flatnonzero(layer.nodes.degree.to_numpy() >= 3)
    inter_tree = cKDTree(layer.nodes[["x", "y"]].to_numpy()[inter_idx]) if len(inter_idx) else None
    return MapLayers(
        pois=pois, areas=areas, area_geom_m=area_m,
        area_tree=STRtree(area_m) if len(area_m) else None,
        poi_tree=cKDTree(pois[["x", "y"]].to_numpy()) if len(pois) else None,
        bld_tree=bld_tree, bld_levels=bld_levels, raster=raster, x0=x0, y0=y0, cell=cell,
        inter_tree=inter_tree, inter_idx=inter_idx,
    )


def _rasterize(geoms: np.ndarray, kinds: np.ndarray, x0: float, y0: float, cell: float, nx_: int, ny_: int) -> np.ndarray:
    """Coverage bitmask (building / green / water) with PIL's C polygon fill: one call per ring instead of a
    point-in-polygon test per cell (30k buildings: well under a second instead of tens of seconds)."""
    from PIL import Image, ImageDraw

    out = np.zeros((ny_, nx_), dtype=np.uint8)
    for bit, kind in ((BUILDING, "building"), (GREEN, "park"), (WATER, "water")):
        sel = geoms[kinds == kind] if len(kinds) else []
        if not len(sel):
            continue
        img = Image.new("1", (nx_, ny_), 0)
        draw = ImageDraw.Draw(img)
        for g in sel:
            if g is None or g.is_empty:
                continue
            for poly in getattr(g, "geoms", [g]):
                if poly.geom_type != "Polygon":
                    continue
                ext = np.asarray(poly.exterior.coords)
                draw.polygon([tuple(p) for p in ((ext - (x0, y0)) / cell - 0.5).tolist()], fill=1)
                for ring in poly.interiors:
                    r = np.asarray(ring.coords)
                    draw.polygon([tuple(p) for p in ((r - (x0, y0)) / cell - 0.5).tolist()], fill=0)
        out |= (np.asarray(img, dtype=np.uint8) * bit).astype(np.uint8)
    return out


def _disc_offsets(radius: float, step: float) -> np.ndarray:
    g = np.arange(-radius, radius + step / 2, step)
    ox, oy = np.meshgrid(g, g)
    keep = np.hypot(ox, oy) <= radius
    return np.column_stack([ox[keep], oy[keep]])


@dataclass
class PointContext:
    """Context per unique view point (arrays aligned with the points)."""

    poi_idx: np.ndarray  # (n, K) rows into MapLayers.pois, -1 = none
    poi_dist: np.ndarray  # (n, K) haversine metres from the point
    poi_bearing: np.ndarray  # (n, K) degrees from the point
    bld_left: np.ndarray
    bld_right: np.ndarray
    bld_share: np.ndarray
    green_share: np.ndarray
    water_share: np.ndarray
    levels: np.ndarray
    n_poi_100: np.ndarray
    n_commercial_100: np.ndarray
    inter_node: np.ndarray  # street-node row of the nearest intersection, -1 if none
    inter_dist: np.ndarray
    inter_bearing: np.ndarray
    area_idx: np.ndarray  # smallest non-building area containing the point, -1 if none


def point_context(maps: MapLayers, layer: StreetLayer, lon, lat, x, y, street_bearing) -> PointContext:
    lon, lat, x, y = (np.asarray(a, dtype=float) for a in (lon, lat, x, y))
    n = len(x)
    xy = np.column_stack([x, y])
    K = POI_K
    if maps.poi_tree is not None and n:
        d, idx = maps.poi_tree.query(xy, k=K, distance_upper_bound=POI_RADIUS_M)
        idx = np.where(np.isfinite(d), idx, -1).astype(np.int64)
        plon = np.where(idx >= 0, maps.pois.lon.to_numpy()[np.clip(idx, 0, None)], np.nan)
        plat = np.where(idx >= 0, maps.pois.lat.to_numpy()[np.clip(idx, 0, None)], np.nan)
        pdist = np.where(idx >= 0, haversine_m(lat[:, None], lon[:, None], plat, plon), np.nan)
        pbear = np.where(idx >= 0, bearing_deg(lat[:, None], lon[:, None], plat, plon), np.nan)
        # re-sort by the geodesic distance (the tree sorts by projected distance; ties may swap)
        order = np.argsort(np.where(idx >= 0, pdist, np.inf), axis=1, kind="stable")
        idx, pdist, pbear = (np.take_along_axis(a, order, axis=1) for a in (idx, pdist, pbear))
        cats = maps.pois.category.to_numpy()
        comm = np.isin(cats, list(COMMERCIAL)) | _is_shop(maps.pois)
        n_poi = (idx >= 0).sum(1)
        n_comm = ((idx >= 0) & comm[np.clip(idx, 0, None)]).sum(1)
    else:
        idx = np.full((n, K), -1, dtype=np.int64)
        pdist = np.full((n, K), np.nan)
        pbear = np.full((n, K), np.nan)
        n_poi = np.zeros(n, dtype=int)
        n_comm = np.zeros(n, dtype=int)
    # shares on the raster, per side of the street direction
    offs = _disc_offsets(SHARE_RADIUS_M, 6.0)
    b = np.radians(np.asarray(street_bearing, dtype=float))
    dirx, diry = np.sin(b), np.cos(b)
    left = np.zeros(n)
    right = np.zeros(n)
    share = {BUILDING: np.zeros(n), GREEN: np.zeros(n), WATER: np.zeros(n)}
    H, W = maps.raster.shape
    for s in range(0, n, 8192):
        sl = slice(s, min(s + 8192, n))
        px = x[sl, None] + offs[None, :, 0]
        py = y[sl, None] + offs[None, :, 1]
        c = np.clip(((px - maps.x0) / maps.cell).astype(np.int64), 0, W - 1)
        r = np.clip(((py - maps.y0) / maps.cell).astype(np.int64), 0, H - 1)
        v = maps.raster[r, c]
        for bit, arr in share.items():
            arr[sl] = ((v & bit) > 0).mean(1)
        cross = dirx[sl, None] * offs[None, :, 1] - diry[sl, None] * offs[None, :, 0]
        isl = cross > 0
        bld = (v & BUILDING) > 0
        left[sl] = (bld & isl).sum(1) / np.maximum(isl.sum(1), 1)
        right[sl] = (bld & ~isl).sum(1) / np.maximum((~isl).sum(1), 1)
    # building levels: median tagged levels of the 16 nearest buildings within 60 m (3 storeys if untagged)
    levels = np.full(n, 3.0)
    if maps.bld_tree is not None and n:
        k = min(16, len(maps.bld_levels))
        d, bi = maps.bld_tree.query(xy, k=k, distance_upper_bound=60.0)
        d, bi = d.reshape(n, k), bi.reshape(n, k)
        lv = np.where(np.isfinite(d), np.r_[maps.bld_levels, np.nan][np.minimum(bi, len(maps.bld_levels))], np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows (no tagged building) -> default
            med = np.nanmedian(lv, axis=1) if lv.size else np.full(n, np.nan)
        levels = np.where(np.isfinite(med), med, 3.0)
    # nearest intersection
    inter_node = np.full(n, -1, dtype=np.int64)
    inter_dist = np.full(n, np.nan)
    inter_bear = np.full(n, np.nan)
    if maps.inter_tree is not None and n:
        _, ii = maps.inter_tree.query(xy, k=1)
        inter_node = maps.inter_idx[ii]
        ilon = layer.nodes.lon.to_numpy()[inter_node]
        ilat = layer.nodes.lat.to_numpy()[inter_node]
        inter_dist = haversine_m(lat, lon, ilat, ilon)
        inter_bear = bearing_deg(lat, lon, ilat, ilon)
    # containing area (smallest non-building polygon)
    area_idx = np.full(n, -1, dtype=np.int64)
    if maps.area_tree is not None and n:
        pts = shapely.points(x, y)
        pi, ai = maps.area_tree.query(pts, predicate="within")
        kinds = maps.areas.kind.to_numpy()
        keep = kinds[ai] != "building"
        pi, ai = pi[keep], ai[keep]
        if len(pi):
            df = pd.DataFrame({"p": pi, "a": ai, "s": maps.areas.area_m2.to_numpy()[ai]})
            df = df.sort_values(["p", "s", "a"]).drop_duplicates("p")
            area_idx[df.p.to_numpy()] = df.a.to_numpy()
    return PointContext(poi_idx=idx, poi_dist=pdist, poi_bearing=pbear, bld_left=left, bld_right=right,
                        bld_share=share[BUILDING], green_share=share[GREEN], water_share=share[WATER],
                        levels=levels, n_poi_100=n_poi, n_commercial_100=n_comm, inter_node=inter_node,
                        inter_dist=inter_dist, inter_bearing=inter_bear, area_idx=area_idx)


def _is_shop(pois: pd.DataFrame) -> np.ndarray:
    """POIs whose category came from a shop=* tag (recorded in feature ids' source key when known)."""
    if "source_key" in pois.columns:
        return (pois.source_key == "shop").to_numpy()
    return np.zeros(len(pois), dtype=bool)


def pois_in_view(ctx: PointContext, row: int, heading: float, pois: pd.DataFrame,
                 max_m: float = 60.0, half_fov: float = 60.0) -> tuple[str, ...]:
    """POI categories within max_m and inside the camera's field of view, nearest first."""
    if not np.isfinite(heading):
        return ()
    out = []
    for j in range(ctx.poi_idx.shape[1]):
        i = ctx.poi_idx[row, j]
        if i < 0 or ctx.poi_dist[row, j] > max_m:
            continue
        diff = abs((ctx.poi_bearing[row, j] - heading + 180.0) % 360.0 - 180.0)
        if diff <= half_fov:
            out.append(str(pois.category.iat[i]))
    return tuple(out)
