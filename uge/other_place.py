"""Another place's graph: a fixed, deterministic swap of ego subgraphs between places far apart in one city.

Why: to show that a stage-2 model's gain comes from the graph of *its own* place, the same checkpoint is scored
with every item's graph context replaced by the context of another place (UGEEmbedder graph_mode="other"). A
random other place could be a neighbour sharing streets and POIs; a context from another city would differ in
trivial ways (alphabet of names, coordinate range). So each city's places are sorted by (lon, lat) and place i
gets the context of place (i + n/2) mod n of the same city: a derangement that pairs places about half the city's
east-west extent apart. The pairing depends only on the data, so it is the same on every machine and rerun.

Only a view's graph (a context centred on a view's image node) is swapped. An item whose context is centred on
a street, POI or area node is that node: a geolocation candidate is a street with its one-node graph. Its graph
is its identity, not its surroundings, so it is kept; swapping it by its nearest place would hand the positive
candidate the very graph the query was given, and the probe would measure nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ugcore.errors import DataError
from ugcore.geo import haversine_m


@dataclass
class OtherPlaceGraphs:
    """Maps a view's graph context (centre first) to the context of its partner place."""

    contexts: list[list[str]]  # one representative context per place
    partner: np.ndarray  # place index -> partner place index
    by_centre: dict[str, int]  # a view's centre node id -> its place
    lonlat: np.ndarray  # (P, 2) place coordinates

    @classmethod
    def from_views(cls, views) -> OtherPlaceGraphs:
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
        return cls(contexts=[list(g) for g in places["graph_context"]], partner=partner, by_centre=by_centre,
                   lonlat=places[["lon", "lat"]].to_numpy(np.float64))

    @classmethod
    def from_data(cls, data_dir: str) -> OtherPlaceGraphs:
        """From a UGData folder (its views table, every split)."""
        import ugdata

        return cls.from_views(ugdata.load(data_dir).views())

    def swap(self, context: Sequence[str]) -> list[str]:
        """The partner place's context for a view's context (found by its centre, context[0]); any other
        context (centred on a street, POI or area node) unchanged."""
        i = self.by_centre.get(context[0])
        return list(context) if i is None else list(self.contexts[self.partner[i]])

    def distances_m(self) -> np.ndarray:
        """Metres between each place and its partner (what "another place" means here, for reports)."""
        p = self.lonlat[self.partner]
        return haversine_m(self.lonlat[:, 1], self.lonlat[:, 0], p[:, 1], p[:, 0])
