"""The street layer: undirected street segments and junctions in a local metric projection.

Everything spatial downstream (anchoring, context, routes) needs metres, so the street graph is projected
once to the local UTM zone (pyproj) and indexed with a shapely STRtree. Bearings are taken in the UTM grid;
the grid convergence inside one city is a degree or two, far below the 45-degree compass bins we report.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from shapely import STRtree
from shapely.geometry import LineString

# Class defaults when OSM has no lanes/width tag (typical European/North-American cross sections).
CLASS_LANES = {
    "motorway": 4, "trunk": 4, "primary": 4, "secondary": 2, "tertiary": 2, "unclassified": 2,
    "residential": 2, "living_street": 1, "pedestrian": 1, "service": 1, "road": 2,
}
LANE_WIDTH_M = 3.25
CLASS_RANK = {  # street-size order for perception proxies and captions
    "motorway": 7, "trunk": 6, "primary": 5, "secondary": 4, "tertiary": 3, "unclassified": 2,
    "residential": 2, "living_street": 1, "pedestrian": 1, "service": 1,
}


def _first(v):
    if isinstance(v, list):
        return v[0] if v else None
    return v


def _num(v) -> float:
    v = _first(v)
    if v is None:
        return float("nan")
    if isinstance(v, (int, float)):
        return float(v)
    m = re.match(r"\s*([0-9]+(?:\.[0-9]+)?)", str(v))
    return float(m.group(1)) if m else float("nan")


def _name(v) -> str:
    v = _first(v)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return str(v)


@dataclass
class StreetLayer:
    """Undirected street segments (one row per physical segment) and their end nodes, in metres."""

    crs: CRS
    nodes: pd.DataFrame  # osmid, lon, lat, x, y, degree (number of segments meeting), names (sorted tuple)
    segs: pd.DataFrame  # u, v, name, highway, lanes, width_m, length_m, bearing_deg, mid_lon, mid_lat, straightness
    geom_ll: np.ndarray  # shapely LineStrings, lon/lat
    geom_m: np.ndarray  # shapely LineStrings, metres
    tree: STRtree
    to_m: Transformer
    to_ll: Transformer
    node_pos: dict  # osmid -> row index in nodes

    def project(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.to_m.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        return np.asarray(x), np.asarray(y)

    def unproject(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        lon, lat = self.to_ll.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        return np.asarray(lon), np.asarray(lat)

    def csgraph(self):
        """Symmetric sparse adjacency of segment lengths (node index space = self.nodes rows); of parallel
        segments between one pair of nodes the shortest is kept (csr construction would sum them)."""
        ui = self.segs["u_idx"].to_numpy()
        vi = self.segs["v_idx"].to_numpy()
        w = np.maximum(self.segs["length_m"].to_numpy(), 0.01)
        return self._min_duplicates(ui, vi, w, len(self.nodes))

    @staticmethod
    def _min_duplicates(ui, vi, w, n):
        from scipy.sparse import csr_matrix

        df = pd.DataFrame({"a": np.r_[ui, vi], "b": np.r_[vi, ui], "w": np.r_[w, w]})
        df = df[df.a != df.b].groupby(["a", "b"], sort=True)["w"].min().reset_index()
        return csr_matrix((df.w.to_numpy(), (df.a.to_numpy(), df.b.to_numpy())), shape=(n, n))


def local_metric_crs(lon: float, lat: float) -> CRS:
    zone = int((lon + 180) // 6) + 1
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def build_street_layer(G: nx.MultiDiGraph) -> StreetLayer:
    rows = []
    seen = set()
    for u, v, _k, d in G.edges(keys=True, data=True):
        if u == v:
            continue
        length = float(_num(d.get("length")))
        geom = d.get("geometry")
        if geom is None:
            geom = LineString([(G.nodes[u]["x"], G.nodes[u]["y"]), (G.nodes[v]["x"], G.nodes[v]["y"])])
        a, b = (u, v) if u < v else (v, u)
        key = (a, b, round(geom.length, 7))
        if key in seen:  # the reverse twin of a two-way segment
            continue
        seen.add(key)
        if (a, b) != (u, v):
            geom = shapely.reverse(geom)
        rows.append((a, b, _name(d.get("name")), _name(d.get("highway")) or "road", _num(d.get("lanes")),
                     _num(d.get("width")), length, geom))
    segs = pd.DataFrame(rows, columns=["u", "v", "name", "highway", "lanes", "width_m", "osm_length", "geom"])
    segs = segs.sort_values(["u", "v", "osm_length"], kind="stable").reset_index(drop=True)
    geom_ll = segs.pop("geom").to_numpy()
    used = np.unique(np.r_[segs.u.to_numpy(), segs.v.to_numpy()])
    nlon = np.array([G.nodes[n]["x"] for n in used], dtype=float)
    nlat = np.array([G.nodes[n]["y"] for n in used], dtype=float)
    crs = local_metric_crs(float(np.median(nlon)), float(np.median(nlat)))
    to_m = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    geom_m = shapely.transform(geom_ll, lambda c: np.column_stack(to_m.transform(c[:, 0], c[:, 1])))
    segs["length_m"] = shapely.length(geom_m)
    # defaults for missing tags
    lanes_default = segs.highway.map(CLASS_LANES).fillna(2)
    segs["lanes"] = segs.lanes.where(segs.lanes.notna() & (segs.lanes > 0), lanes_default).astype(float)
    segs["width_m"] = segs.width_m.where(segs.width_m.notna() & (segs.width_m > 1), segs.lanes * LANE_WIDTH_M)
    start = shapely.get_point(geom_m, 0)
    end = shapely.get_point(geom_m, -1)
    dx = shapely.get_x(end) - shapely.get_x(start)
    dy = shapely.get_y(end) - shapely.get_y(start)
    segs["bearing_deg"] = (np.degrees(np.arctan2(dx, dy)) + 360.0) % 360.0
    chord = np.hypot(dx, dy)
    segs["straightness"] = np.where(segs.length_m > 0, chord / np.maximum(segs.length_m, 1e-9), 1.0)
    mid = shapely.line_interpolate_point(geom_ll, 0.5, normalized=True)
    segs["mid_lon"] = shapely.get_x(mid)
    segs["mid_lat"] = shapely.get_y(mid)
    nx_, ny_ = to_m.transform(nlon, nlat)
    nodes = pd.DataFrame({"osmid": used, "lon": nlon, "lat": nlat, "x": nx_, "y": ny_})
    node_pos = {int(o): i for i, o in enumerate(used)}
    segs["u_idx"] = segs.u.map(node_pos).astype(np.int64)
    segs["v_idx"] = segs.v.map(node_pos).astype(np.int64)
    inc = pd.concat([segs[["u_idx", "name"]].rename(columns={"u_idx": "n"}),
                     segs[["v_idx", "name"]].rename(columns={"v_idx": "n"})])
    nodes["degree"] = np.bincount(inc.n.to_numpy(), minlength=len(nodes))
    named = inc[inc.name != ""].drop_duplicates().sort_values(["n", "name"])
    names = named.groupby("n")["name"].apply(tuple)
    nodes["names"] = [names.get(i, ()) for i in range(len(nodes))]
    return StreetLayer(crs=crs, nodes=nodes, segs=segs, geom_ll=geom_ll, geom_m=geom_m, tree=STRtree(geom_m),
                       to_m=to_m, to_ll=to_ll, node_pos=node_pos)


def features_metric(features: gpd.GeoDataFrame, layer: StreetLayer) -> np.ndarray:
    geoms = features.geometry.to_numpy()
    if len(geoms) == 0:
        return np.array([], dtype=object)
    return shapely.transform(geoms, lambda c: np.column_stack(layer.to_m.transform(c[:, 0], c[:, 1])))
