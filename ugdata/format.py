"""The UGData on-disk contract: paths, column names and a reader.

Everything downstream (uge, ugbench) reads a UGData directory only through this module, so the
builder and its consumers cannot drift apart. The layout (all paths relative to the directory):

    manifest.json                 fingerprint, counts, splits, inputs (with sha256), seed, versions, config
    README.md                     dataset card (ODbL attribution; "synthetic images" notice where so)
    dataset/                      datasets.DatasetDict.save_to_disk, splits train / val / test (VIEW_COLUMNS)
    parquet/{split}.parquet       the same rows as self-contained Parquet (image bytes embedded)
    graph/nodes.parquet           NODE_COLUMNS, row order == integer node index
    graph/edges.parquet           EDGE_COLUMNS (directed rows; undirected relations appear once)
    graph/graph.graphml           the same graph for networkx / Gephi
    graph/pyg.pt                  torch_geometric.data.Data (torch.load(..., weights_only=False))
    paths/paths.parquet           spatial reasoning paths (PATH_COLUMNS)
    paths/routes.parquet          street-network routes with turn-by-turn steps (ROUTE_COLUMNS)
    tasks/<task>/task.json        TaskSpec
    tasks/<task>/queries.parquet  QUERY_COLUMNS
    tasks/<task>/corpus.parquet   CORPUS_COLUMNS (ranking tasks)
    tasks/<task>/targets.parquet  perception targets (perception tasks)
    tasks/<task>/pairs.parquet    pairwise perception comparisons (perception tasks)
    rejects.csv                   REJECT_COLUMNS: every input row not used, with the reason
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from ugcore.errors import DataError

FORMAT_NAME = "ugdata"
FORMAT_VERSION = 1

MANIFEST = "manifest.json"
CARD = "README.md"
DATASET_DIR = "dataset"
PARQUET_DIR = "parquet"
GRAPH_DIR = "graph"
NODES = "graph/nodes.parquet"
EDGES = "graph/edges.parquet"
GRAPHML = "graph/graph.graphml"
PYG = "graph/pyg.pt"
PATHS = "paths/paths.parquet"
ROUTES = "paths/routes.parquet"
TASKS_DIR = "tasks"
REJECTS = "rejects.csv"

SPLITS = ("train", "val", "test")

# One row per street view (image). Angles are degrees clockwise from north in [0, 360).
VIEW_COLUMNS: dict[str, str] = {
    "image_id": "str, unique across the dataset",
    "image": "datasets.Image with bytes embedded",
    "lat": "float64 WGS84",
    "lon": "float64 WGS84",
    "heading": "float32 camera heading, deg from north",
    "fov_index": "int8: 0 front (along street), 1 right, 2 back, 3 left; -1 unknown",
    "city": "str",
    "captured_at": "str ISO-8601 or empty",
    "synthetic": "bool",
    "split": "str train|val|test",
    "node_id": "str, this image's node in the graph ('image/<image_id>')",
    "street_node_id": "str, the street node it is anchored to",
    "street_name": "str ('' for unnamed)",
    "street_class": "str OSM highway value",
    "snap_distance_m": "float32 distance to the street edge",
    "street_bearing_deg": "float32 bearing of the street edge at the snap point",
    "relative_heading_deg": "float32 camera heading minus street bearing, in [0, 360)",
    "side": "str left|right side of the street (w.r.t. the edge direction)",
    "caption": "str spatial context caption",
    "paths": "list[str] reasoning paths in text form",
    "graph_context": "list[str] node ids of the ego subgraph, centre (the image node) first",
    "hard_negative_ids": "list[str] image ids spatially near but not the same place",
    "queries": "struct{atmosphere, activity, object, geography, creativity} StreetSem-style queries",
    "perception": "struct of float proxies (greenery, commercial, street_size, building_density, ...)",
}

# Per-image licence columns: present in datasets built from real street views (--views/--images), absent in
# synthetic builds (rendered images, licence "synthetic"; leaving them out keeps those builds' identity).
# None where the input table gave nothing (licence unknown). See ugdata/licenses.py.
VIEW_LICENSE_COLUMNS: dict[str, str] = {
    "license": "str or None the image's licence as its source states it (e.g. 'CC BY-SA 4.0'); None = unknown",
    "creator": "str or None who took the image (credit them)",
    "attribution_url": "str or None the page to link for attribution (e.g. https://www.mapillary.com/app/?pKey=<id>)",
    "provider": "str or None where the image came from (mapillary, osv5m, kartaview, ...)",
}

NODE_COLUMNS: dict[str, str] = {
    "node_id": "str ('street/..', 'intersection/..', 'poi/..', 'area/..', 'image/..')",
    "idx": "int64, == row index",
    "type": "str street|intersection|poi|area|image",
    "name": "str",
    "category": "str",
    "text": "str node text: 'Category: X, Name: Y, Area: Z, Coordinates: (lon, lat)'",
    "lon": "float64",
    "lat": "float64",
    "attrs": "str JSON object with type-specific attributes",
}

EDGE_COLUMNS: dict[str, str] = {
    "src": "str node id",
    "dst": "str node id",
    "src_idx": "int64",
    "dst_idx": "int64",
    "rel": "str on_same_street|intersection|nearest|near|inside|bounds|connects|...",
    "distance_m": "float32 geodesic distance between the node anchors",
    "bearing_deg": "float32 bearing src -> dst",
}

PATH_COLUMNS: dict[str, str] = {
    "path_id": "str",
    "image_id": "str the start image",
    "split": "str",
    "text": "str '(src, rel, tgt) (50m, S) -> ...'",
    "node_ids": "list[str] hops+1 nodes",
    "rels": "list[str] hops relations",
    "distances_m": "list[float] per hop",
    "bearings_deg": "list[float] per hop",
    "total_m": "float",
    "hops": "int",
}

ROUTE_COLUMNS: dict[str, str] = {
    "route_id": "str",
    "src_image_id": "str",
    "dst_image_id": "str",
    "split": "str",
    "text": "str turn-by-turn",
    "steps": "list[struct{street, length_m, turn, compass}]",
    "node_ids": "list[str] street-network nodes along the route",
    "total_m": "float",
}

# Ranking tasks: each query ranks its own candidate list (local protocol) or, when candidate_ids is
# empty, the whole corpus (global protocol). Items reference images by image_id (looked up in the dataset).
QUERY_COLUMNS: dict[str, str] = {
    "query_id": "str",
    "split": "str",
    "text": "str or None",
    "image_id": "str or None",
    "graph_context": "list[str] node ids (may be empty)",
    "lat": "float64 truth location (for geo metrics; never shown to the model)",
    "lon": "float64",
    "qtype": "str question/query type for per-type breakdowns",
    "candidate_ids": "list[str] doc ids (empty = rank the whole corpus)",
    "positive_ids": "list[str] relevant doc ids",
}

# Optional extra query columns written by the builder:
QUERY_EXTRA_COLUMNS: dict[str, str] = {
    "query_mode": "str the paper's query mode: image, text or fusion (image plus text); one data folder may hold "
                  "several, each scored by its own ugbench task (geoloc_rank, geoloc_rank_fusion, ...); task.json "
                  "extra['query_modes'] gives each mode's item modalities, instructions['query:<mode>'] its "
                  "instruction",
}

CORPUS_COLUMNS: dict[str, str] = {
    "doc_id": "str",
    "text": "str or None",
    "image_id": "str or None",
    "graph_context": "list[str]",
    "lat": "float64",
    "lon": "float64",
    "kind": "str what the document is (location, image, answer, ...)",
}

# Optional extra corpus columns written by the builder (consumers may ignore them):
CORPUS_EXTRA_COLUMNS: dict[str, str] = {
    "split": "str the split of the document's view ('' for split-free documents such as POIs); global-protocol "
             "tasks (streetsem) rank only the corpus rows of the query's split",
    "fov_index": "int8 (image corpora) the view's fov_index",
}

# Perception (probe) tasks: targets.parquet has one row per view, plus one float column per attribute
# named in task.json extra["attributes"]; pairs.parquet holds pairwise comparisons.
TARGET_COLUMNS: dict[str, str] = {
    "image_id": "str",
    "split": "str train|val|test",
    "fold": "int8 spatially blocked cross-validation fold (0..extra['folds']-1)",
    "lat": "float64",
    "lon": "float64",
    "graph_context": "list[str] node ids (centre first)",
}
PAIR_COLUMNS: dict[str, str] = {
    "pair_id": "str",
    "split": "str (both images are in this split)",
    "attribute": "str one of extra['attributes']",
    "image_a": "str image_id",
    "image_b": "str image_id",
    "label": "float32 1.0 if image_a scores higher on the attribute, else 0.0",
}

REJECT_COLUMNS = ("source", "row", "image_id", "stage", "reason")


@dataclass
class TaskSpec:
    """tasks/<name>/task.json: the DATA facts of a UGData task (what its folder holds), read by ugbench at
    evaluation time. The scoring facts (family, main score, protocol, metrics) belong to the ugbench task
    (ugbench.tasks.registry.TaskMeta), which alone is read for them.

    `family`, `main_score` and `protocol` are LEGACY: task.json files written before ugbench 1.3 carry them (and
    a `metrics` list in `extra`), but nothing reads them; no builder writes them any more (empty: left out).
    """

    name: str
    description: str = ""  # what the data is (how queries and candidates were made)
    query_modalities: list[str] = field(default_factory=list)  # what the query items carry: text, image, graph
    doc_modalities: list[str] = field(default_factory=list)
    instructions: dict[str, str] = field(default_factory=dict)  # side -> instruction written with the data
    splits: list[str] = field(default_factory=lambda: ["test"])  # the splits the task's tables hold
    version: str = "1"  # of the data task (results record it as data_task_version)
    extra: dict[str, Any] = field(default_factory=dict)
    family: str = ""  # legacy (see above)
    main_score: str = ""  # legacy
    protocol: str = ""  # legacy

    LEGACY = ("family", "main_score", "protocol")

    @classmethod
    def from_json(cls, path: Path) -> TaskSpec:
        data = json.loads(Path(path).read_text())
        known = {k: data.pop(k) for k in list(data) if k in cls.__dataclass_fields__}
        spec = cls(**known)
        spec.extra.update(data)
        return spec

    def to_json(self) -> str:
        doc = {k: v for k, v in self.__dict__.items() if not (k in self.LEGACY and v == "")}
        return json.dumps(doc, indent=2, sort_keys=True)


class NotUGDataError(DataError, ValueError):
    """Raised when a directory is not a readable UGData directory. A DataError (so a UserError: CLIs print its
    message as one line, no re-wrapping needed); still a ValueError for callers that caught it as one."""


class DataModifiedError(NotUGDataError):
    """Raised by UGData.verify() when the files are not the content the manifest's fingerprint names."""


