"""The heterogeneous spatial graph: streets (segments), intersections, POIs, areas and images.

Node text follows the UGE paper: "Category: X, Name: Y, Area: Z, Coordinates: (lon, lat)" (Area = the city,
the finest administrative unit every extract has). Edge relations:

  connects        street -> intersection      a segment and each of its two end nodes
  on_same_street  street -> street            adjacent segments (sharing a node) with the same name
  intersection    street -> street            adjacent segments with different names (streets crossing)
  nearest         poi|area|image -> street    the nearest street segment within 100 m (images: their anchor)
  near            poi -> poi, image -> poi    within 50 m (at most 3 per POI, 5 per image)
  inside          poi|image -> area           contained in a building / land-use / park / water polygon
  bounds          street -> area              a street running along (within 10 m of) a park, land-use or water area

Every edge row carries the geodesic distance and initial bearing between the two nodes' anchor points
(streets are anchored at their midpoint, areas at a point on their surface), so a path's distances and
directions can be recomputed from the node table alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from ugcore.geo import bearing_deg, haversine_m
from ugdata.context import MapLayers
from ugdata.streets import StreetLayer

NEAREST_STREET_M = 100.0
NEAR_POI_M = 50.0
BOUNDS_M = 10.0
RELATIONS = ("connects", "on_same_street", "intersection", "nearest", "near", "inside", "bounds")
NODE_TYPES = ("street", "intersection", "poi", "area", "image")


def node_text(category: str, name: str, area: str, lon: float, lat: float) -> str:
    return f"Category: {category}, Name: {name or 'unnamed'}, Area: {area}, Coordinates: ({lon:.6f}, {lat:.6f})"


@dataclass
class CityGraph:
    """Graph parts of one city before images are added; ids are globally unique (city-prefixed)."""

    city: str
    nodes: pd.DataFrame  # node_id, type, name, category, lon, lat, attrs (JSON)
    edges: pd.DataFrame  # src, dst, rel
    street_ids: np.ndarray  # node id per segment row
    inter_ids: np.ndarray  # node id per street-node row
    poi_ids: np.ndarray  # node id per MapLayers.pois row
    area_ids: np.ndarray  # node id per MapLayers.areas row


def intersection_name(names: tuple[str, ...], degree: int) -> str:
    if len(names) >= 2:
        return "Intersection of " + " and ".join(names[:3])
    if len(names) == 1:
        return f"{'End of' if degree <= 1 else 'Point on'} {names[0]}"
    return ""


def build_city_graph(city: str, layer: StreetLayer, maps: MapLayers) -> CityGraph:
    segs = layer.segs
    sid = np.array([f"street/{city}/{i}" for i in range(len(segs))], dtype=object)
    iid = np.array([f"intersection/{city}/{o}" for o in layer.nodes.osmid], dtype=object)
    pid = np.array([f"poi/{city}/{f}" for f in maps.pois.feature_id], dtype=object)
    aid = np.array([f"area/{city}/{f}" for f in maps.areas.feature_id], dtype=object)
    frames = []
    frames.append(pd.DataFrame({
        "node_id": sid, "type": "street", "name": segs.name.to_numpy(), "category": segs.highway.to_numpy(),
        "lon": segs.mid_lon.to_numpy(), "lat": segs.mid_lat.to_numpy(),
        "attrs": [json.dumps({"length_m": round(float(a), 2), "bearing_deg": round(float(b), 1),
                              "lanes": float(c), "width_m": round(float(w), 2), "straightness": round(float(s), 3)})
                  for a, b, c, w, s in zip(segs.length_m, segs.bearing_deg, segs.lanes, segs.width_m,
                                           segs.straightness, strict=True)],
    }))
    deg = layer.nodes.degree.to_numpy()
    frames.append(pd.DataFrame({
        "node_id": iid, "type": "intersection",
        "name": [intersection_name(n, d) for n, d in zip(layer.nodes.names, deg, strict=True)],
        "category": np.where(deg >= 3, "intersection", np.where(deg <= 1, "dead end", "street node")),
        "lon": layer.nodes.lon.to_numpy(), "lat": layer.nodes.lat.to_numpy(),
        "attrs": [json.dumps({"street_count": int(d), "osmid": int(o)}) for d, o in zip(deg, layer.nodes.osmid, strict=True)],
    }))
    frames.append(pd.DataFrame({
        "node_id": pid, "type": "poi", "name": maps.pois.name.to_numpy(dtype=object),
        "category": maps.pois.category.to_numpy(dtype=object),
        "lon": maps.pois.lon.to_numpy(dtype=float), "lat": maps.pois.lat.to_numpy(dtype=float),
        "attrs": [json.dumps({"osm": f, "key": k}) for f, k in zip(maps.pois.feature_id, maps.pois.source_key, strict=True)],
    }))
    if len(maps.areas):
        rp = shapely.point_on_surface(maps.areas.geometry.to_numpy())
        alon, alat = shapely.get_x(rp), shapely.get_y(rp)
    else:
        alon = alat = np.array([])
    frames.append(pd.DataFrame({
        "node_id": aid, "type": "area", "name": maps.areas.name.to_numpy(dtype=object),
        "category": [f"{k}: {c}" if k != "building" or c != "yes" else "building"
                     for k, c in zip(maps.areas.kind, maps.areas.category, strict=True)],
        "lon": alon, "lat": alat,
        "attrs": [json.dumps({"osm": f, "kind": k, "area_m2": round(float(a), 1),
                              "levels": None if not np.isfinite(lv) else float(lv)})
                  for f, k, a, lv in zip(maps.areas.feature_id, maps.areas.kind, maps.areas.area_m2,
                                         maps.areas.levels.astype(float), strict=True)],
    }))
    nodes = pd.concat([f for f in frames if len(f)], ignore_index=True)
    nodes["name"] = nodes["name"].fillna("").astype(str)
    nodes["category"] = nodes["category"].astype(str)

    E = []
    # connects
    E.append(pd.DataFrame({"src": np.r_[sid, sid], "dst": np.r_[iid[segs.u_idx], iid[segs.v_idx]],
                           "rel": "connects"}))
    # street-street adjacency through shared nodes
    inc = pd.DataFrame({"n": np.r_[segs.u_idx, segs.v_idx], "s": np.r_[np.arange(len(segs)), np.arange(len(segs))]})
    pairs = inc.merge(inc, on="n")
    pairs = pairs[pairs.s_x < pairs.s_y].drop_duplicates(["s_x", "s_y"])
    nm = segs.name.to_numpy()
    same = (nm[pairs.s_x] == nm[pairs.s_y]) & (nm[pairs.s_x] != "")
    E.append(pd.DataFrame({"src": sid[pairs.s_x], "dst": sid[pairs.s_y],
                           "rel": np.where(same, "on_same_street", "intersection")}))
    # poi -> nearest street; poi -> poi near; poi -> inside area
    if len(maps.pois):
        pts = shapely.points(maps.pois.x.to_numpy(), maps.pois.y.to_numpy())
        (pi, si), dist = layer.tree.query_nearest(pts, max_distance=NEAREST_STREET_M, return_distance=True,
                                                  all_matches=False)
        first = np.r_[True, pi[1:] != pi[:-1]] if len(pi) else np.array([], dtype=bool)
        E.append(pd.DataFrame({"src": pid[pi[first]], "dst": sid[si[first]], "rel": "nearest"}))
        tree = cKDTree(maps.pois[["x", "y"]].to_numpy())
        d, j = tree.query(maps.pois[["x", "y"]].to_numpy(), k=min(4, len(maps.pois)), distance_upper_bound=NEAR_POI_M)
        d, j = d.reshape(len(pid), -1), j.reshape(len(pid), -1)
        a = np.repeat(np.arange(len(pid)), j.shape[1])
        b = j.ravel()
        ok = np.isfinite(d.ravel()) & (b != a) & (b < len(pid))
        a, b = a[ok], b[ok]
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        pp = pd.DataFrame({"a": lo, "b": hi}).drop_duplicates()
        E.append(pd.DataFrame({"src": pid[pp.a], "dst": pid[pp.b], "rel": "near"}))
        if maps.area_tree is not None:
            qi, ai = maps.area_tree.query(pts, predicate="within")
            E.append(pd.DataFrame({"src": pid[qi], "dst": aid[ai], "rel": "inside"}))
    if len(maps.areas):
        # building/area -> nearest street (from a point on its surface)
        rpm = shapely.point_on_surface(maps.area_geom_m)
        (ai, si), _ = layer.tree.query_nearest(rpm, max_distance=NEAREST_STREET_M, return_distance=True,
                                               all_matches=False)
        first = np.r_[True, ai[1:] != ai[:-1]] if len(ai) else np.array([], dtype=bool)
        E.append(pd.DataFrame({"src": aid[ai[first]], "dst": sid[si[first]], "rel": "nearest"}))
        big = np.flatnonzero(maps.areas.kind.to_numpy() != "building")
        if len(big):
            si2, bj = maps.area_tree.query(layer.geom_m, predicate="dwithin", distance=BOUNDS_M)
            keep = np.isin(bj, big)
            si2, bj = si2[keep], bj[keep]
            # along the boundary, not merely crossing the interior: the segment is near the ring
            rings = shapely.boundary(maps.area_geom_m[bj])
            near_ring = shapely.dwithin(layer.geom_m[si2], rings, BOUNDS_M)
            E.append(pd.DataFrame({"src": sid[si2[near_ring]], "dst": aid[bj[near_ring]], "rel": "bounds"}))
    edges = pd.concat([e for e in E if len(e)], ignore_index=True)
    return CityGraph(city=city, nodes=nodes, edges=edges, street_ids=sid, inter_ids=iid, poi_ids=pid, area_ids=aid)


def finalize_graph(nodes: pd.DataFrame, edges: pd.DataFrame, area_names: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Index nodes, write node text, resolve edge indices, and compute edge distances and bearings."""
    nodes = nodes.reset_index(drop=True).copy()
    nodes["idx"] = np.arange(len(nodes), dtype=np.int64)
    city = nodes["node_id"].str.split("/", n=2).str[1]
    area = city.map(area_names).fillna(city)
    nodes["text"] = [node_text(c, n, a, lo, la) for c, n, a, lo, la in
                     zip(nodes.category, nodes.name, area, nodes.lon, nodes.lat, strict=True)]
    nodes = nodes[["node_id", "idx", "type", "name", "category", "text", "lon", "lat", "attrs"]]
    pos = pd.Series(nodes.idx.to_numpy(), index=nodes.node_id.to_numpy())
    edges = edges.drop_duplicates(["src", "dst", "rel"]).reset_index(drop=True).copy()
    edges["src_idx"] = pos.reindex(edges.src.to_numpy()).to_numpy()
    edges["dst_idx"] = pos.reindex(edges.dst.to_numpy()).to_numpy()
    if edges[["src_idx", "dst_idx"]].isna().any().any():
        missing = edges[edges.src_idx.isna() | edges.dst_idx.isna()].iloc[0]
        raise RuntimeError(f"internal: edge references unknown node ({missing.src} -> {missing.dst})")
    edges["src_idx"] = edges.src_idx.astype(np.int64)
    edges["dst_idx"] = edges.dst_idx.astype(np.int64)
    lon, lat = nodes.lon.to_numpy(), nodes.lat.to_numpy()
    s, d = edges.src_idx.to_numpy(), edges.dst_idx.to_numpy()
    edges["distance_m"] = haversine_m(lat[s], lon[s], lat[d], lon[d]).astype(np.float32)
    edges["bearing_deg"] = bearing_deg(lat[s], lon[s], lat[d], lon[d]).astype(np.float32)
    edges = edges[["src", "dst", "src_idx", "dst_idx", "rel", "distance_m", "bearing_deg"]]
    return nodes, edges
