"""Another place's graph: a fixed, deterministic swap of ego subgraphs between places far apart in one city.

Why: to show that a stage-2 model's gain comes from the graph of *its own* place, the same checkpoint is scored
with every item's graph context replaced by the context of another place (UGEEmbedder graph_mode="other"). A
random other place could be a neighbour sharing streets and POIs; a context from another city would differ in
trivial ways (alphabet of names, coordinate range). So each city's places are sorted by (lon, lat) and place i
gets the context of place (i + n/2) mod n of the same city: a derangement that pairs places about half the city's
east-west extent apart. The pairing depends only on the data, so it is the same on every machine and rerun.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from ugcore.errors import DataError
from ugcore.geo import EARTH_RADIUS_M, haversine_m


@dataclass
class OtherPlaceGraphs:
    """Maps an item's graph context (centre first) to the context of its partner place."""

    contexts: list[list[str]]  # one representative context per place
    partner: np.ndarray  # place index -> partner place index
    by_centre: dict[str, int]  # a view's centre node id -> its place
    tree: cKDTree  # places in a local equirectangular frame, for centres that are not a view's
    lonlat: np.ndarray  # (P, 2) place coordinates
    node_lonlat: object  # the graph store's (N, 2) node coordinates, indexed through node_index
    node_index: dict[str, int]

    @classmethod
    def from_views(cls, views, node_index: dict[str, int], node_lonlat) -> OtherPlaceGraphs:
        """views: a DataFrame with image_id, city, lon, lat and graph_context (UGData's views table)."""
        v = views[views["graph_context"].map(len) > 0][["image_id", "city", "lon", "lat", "graph_context"]]
        v = v.sort_values("image_id", kind="stable")
        place_key = list(zip(v["city"], v["lon"].round(7), v["lat"].round(7), strict=True))
        v = v.assign(_place=place_key)
        first = v.drop_duplicates("_place")  # the smallest image_id of each place holds its context
        places = first.sort_values(["city", "lon", "lat", "image_id"], kind="stable").reset_index(drop=True)
        partner = np.empty(len(places), np.int64)
        for _city, rows in places.groupby("city", sort=True).groups.items():
            rows = np.asarray(sorted(rows))
            if len(rows) < 2:
                raise DataError(f"city '{_city}' has one place with a graph context: no other place to swap with")
            partner[rows] = np.roll(rows, -(len(rows) // 2))
        index = {k: i for i, k in enumerate(places["_place"])}
        by_centre = {g[0]: index[k] for g, k in zip(v["graph_context"], v["_place"], strict=True)}
        lonlat = places[["lon", "lat"]].to_numpy(np.float64)
        return cls(contexts=[list(g) for g in places["graph_context"]], partner=partner, by_centre=by_centre,
                   tree=cKDTree(_xy(lonlat)), lonlat=lonlat, node_lonlat=node_lonlat, node_index=node_index)

    @classmethod
    def from_data(cls, data_dir: str, store) -> OtherPlaceGraphs:
        """From a UGData folder and its already loaded GraphStore (uge.graph_data)."""
        import ugdata

        views = ugdata.load(data_dir).views()
        views = views.to_pandas() if hasattr(views, "to_pandas") else views
        return cls.from_views(views, store.index, store.lonlat.numpy())

    def place_of(self, centre: str) -> int:
        i = self.by_centre.get(centre)
        if i is not None:
            return i
        j = self.node_index.get(centre)
        if j is None:
            raise DataError(f"graph context centre '{centre}' is not in the graph node table")
        return int(self.tree.query(_xy(np.asarray(self.node_lonlat[j], np.float64)[None]))[1][0])

    def swap(self, context: Sequence[str]) -> list[str]:
        """The partner place's context for this context (decided by its centre, context[0])."""
        return list(self.contexts[self.partner[self.place_of(context[0])]])

    def distances_m(self) -> np.ndarray:
        """Metres between each place and its partner (what "another place" means here, for reports)."""
        p = self.lonlat[self.partner]
        return haversine_m(self.lonlat[:, 1], self.lonlat[:, 0], p[:, 1], p[:, 0])


def _xy(lonlat: np.ndarray) -> np.ndarray:
    """Lon/lat to a metre-scaled plane per point (cos of its own latitude): nearest-place lookup only, where
    places are metres to kilometres apart and cities are far apart, so the distortion never changes the answer."""
    lat = np.radians(lonlat[:, 1])
    return np.column_stack([np.radians(lonlat[:, 0]) * np.cos(lat), np.radians(lonlat[:, 1])]) * EARTH_RADIUS_M