class UGData:
    """Read-only view of a UGData directory. Tables load lazily and are cached."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        mf = self.root / MANIFEST
        if not mf.is_file():
            raise NotUGDataError(
                f"{self.root} is not a UGData directory (no {MANIFEST}); build one with `ugdata build --out DIR`"
            )
        try:
            self.manifest: dict[str, Any] = json.loads(mf.read_text())
        except json.JSONDecodeError as e:
            raise NotUGDataError(f"{mf} is not valid JSON ({e}); rebuild the directory") from e
        if self.manifest.get("format") != FORMAT_NAME:
            raise NotUGDataError(f"{mf} does not describe a UGData directory (format != 'ugdata')")

    @property
    def fingerprint(self) -> str:
        """The fingerprint the manifest states (not checked; see verify())."""
        return str(self.manifest["fingerprint"])

    def verify(self) -> str:
        """The fingerprint of the content on disk, checked against the manifest's (ugdata/fingerprint.py; cached
        by file stat, so an unchanged directory costs a stat per file). Raises DataModifiedError (a
        NotUGDataError) with a one-line message naming the changed files and the fix (rebuild)."""
        from ugdata.fingerprint import verify

        return verify(self.root, self.manifest)

    @cached_property
    def dataset(self):
        import datasets

        return datasets.load_from_disk(str(self.root / DATASET_DIR))

    @cached_property
    def nodes(self) -> pd.DataFrame:
        return pd.read_parquet(self.root / NODES)

    @cached_property
    def edges(self) -> pd.DataFrame:
        return pd.read_parquet(self.root / EDGES)

    @cached_property
    def paths(self) -> pd.DataFrame:
        return pd.read_parquet(self.root / PATHS)

    @cached_property
    def routes(self) -> pd.DataFrame:
        return pd.read_parquet(self.root / ROUTES)

    def task_names(self) -> list[str]:
        d = self.root / TASKS_DIR
        return sorted(p.name for p in d.iterdir() if (p / "task.json").is_file()) if d.is_dir() else []

    def task_spec(self, name: str) -> TaskSpec:
        p = self.root / TASKS_DIR / name / "task.json"
        if not p.is_file():
            raise NotUGDataError(f"{self.root} has no task '{name}' (missing {p}); tasks: {self.task_names()}")
        return TaskSpec.from_json(p)

    def task_table(self, name: str, table: str) -> pd.DataFrame:
        """table is one of queries, corpus, targets, pairs."""
        p = self.root / TASKS_DIR / name / f"{table}.parquet"
        if not p.is_file():
            raise NotUGDataError(f"task '{name}' in {self.root} has no {table} table ({p})")
        return pd.read_parquet(p)

    @cached_property
    def _image_index(self) -> dict[str, tuple[str, int]]:
        index: dict[str, tuple[str, int]] = {}
        for split, ds in self.dataset.items():
            for i, image_id in enumerate(ds["image_id"]):
                index[image_id] = (split, i)
        return index

    def views(self, split: str | None = None) -> pd.DataFrame:
        """View rows without the image bytes (fast metadata access)."""
        frames = []
        for name, ds in self.dataset.items():
            if split is not None and name != split:
                continue
            frames.append(ds.remove_columns(["image"]).to_pandas())
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def image(self, image_id: str):
        """The PIL image for an image_id (decoded from the embedded bytes)."""
        from PIL import Image

        try:
            split, i = self._image_index[image_id]
        except KeyError:
            raise KeyError(f"image_id '{image_id}' not found in {self.root / DATASET_DIR}") from None
        ds = self.dataset[split]
        raw = ds.with_format("arrow")[i]["image"][0].as_py()
        data = raw.get("bytes") if isinstance(raw, dict) else None
        if data is None and isinstance(raw, dict) and raw.get("path"):
            return Image.open(self.root / raw["path"]).convert("RGB")
        return Image.open(io.BytesIO(data)).convert("RGB")


def load(root: str | Path) -> UGData:
    """Open a UGData directory (the public entry point: `ugdata.load(path)`)."""
    return UGData(root)
