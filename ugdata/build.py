"""`build_ugdata`: OSM + street views (real or synthetic) -> a UGData directory (see ugdata/format.py).

Stages (each timed into manifest["timings_s"]): load OSM -> street layer and map layers -> city graph ->
views (load or sample) -> anchoring (+ rejects) -> spatial context -> image nodes and edges -> splits
(+ buffer rejects) -> captions, queries, perception, graph context, hard negatives -> reasoning paths ->
routes -> images (render or read) -> tasks -> write (atomically) -> fingerprint + manifest.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from ugcore.atomic import atomic_dir, remove_stale_temps, write_json_atomic, write_text_atomic
from ugcore.errors import DataError, UserError
from ugcore.provenance import git_commit, utc_now, versions
from ugdata import format as F
from ugdata.anchor import anchor_points, fov_index_from_relative, relative_heading, sample_street_points
from ugdata.captions import Captioner, CaptionFacts, NearbyPOI, TemplateCaptioner
from ugdata.context import MapLayers, PointContext, build_map_layers, point_context, pois_in_view
from ugdata.fingerprint import sha256_file
from ugdata.graph import CityGraph, build_city_graph, finalize_graph
from ugdata.osm_source import OSMData, load_osm
from ugdata.paths import reasoning_paths, sample_per_cell
from ugdata.routes import compute_routes, pick_route_pairs, pick_route_pairs_grouped
from ugdata.semantics import perception_row, queries_row
from ugdata.splits import assign_splits
from ugdata.streets import CLASS_RANK, StreetLayer, build_street_layer, features_metric

DEFAULT_SYNTH_POINTS = 300
FOV_NAMES = ("front", "right", "back", "left")


@dataclass
class BuildConfig:
    """Every knob of a build (recorded in manifest["config"]). CLI flags map 1:1 onto these fields."""

    osm: list[str] = field(default_factory=list)  # local files or pkg:NAME[@W,S,E,N] (ugdata/cities); several = several cities
    place: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    clip: tuple[float, float, float, float] | None = None
    network: str = "streets"
    city: str | None = None  # name for a single input (default: from the file name)
    views: str | None = None  # metadata table
    images: str | None = None  # images folder
    synth: int | None = None  # number of synthetic view points (default when no views: 300)
    # points per city by name (all cities named); set, it fixes each city's count instead of spreading `synth`
    # by street length (a benchmark needs enough points in each held-out city, whatever its street length)
    synth_per_city: dict[str, int] | None = None
    synth_size: int = 128
    views_per_point: int = 4
    render: bool = True  # False: metadata only (no image bytes), for benchmarks
    seed: int = 0
    max_snap_m: float = 25.0
    block_m: float = 200.0
    buffer_m: float = 30.0
    val_frac: float = 0.1
    test_frac: float = 0.15
    holdout_city: str | list[str] | None = None  # one or several cities put wholly in test (a list once resolved)
    max_paths_per_image: int = 10
    paths_per_cell: int = 3
    routes_per_point: int = 1
    route_min_m: float = 100.0
    route_max_m: float = 800.0
    graph_context_max: int = 64
    n_candidates: int = 10
    max_queries: int = 700
    max_routes: int | None = None  # cap on routes (sources sampled with the seed); None = routes_per_point each
    routes_per_source: int = 128  # under max_routes: destinations per sampled source (one search serves them all)
    graphml: bool = True
    # the named preset (ugdata/presets) these values came from: in manifest["config"] only, not on the card, so
    # the same configuration typed out flag by flag builds the same data and fingerprint
    preset: str | None = None

    def __post_init__(self) -> None:
        # Float fields hold floats whatever the caller passed (an int from Python, a float from the CLI), so the
        # manifest's config and the dataset card (which print them) and hence the fingerprint are the same for
        # `build_ugdata(block_m=100)` and `--block-m 100`.
        from dataclasses import fields

        for f in fields(self):
            v = getattr(self, f.name)
            if f.type in ("float", float) and isinstance(v, int) and not isinstance(v, bool):
                setattr(self, f.name, float(v))


@dataclass
class CityState:
    data: OSMData
    layer: StreetLayer
    maps: MapLayers
    graph: CityGraph


class _Timer:
    """Wall and CPU seconds plus peak RSS per stage (CPU time is the fair number on a shared machine)."""

    def __init__(self, log: Callable[[str], None] | None):
        self.t = {}
        self.cpu = {}
        self.mem = {}
        self.log = log

    def stage(self, name: str):
        timer = self

        class _Ctx:
            def __enter__(self):
                self.t0 = time.perf_counter()
                self.c0 = time.process_time()
                if timer.log:
                    timer.log(name)

            def __exit__(self, *exc):
                timer.t[name] = round(time.perf_counter() - self.t0, 3)
                timer.cpu[name] = round(time.process_time() - self.c0, 3)
                timer.mem[name] = _peak_rss_mb()

        return _Ctx()


def _peak_rss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


# ------------------------------------------------------------------------------------------------- views
def _synthetic_views(cs: CityState, n_points: int, per_point: int, seed: int) -> pd.DataFrame:
    pts = sample_street_points(cs.layer, n_points, seed)
    rows = []
    city = cs.data.city
    for k in range(per_point):
        rows.append(pd.DataFrame({"point": pts.point.to_numpy(), "lon": pts.lon.to_numpy(), "lat": pts.lat.to_numpy(),
                                  "fov_slot": k}))
    v = pd.concat(rows, ignore_index=True).sort_values(["point", "fov_slot"]).reset_index(drop=True)
    v["image_id"] = [f"{city}-{p:06d}-{FOV_NAMES[k] if per_point <= 4 else k}" for p, k in zip(v.point, v.fov_slot, strict=True)]
    v["city"] = city
    v["heading"] = np.nan  # set after anchoring: street bearing + 90 deg x slot
    v["captured_at"] = ""
    v["synthetic"] = True
    v["image_path"] = ""
    v["source"] = f"synthetic:{city}"
    v["row"] = v.index + 1
    return v


def _real_views(cfg: BuildConfig, cities: list[CityState]) -> tuple[pd.DataFrame, pd.DataFrame]:
    from ugdata.views.load import load_views

    res = load_views(Path(cfg.views) if cfg.views else None, Path(cfg.images) if cfg.images else None,
                     city=cities[0].data.city if len(cities) == 1 else None)
    v = res.rows.copy()
    v["synthetic"] = False
    v["point"] = np.arange(len(v))
    v["fov_slot"] = -1
    return v, res.rejects


# ----------------------------------------------------------------------------------------------- helpers
def _ego_context(image_node: np.ndarray, first_hop: list[list[int]], adj_indptr, adj_indices, cap: int,
                 node_ids: list[str]) -> list[list[str]]:
    """Centre image, its neighbours, then their neighbours, capped at `cap` nodes. The adjacency passed in
    excludes image nodes (a street has thousands of images; other images are not context). The ordered
    de-duplication runs in C (dict.fromkeys over a chain) rather than element by element in Python."""
    from itertools import chain, islice

    indptr = adj_indptr.tolist()
    nbrs = adj_indices.tolist()
    cache: dict[int, list[int]] = {}

    def around(n: int) -> list[int]:
        got = cache.get(n)
        if got is None:
            got = cache[n] = nbrs[indptr[n]: indptr[n + 1]]
        return got

    out = []
    for c, hop1 in zip(image_node.tolist(), first_hop, strict=True):
        order = islice(dict.fromkeys(chain((c,), hop1, *map(around, hop1))), cap)
        out.append([node_ids[i] for i in order])
    return out


def _csr_neighbours(n: int, s: np.ndarray, d: np.ndarray):
    a = np.r_[s, d]
    b = np.r_[d, s]
    order = np.lexsort((b, a))
    a, b = a[order], b[order]
    indptr = np.r_[0, np.cumsum(np.bincount(a, minlength=n))]
    return indptr, b


# ------------------------------------------------------------------------------------------------- build
def _object_strings():
    """Build with Python-object string columns: pandas 3 infers Arrow strings, whose per-element access
    from Python costs microseconds and adds minutes at city scale. The option is deprecated in pandas 3
    (removed in 4); without it the build is only slower, never different."""
    import contextlib
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pd.option_context("future.infer_string", False)
        except Exception:  # pandas >= 4: option gone
            return contextlib.nullcontext()


def build_ugdata(
    out: str | Path,
    config: BuildConfig | None = None,
    *,
    captioner: Captioner | None = None,
    overwrite: bool = False,
    log: Callable[[str], None] | None = None,
    **overrides,
) -> Path:
    """Build a UGData directory at `out` and return its path. Raises UserError/DataError on bad input.

    `config` fields may also be given as keyword overrides, e.g. build_ugdata(out, synth=100, clip=(...)).
    """
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*infer_string.*")
        with _object_strings():
            return _build(out, config, captioner=captioner, overwrite=overwrite, log=log, **overrides)


def _build(
    out: str | Path,
    config: BuildConfig | None = None,
    *,
    captioner: Captioner | None = None,
    overwrite: bool = False,
    log: Callable[[str], None] | None = None,
    **overrides,
) -> Path:
    """The pipeline: each stage below is one function, timed under its name into manifest["timings_s"]."""
    cfg = _configure(config, overrides)
    out = Path(out)
    # what a killed earlier build of `out` left beside it: its temporary folder (several MB), and its old output
    # if the kill fell mid-swap (put back), so that the checks below see what is really there
    remove_stale_temps(out.parent, out.name)
    check_output(out, overwrite)
    _check_options(cfg)
    _check_view_options(cfg)
    captioner = captioner or TemplateCaptioner()
    T = _Timer(log)

    cities = _load_cities(cfg, T)  # stages load_osm, street_layer, map_layers, city_graph
    rejects: list[pd.DataFrame] = []
    with T.stage("views"):
        views = _load_views(cfg, cities, out, rejects)
    with T.stage("anchor"):  # per city; real views go to the city whose streets are nearest
        views = _anchor_views(views, cities, cfg, out, rejects)
    with T.stage("context"):
        ctx_by_city = _point_contexts(views, cities)
    with T.stage("splits"):  # needs only positions
        views = _split_views(views, cfg, rejects)
    with T.stage("view_facts"):  # per-view facts, image nodes and edges
        views, img_nodes, img_edges = _view_facts(_objectify(views), cities, ctx_by_city, captioner, cfg)
        views = _objectify(views)
    with T.stage("graph_tables"):
        nodes, edges = _graph_tables(cities, img_nodes, img_edges)
    with T.stage("graph_context"):
        img_idx = _image_node_index(views, nodes)
        views["graph_context"] = _graph_context(views, nodes, edges, img_idx, cfg.graph_context_max)
        views["hard_negative_ids"] = _hard_negatives(views)
    with T.stage("reasoning_paths"):
        paths = _reasoning_paths(views, nodes, edges, img_idx, cfg)
        views["paths"] = _path_texts(views, paths)
    with T.stage("routes"):
        routes = _routes(views, cities, cfg)
    with T.stage("images"):
        image_bytes = _images(views, cfg)
    with T.stage("tasks"):
        task_out, omitted = _tasks(views, nodes, paths, cfg, log)
    built = _Built(views, image_bytes, nodes, edges, paths, routes, task_out, omitted, _all_rejects(rejects))

    with T.stage("write"), atomic_dir(out, overwrite=overwrite) as tmp:
        split_sizes = _write_all(tmp, built, cfg)
        _write_manifest(tmp, built, split_sizes, cities, cfg, captioner, T)
    return out


@dataclass
class _Built:
    """Everything a build writes (besides the manifest and card)."""

    views: pd.DataFrame
    image_bytes: dict[str, bytes | None]
    nodes: pd.DataFrame
    edges: pd.DataFrame
    paths: pd.DataFrame
    routes: pd.DataFrame
    task_out: dict  # task name -> TaskOutput
    omitted: dict[str, str]  # tasks this data cannot support, with the reason (manifest, `ugdata check`)
    rejects: pd.DataFrame


# ------------------------------------------------------------------------------------------- build stages
def _configure(config: BuildConfig | None, overrides: dict) -> BuildConfig:
    """`config` (or the defaults, or the preset named by a `preset=` override) with the keyword overrides
    applied; an unknown name is refused. The held-out cities become a list (one name, a comma list or a list)."""
    if config is None and overrides.get("preset"):
        from ugdata.presets import build_config

        cfg = build_config(overrides["preset"], **{k: v for k, v in overrides.items() if k != "preset"})
    else:
        cfg = config or BuildConfig()
        for k, v in overrides.items():
            if not hasattr(cfg, k):
                raise UserError(f"unknown build option '{k}'")
            setattr(cfg, k, v)
    cfg.holdout_city = holdout_list(cfg.holdout_city)
    return cfg


def holdout_list(value: str | list[str] | tuple[str, ...] | None) -> list[str] | None:
    """Held-out city names in the order given, duplicates dropped: "a", "a,b" and ["a", "b"] all work (the
    old single-name form stays valid); None when there are none, so a build without any is unchanged."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    out = list(dict.fromkeys(x.strip() for item in items for x in str(item).split(",") if x.strip()))
    return out or None


def _close(name: str, choices: list[str]) -> str:
    """' (did you mean X?)' for a misspelt city name, else ''."""
    import difflib

    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return f" (did you mean {close[0]}?)" if close else ""


def _check_view_options(cfg: BuildConfig) -> None:
    """Real or synthetic views, not both; synthetic by default (DEFAULT_SYNTH_POINTS points)."""
    if cfg.synth_per_city is not None:
        counts = dict(cfg.synth_per_city)
        bad = {k: v for k, v in counts.items() if isinstance(v, bool) or not isinstance(v, int) or v <= 0}
        if not counts or bad:
            raise UserError("--synth-per-city needs a positive whole number of view points for each city, got "
                            f"{bad or counts}")
        if cfg.views or cfg.images:
            raise UserError("give either --views/--images (real street views) or --synth-per-city, not both")
        if cfg.synth is not None and cfg.synth != sum(counts.values()):
            raise UserError(f"--synth {cfg.synth} and --synth-per-city (total {sum(counts.values())}) disagree; "
                            "give one of them")
        cfg.synth = sum(counts.values())
    if cfg.views is None and cfg.images is None and cfg.synth is None:
        cfg.synth = DEFAULT_SYNTH_POINTS
    if (cfg.views or cfg.images) and cfg.synth:
        raise UserError("give either --views/--images (real street views) or --synth N, not both")
    if cfg.synth is not None and cfg.synth <= 0:
        raise UserError(f"--synth must be a positive number of view points, got {cfg.synth}")
    if not 1 <= cfg.views_per_point <= 8:
        raise UserError(f"--views-per-point must be 1..8, got {cfg.views_per_point}")


def _load_cities(cfg: BuildConfig, T: _Timer) -> list[CityState]:
    """OSM -> one CityState per input (street layer, map layers, city graph), each step a timed stage."""
    with T.stage("load_osm"):
        datas = _load_osm_inputs(cfg)
    _check_city_names(cfg, sorted(d.city for d in datas))
    with T.stage("street_layer"):
        layers = [build_street_layer(d.graph) for d in datas]
    with T.stage("map_layers"):
        maps = [build_map_layers(d.features, features_metric(d.features, lay), lay) for d, lay in zip(datas, layers, strict=True)]
    with T.stage("city_graph"):
        return [CityState(d, lay, m, build_city_graph(d.city, lay, m))
                for d, lay, m in zip(datas, layers, maps, strict=True)]


def _check_city_names(cfg: BuildConfig, names: list[str]) -> None:
    """Every held-out city and every city of --synth-per-city is an input city, and every input city has a
    point count: a misspelt name would otherwise silently train on a city meant for test (or sample none)."""
    for h in cfg.holdout_city or []:
        if h not in names:
            raise UserError(f"--holdout-city '{h}' is not one of the input cities {names}{_close(h, names)}")
    if cfg.synth_per_city is not None:
        for k in sorted(cfg.synth_per_city):
            if k not in names:
                raise UserError(f"--synth-per-city names '{k}', which is not one of the input cities {names}"
                                f"{_close(k, names)}")
        missing = [n for n in names if n not in cfg.synth_per_city]
        if missing:
            raise UserError(f"--synth-per-city gives no point count for the input cities {missing}; name every "
                            f"city (e.g. {missing[0]}=500)")


def _load_osm_inputs(cfg: BuildConfig) -> list[OSMData]:
    """A place or bbox (network), the given files or packaged cities (one city each, names made distinct), or
    the embedded extract."""
    from ugdata.cities import is_packaged
    from ugdata.cities import resolve as resolve_city

    if cfg.place is not None or cfg.bbox is not None:
        return [load_osm(place=cfg.place, bbox=cfg.bbox, network=cfg.network, city=cfg.city)]
    if not cfg.osm:
        return [load_osm(None, clip=cfg.clip, network=cfg.network, city=cfg.city)]
    datas: list[OSMData] = []
    names = set()
    for p in cfg.osm:
        single = cfg.city if len(cfg.osm) == 1 else None
        if is_packaged(p):
            r = resolve_city(p, cfg.clip)
            d = load_osm(r.path, clip=r.clip, network=cfg.network, city=single or r.city.name)
            d.source = f"pkg:{r.city.name}"
        else:
            d = load_osm(Path(p), clip=cfg.clip, network=cfg.network, city=single)
        if d.city in names:
            d.city = f"{d.city}_{len(names)}"
        names.add(d.city)
        datas.append(d)
    return datas


def _load_views(cfg: BuildConfig, cities: list[CityState], out: Path, rejects: list[pd.DataFrame]) -> pd.DataFrame:
    """Synthetic view points spread over the cities by street length, or the real views table (its rejected
    rows appended to `rejects`)."""
    if cfg.synth:
        if cfg.synth_per_city:
            per_city = [int(cfg.synth_per_city[c.data.city]) for c in cities]
        else:
            per_city = _split_counts(cfg.synth, [c.layer.segs.length_m.sum() for c in cities])
        parts = [_synthetic_views(c, n, cfg.views_per_point, int(cfg.seed) + 1000 * i)
                 for i, (c, n) in enumerate(zip(cities, per_city, strict=True)) if n > 0]
        return pd.concat(parts, ignore_index=True)
    try:
        views, rj = _real_views(cfg, cities)
    except DataError as e:  # no usable row at all: still write the rejects report the message points to
        res = getattr(e, "result", None)
        if res is None or not len(res.rejects):
            raise
        raise DataError(f"{e}; every rejected row with its reason: {_write_failed_rejects(out, [res.rejects])}"
                        ) from None
    rejects.append(rj)
    return views


def _anchor_views(views: pd.DataFrame, cities: list[CityState], cfg: BuildConfig, out: Path,
                  rejects: list[pd.DataFrame]) -> pd.DataFrame:
    """Views snapped to their streets (the rest appended to `rejects`); none left is an error."""
    anchored, anchor_rejects = _anchor_all(views, cities, cfg)
    rejects.append(anchor_rejects)
    if anchored.empty:
        swapped = "" if cfg.synth else _swapped_hint(anchor_rejects, cities, cfg, views)
        raise DataError(f"no usable street views remain: all {len(anchor_rejects)} were farther than "
                        f"--max-snap-m {cfg.max_snap_m:g} from every street{swapped}; see the rejects in "
                        f"{_write_failed_rejects(out, rejects)}")
    return anchored


def _point_contexts(views: pd.DataFrame, cities: list[CityState]) -> dict[str, tuple[pd.DataFrame, PointContext]]:
    """Per city: its view points (point_key, in order) and their map context."""
    ctx_by_city: dict[str, tuple[pd.DataFrame, PointContext]] = {}
    for c in cities:
        vv = views[views.city == c.data.city]
        if vv.empty:
            continue
        pts = vv.drop_duplicates("point_key")
        pc = point_context(c.maps, c.layer, pts.lon, pts.lat, pts.x_m, pts.y_m, pts.street_bearing)
        ctx_by_city[c.data.city] = (pts[["point_key"]].reset_index(drop=True), pc)
    return ctx_by_city


def _split_views(views: pd.DataFrame, cfg: BuildConfig, rejects: list[pd.DataFrame]) -> pd.DataFrame:
    """A split column by spatial blocks; views in the buffer between splits are dropped into `rejects`."""
    split, blocked = assign_splits(views, seed=int(cfg.seed), block_m=cfg.block_m, buffer_m=cfg.buffer_m,
                                   val_frac=cfg.val_frac, test_frac=cfg.test_frac, holdout_city=cfg.holdout_city)
    views["split"] = split
    if len(blocked):
        b = views.loc[blocked.index]
        rejects.append(pd.DataFrame({"source": b.source, "row": b.row, "image_id": b.image_id, "stage": "split",
                                     "reason": blocked.reason}))
        views = views.drop(index=blocked.index)
    if views.empty:
        raise DataError("no usable street views remain after the spatial split buffer; lower --buffer-m")
    return views.reset_index(drop=True)


def _graph_tables(cities: list[CityState], img_nodes: pd.DataFrame, img_edges: pd.DataFrame):
    """The cities' graphs plus the image nodes and edges, as one (nodes, edges) pair with integer indices."""
    nodes = pd.concat([c.graph.nodes for c in cities] + [img_nodes], ignore_index=True)
    edges = pd.concat([c.graph.edges for c in cities] + [img_edges], ignore_index=True)
    nodes, edges = finalize_graph(nodes, edges, {})
    nodes, edges = _objectify(nodes), _objectify(edges)
    if nodes.node_id.duplicated().any():
        dup = nodes.node_id[nodes.node_id.duplicated()].iloc[0]
        raise DataError(f"duplicate node id {dup}: two inputs share an id (give distinct cities / image ids)")
    return nodes, edges


def _image_node_index(views: pd.DataFrame, nodes: pd.DataFrame) -> np.ndarray:
    """Each view's row in `nodes`."""
    pos = pd.Series(nodes.idx.to_numpy(), index=nodes.node_id.to_numpy())
    return pos.reindex(views.node_id).to_numpy()


def _graph_context(views: pd.DataFrame, nodes: pd.DataFrame, edges: pd.DataFrame, img_idx: np.ndarray,
                   cap: int) -> list[list[str]]:
    """Each view's ego graph: its street, nearest POIs and area, then their neighbours (no other images)."""
    is_img = (nodes.type == "image").to_numpy()
    s_i, d_i = edges.src_idx.to_numpy(), edges.dst_idx.to_numpy()
    keep = ~is_img[s_i] & ~is_img[d_i]
    indptr, nbr = _csr_neighbours(len(nodes), s_i[keep], d_i[keep])
    pos_d = dict(zip(nodes.node_id.tolist(), nodes.idx.tolist(), strict=True))
    first_hop = [[pos_d[x] for x in ([s] + p[:5] + ([a] if a else []))]
                 for s, p, a in zip(views.street_node_id.tolist(), views.poi_ids.tolist(),
                                    views.area_node_id.tolist(), strict=True)]
    return _ego_context(img_idx, first_hop, indptr, nbr, cap, nodes.node_id.tolist())


def _reasoning_paths(views: pd.DataFrame, nodes: pd.DataFrame, edges: pd.DataFrame, img_idx: np.ndarray,
                     cfg: BuildConfig) -> pd.DataFrame:
    """Spatial reasoning paths from images sampled per S2 cell (ugdata/paths.py), as F.PATH_COLUMNS."""
    seed = int(cfg.seed)
    sampled = sample_per_cell(views.image_id.to_numpy(), views.lat.to_numpy(), views.lon.to_numpy(),
                              cfg.paths_per_cell, seed)
    start = img_idx[sampled]
    p = reasoning_paths(nodes, edges, start, seed=seed, max_per_image=cfg.max_paths_per_image)
    img_of = dict(zip(img_idx, views.image_id, strict=True))
    split_of = dict(zip(views.image_id, views.split, strict=True))
    p.insert(0, "image_id", [img_of[s] for s in p.start])
    p.insert(1, "split", p.image_id.map(split_of))
    p = p.drop(columns=["start"])
    p.insert(0, "path_id", [f"{i}/p{k}" for i, k in zip(p.image_id, p.groupby("image_id").cumcount(), strict=True)])
    return p[list(F.PATH_COLUMNS)].reset_index(drop=True)


def _path_texts(views: pd.DataFrame, paths: pd.DataFrame) -> list[list[str]]:
    """Each view's path texts in path order (one stable sort + split instead of a groupby.apply per image)."""
    o = np.argsort(paths.image_id.to_numpy(dtype=object), kind="stable")
    ids_sorted = paths.image_id.to_numpy(dtype=object)[o]
    cut = np.flatnonzero(np.r_[True, ids_sorted[1:] != ids_sorted[:-1]]) if len(o) else np.zeros(0, np.int64)
    groups = np.split(paths.text.to_numpy(dtype=object)[o], cut[1:])
    texts = dict(zip(ids_sorted[cut].tolist(), (g.tolist() for g in groups), strict=True)) if len(o) else {}
    return [texts.get(i, []) for i in views.image_id.tolist()]


def _tasks(views: pd.DataFrame, nodes: pd.DataFrame, paths: pd.DataFrame, cfg: BuildConfig,
           log: Callable[[str], None] | None) -> tuple[dict, dict[str, str]]:
    """Every registered task's tables, and the tasks this data cannot support with the reason."""
    from ugdata.tasks.common import TaskInputs, TaskNotBuilt, evaluable_problem
    from ugdata.tasks.registry import task_builders

    inp = TaskInputs(views=views, nodes=nodes, paths=paths, point_docs=_point_docs(views), seed=int(cfg.seed),
                     n_candidates=cfg.n_candidates, max_queries=cfg.max_queries)
    task_out = {}
    omitted: dict[str, str] = {}
    for name, fn in task_builders().items():
        try:
            res = fn(inp)
        except TaskNotBuilt as e:
            omitted[name] = str(e)
            continue
        why = "too little data for this task (nothing to ask)" if res is None else evaluable_problem(res)
        if why:
            omitted[name] = why
            if log:
                log(f"task {name} omitted: {why}")
            continue
        task_out[name] = res
    return task_out, omitted


def _all_rejects(rejects: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [r for r in rejects if r is not None and len(r)]
    rej = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(F.REJECT_COLUMNS))
    return rej[list(F.REJECT_COLUMNS)]


def _write_manifest(tmp: Path, built: _Built, split_sizes: dict[str, int], cities: list[CityState],
                    cfg: BuildConfig, captioner: Captioner, T: _Timer) -> None:
    """The dataset card, then manifest.json: counts, tasks, inputs, licences, config, fingerprint, provenance."""
    from ugdata.fingerprint import manifest_fields
    from ugdata.writer import dataset_card

    views, nodes, edges = built.views, built.nodes, built.edges
    manifest = {
        "format": F.FORMAT_NAME,
        "format_version": F.FORMAT_VERSION,
        "fingerprint": "",
        "counts": {
            "images": int(len(views)), "points": int(views.point_key.nunique()), "nodes": int(len(nodes)),
            "edges": int(len(edges)), "paths": int(len(built.paths)), "routes": int(len(built.routes)),
            "rejected": int(len(built.rejects)),
            "node_types": {k: int(v) for k, v in nodes.type.value_counts().sort_index().items()},
            "relations": {k: int(v) for k, v in edges.rel.value_counts().sort_index().items()},
        },
        "splits": split_sizes,
        "tasks": {k: {n: int(len(df)) for n, df in t.tables.items()}
                  for k, t in sorted(built.task_out.items())},
        "omitted_tasks": dict(sorted(built.omitted.items())),
        "inputs": _inputs(cities, cfg),
        "cities": [c.data.city for c in cities],
        "synthetic": bool(cfg.synth),
        **_license_fields(views, bool(cfg.synth)),
        "captioner": getattr(captioner, "name", type(captioner).__name__),
        "seed": int(cfg.seed),
        "config": _config_json(cfg),
    }
    write_text_atomic(tmp / F.CARD, dataset_card(manifest, bool(cfg.synth)))
    manifest.update(manifest_fields(tmp))  # fingerprint, its identity version, per-file digests
    manifest["versions"] = versions()
    manifest["git_commit"] = git_commit()
    manifest["created_at"] = utc_now()
    manifest["timings_s"] = T.t
    manifest["cpu_s"] = T.cpu
    manifest["peak_rss_mb"] = T.mem
    write_json_atomic(tmp / F.MANIFEST, manifest)


def check_output(out: Path, overwrite: bool) -> None:
    """Before any work: the output can be written, and --overwrite replaces only a UGData directory that
    `ugdata build` wrote (its manifest.json says format "ugdata"), never any other folder or file."""
    import os

    if out.exists() or out.is_symlink():
        if not overwrite:
            raise UserError(f"{out} already exists; pass --overwrite to replace it")
        here = Path.cwd().resolve()
        real = out.resolve()
        if real == here or real in here.parents or real.parent == real:
            raise UserError(f"--out {out} is the current folder, one above it or the root; give a new folder "
                            "for the dataset (e.g. --out data/mycity)")
        if not out.is_dir():
            raise UserError(f"--out {out} is a file, not a UGData directory; --overwrite replaces only a "
                            "directory written by `ugdata build`: choose another --out")
        if not _is_ugdata_dir(out):
            raise UserError(f"--out {out} is not a UGData directory (no manifest.json written by `ugdata build`); "
                            "--overwrite replaces only those: choose another --out or remove it yourself")
    probe = out.parent
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise UserError(f"--out {out}: {probe} is a file, not a folder; give a path in a folder")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"--out {out}: {probe} is not writable; give a folder you can write to")


def _write_failed_rejects(out: Path, frames: list) -> Path:
    """A build that stops because no view is usable writes its rejects beside the (unwritten) output, as
    <out>.rejects.csv, so that 'see the rejects' points at a file that exists."""
    frames = [f for f in frames if f is not None and len(f)]
    rej = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(F.REJECT_COLUMNS))
    rej = rej.reindex(columns=list(F.REJECT_COLUMNS))
    path = out.with_name(out.name + ".rejects.csv")
    write_text_atomic(path, rej.to_csv(index=False))
    return path


def _swapped_hint(anchor_rejects: pd.DataFrame, cities: list, cfg: BuildConfig, views: pd.DataFrame) -> str:
    """' (lat and lon look swapped ...)' when exchanging the two columns puts most views on the streets."""
    try:
        lat, lon = views.lat.to_numpy(float), views.lon.to_numpy(float)
        if not ((np.abs(lon) <= 90).all()):
            return ""
        sw = views.copy()
        sw["lat"], sw["lon"] = lon, lat
        kept, _ = _anchor_all(sw, cities, cfg)
    except Exception:  # noqa: BLE001 - only a hint; the error it decorates stands without it
        return ""
    if len(kept) >= max(1, len(views) // 2):
        return (f" (lat and lon look swapped: exchanged, {len(kept)} of {len(views)} views lie on the streets; "
                "swap the lat and lon columns of --views)")
    return ""


def _is_ugdata_dir(path: Path) -> bool:
    """A directory this tool wrote: its manifest.json is a JSON object with format "ugdata"."""
    try:
        m = json.loads((path / F.MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(m, dict) and m.get("format") == F.FORMAT_NAME


def _check_options(cfg: BuildConfig) -> None:
    """Numeric options checked up front (a bad one would otherwise surface as an unusable dataset)."""
    import math

    def finite(name: str, v) -> float:
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise UserError(f"{name} must be a number, got {v!r}") from None
        if not math.isfinite(v):
            raise UserError(f"{name} must be a finite number, got {v}")
        return v

    if finite("--block-m", cfg.block_m) <= 0:
        raise UserError(f"--block-m must be > 0 metres (the spatial split block size; default 200), got {cfg.block_m:g}")
    if finite("--buffer-m", cfg.buffer_m) < 0:
        raise UserError(f"--buffer-m must be >= 0 metres (0 = no buffer between splits; default 30), got {cfg.buffer_m:g}")
    if finite("--max-snap-m", cfg.max_snap_m) <= 0:
        raise UserError(f"--max-snap-m must be > 0 metres (default 25), got {cfg.max_snap_m:g}")
    if not 8 <= int(cfg.synth_size) <= 4096:
        raise UserError(f"--synth-size must be 8..4096 pixels, got {cfg.synth_size}")
    if int(cfg.max_paths_per_image) < 0:
        raise UserError(f"--max-paths must be >= 0, got {cfg.max_paths_per_image}")
    if int(cfg.routes_per_point) < 0:
        raise UserError(f"--routes-per-point must be >= 0, got {cfg.routes_per_point}")
    vf, tf = finite("val_frac", cfg.val_frac), finite("test_frac", cfg.test_frac)
    if not (0 < vf < 1 and 0 < tf < 1 and vf + tf < 1):
        raise UserError(f"val_frac and test_frac must lie in (0, 1) with a sum below 1, got {vf:g} and {tf:g}")


def _objectify(df: pd.DataFrame) -> pd.DataFrame:
    """Arrow-backed string columns -> Python objects. pandas 3 stores strings in Arrow, where each
    element access from Python (itertuples, zip, .iat) costs microseconds; the builder's row loops
    touch millions of them at city scale."""
    for c in df.columns:
        if isinstance(df[c].dtype, pd.StringDtype) or str(df[c].dtype) in ("str", "string"):
            df[c] = df[c].astype(object)
    return df


def _split_counts(total: int, weights) -> list[int]:
    w = np.asarray(weights, float)
    raw = total * w / w.sum()
    n = np.floor(raw).astype(int)
    n[np.argsort(-(raw - n))[: total - n.sum()]] += 1
    return n.tolist()


def _anchor_all(views: pd.DataFrame, cities: list[CityState], cfg: BuildConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the views within --max-snap-m of a street, anchored to the nearest one; the others as rejects)."""
    lon, lat = views.lon.to_numpy(float), views.lat.to_numpy(float)
    best = np.full(len(views), np.inf)
    anchors = {}
    for ci, c in enumerate(cities):
        mask = (views.city == c.data.city).to_numpy() if cfg.synth else np.ones(len(views), bool)
        if not mask.any():
            continue
        a = anchor_points(c.layer, lon[mask], lat[mask], cfg.max_snap_m)
        anchors[ci] = (np.flatnonzero(mask), a)
        sub = best[mask]
        better = a.snap_m < sub
        sub[better] = a.snap_m[better]
        best[mask] = sub
    city_idx = np.full(len(views), -1)
    cols = {k: np.full(len(views), np.nan) for k in ("snap", "t", "sb", "x", "y")}
    seg = np.full(len(views), -1, dtype=np.int64)
    side = np.full(len(views), "", dtype=object)
    for ci, (rows, a) in anchors.items():
        take = a.snap_m <= best[rows] + 1e-9
        r = rows[take]
        city_idx[r] = ci
        cols["snap"][r], cols["t"][r], cols["sb"][r] = a.snap_m[take], a.t_m[take], a.street_bearing[take]
        cols["x"][r], cols["y"][r] = a.x[take], a.y[take]
        seg[r] = a.seg[take]
        side[r] = a.side[take]
    bad = ~(best <= cfg.max_snap_m)
    rej = views[bad]
    rejects = pd.DataFrame({
        "source": rej.source, "row": rej.row, "image_id": rej.image_id, "stage": "anchor",
        "reason": [f"anchor: {d:.1f} m from the nearest street (more than --max-snap-m {cfg.max_snap_m:g}); "
                   "point far outside the street graph?" if np.isfinite(d) else "anchor: no street in this city"
                   for d in best[bad]],
    })
    v = views.copy()
    v["city_idx"] = city_idx
    v["snap_distance_m"] = cols["snap"]
    v["t_m"] = cols["t"]
    v["street_bearing"] = cols["sb"]
    v["x_m"], v["y_m"] = cols["x"], cols["y"]
    v["seg"] = seg
    v["side"] = side
    v = v[~bad].reset_index(drop=True)
    if v.empty:
        return v, rejects
    v["city"] = [cities[i].data.city for i in v.city_idx]
    if cfg.synth:
        v["heading"] = (v.street_bearing + 90.0 * v.fov_slot) % 360.0
    v["point_key"] = v.city + "/" + v.point.astype(str)
    return v, rejects


_VIEW_FACT_COLUMNS = ("street_node_id", "street_name", "street_class", "caption", "queries", "perception", "poi_ids",
                      "poi_dist", "poi_bearing", "area_node_id", "lanes", "width_m", "inter_id", "view_ctx",
                      "poi_names", "inter_name")
# PointContext fields the per-view loop reads, as plain lists (per-element numpy access costs microseconds)
_POINT_FIELDS = ("poi_idx", "poi_dist", "poi_bearing", "inter_node", "area_idx", "inter_dist", "inter_bearing",
                 "green_share", "water_share", "bld_share", "bld_left", "bld_right", "levels", "n_commercial_100",
                 "n_poi_100")


def _view_facts(views: pd.DataFrame, cities: list[CityState], ctx_by_city, captioner: Captioner, cfg: BuildConfig):
    """Per view: its street, nearby POIs, intersection and area, caption, queries, perception (and the render
    context for synthetic views); then the image nodes and their edges. Returns (views, img_nodes, img_edges)."""
    views = views.copy()
    n = len(views)
    out_cols = {k: [None] * n for k in _VIEW_FACT_COLUMNS}
    views["relative_heading_deg"] = relative_heading(views.heading.to_numpy(float), views.street_bearing.to_numpy(float))
    views["fov_index"] = fov_index_from_relative(views.relative_heading_deg.to_numpy())
    for ci, c in enumerate(cities):
        rows = np.flatnonzero(views.city_idx.to_numpy() == ci)
        if len(rows):
            _city_view_facts(views, rows, c, ctx_by_city[c.data.city], captioner, cfg, out_cols)
    for k, col in out_cols.items():
        views[k] = col
    views["node_id"] = "image/" + views.image_id
    views["fov_index"] = views.fov_index.astype(np.int8)
    img_nodes, img_edges = _image_nodes_edges(views)
    return views, img_nodes, img_edges


@dataclass
class _CityLists:
    """One city's street segment, POI, area, intersection and graph id columns as plain lists: per-row
    DataFrame.iat costs microseconds each, which adds up to minutes at 100k views."""

    city: str
    sg_name: list
    sg_cls: list
    sg_lanes: list
    sg_width: list
    po_name: list
    po_cat: list
    ar_kind: list
    ar_cat: list
    ar_name: list
    in_deg: list
    in_names: list
    poi_node_ids: list
    street_ids: list
    area_ids: list
    inter_ids: list

    @classmethod
    def of(cls, c: CityState) -> _CityLists:
        segs, pois, areas, inodes = c.layer.segs, c.maps.pois, c.maps.areas, c.layer.nodes
        return cls(
            c.data.city, segs.name.tolist(), segs.highway.tolist(), segs.lanes.astype(float).tolist(),
            segs.width_m.astype(float).tolist(), pois.name.astype(str).tolist(), pois.category.astype(str).tolist(),
            areas.kind.tolist(), areas.category.tolist(), areas.name.astype(str).tolist(), inodes.degree.tolist(),
            inodes.names.tolist(), c.graph.poi_ids.tolist(), c.graph.street_ids.tolist(), c.graph.area_ids.tolist(),
            c.graph.inter_ids.tolist(),
        )


class _PointFacts(NamedTuple):
    """The map context of one view point, shared by its headings."""

    near: tuple[NearbyPOI, ...]  # nearest first
    inter: int  # intersection node row, -1 if none
    area: int  # area row, -1 if none
    inter_name: str
    inter_degree: int
    area_kind: str
    area_name: str
    perception: dict
    poi_ids: list
    poi_dist: list
    poi_bearing: list
    poi_names: list
    poi_cats: list


def _point_facts(cl: _CityLists, P: dict[str, list], k: int, s: int) -> _PointFacts:
    """Point k's facts (P: the point context as lists), with the perception of its street segment s."""
    pidx = [x for x in P["poi_idx"][k] if x >= 0]
    m = len(pidx)
    near = tuple(NearbyPOI(cl.poi_node_ids[i], cl.po_name[i], cl.po_cat[i], d, b)
                 for i, d, b in zip(pidx, P["poi_dist"][k][:m], P["poi_bearing"][k][:m], strict=True))
    inter, a = P["inter_node"][k], P["area_idx"][k]
    per = perception_row(P["green_share"][k], P["water_share"][k], P["bld_share"][k], P["bld_left"][k],
                         P["bld_right"][k], P["levels"][k], P["n_commercial_100"][k], P["n_poi_100"][k],
                         cl.sg_width[s], CLASS_RANK.get(cl.sg_cls[s], 2), P["inter_dist"][k])
    return _PointFacts(
        near, inter, a, _inter_name(cl.in_names, inter), cl.in_deg[inter] if inter >= 0 else 0,
        f"{cl.ar_kind[a]}: {cl.ar_cat[a]}" if a >= 0 else "", cl.ar_name[a] if a >= 0 else "", per,
        [p.node_id for p in near], [p.distance_m for p in near], [p.bearing_deg for p in near],
        [p.name for p in near], [p.category for p in near],
    )


def _city_view_facts(views: pd.DataFrame, rows: np.ndarray, c: CityState, ctx: tuple[pd.DataFrame, PointContext],
                     captioner: Captioner, cfg: BuildConfig, out_cols: dict[str, list]) -> None:
    """Fill out_cols[...][r] for the views at `rows` (all in city c); ctx: the city's points and their context."""
    keys, pc = ctx
    cl = _CityLists.of(c)
    krow = pd.Series(np.arange(len(keys)), index=keys.point_key.to_numpy())
    seg = views.seg.to_numpy()[rows]
    seg_l = seg.tolist()
    kr_l = krow.reindex(views.point_key.to_numpy()[rows]).to_numpy().tolist()
    heading_l = views.heading.to_numpy(float)[rows].tolist()
    relh_l = views.relative_heading_deg.to_numpy(float)[rows].tolist()
    lat_l, lon_l = views.lat.to_numpy(float)[rows].tolist(), views.lon.to_numpy(float)[rows].tolist()
    side_l, ids_l = views.side.to_numpy()[rows].tolist(), views.image_id.to_numpy()[rows].tolist()
    P = {name: getattr(pc, name).tolist() for name in _POINT_FIELDS}
    render = bool(cfg.synth and cfg.render)
    if render:
        v_sb = views.street_bearing.to_numpy(float)
        v_point, v_slot = views.point.to_numpy(np.int64), views.fov_slot.to_numpy(np.int64)
        d2i_l = _dist_to_intersection(c.layer, seg, views.t_m.to_numpy(float)[rows]).tolist()
    per_point: dict[int, _PointFacts] = {}  # the headings of one point share its map context
    for j, r in enumerate(rows.tolist()):
        s, k = seg_l[j], kr_l[j]
        pt = per_point.get(k)
        if pt is None:
            pt = per_point[k] = _point_facts(cl, P, k, s)
        facts = CaptionFacts(
            image_id=ids_l[j], city=cl.city, lon=lon_l[j], lat=lat_l[j], heading_deg=heading_l[j],
            relative_heading_deg=relh_l[j], street_name=cl.sg_name[s], street_class=cl.sg_cls[s],
            lanes=cl.sg_lanes[s], width_m=cl.sg_width[s], side=side_l[j], intersection_name=pt.inter_name,
            intersection_degree=pt.inter_degree, intersection_distance_m=P["inter_dist"][k],
            intersection_bearing_deg=P["inter_bearing"][k], pois=pt.near, area_kind=pt.area_kind,
            area_name=pt.area_name, building_share=P["bld_share"][k], green_share=P["green_share"][k],
            water_share=P["water_share"][k],
        )
        out_cols["caption"][r] = captioner.caption(facts, None)
        out_cols["perception"][r] = pt.perception
        out_cols["queries"][r] = queries_row(cl.sg_name[s], cl.sg_cls[s], cl.city, pt.poi_cats, pt.poi_names,
                                             pt.inter_name, P["inter_dist"][k], P["inter_bearing"][k],
                                             pt.perception, heading_l[j])
        out_cols["street_node_id"][r] = cl.street_ids[s]
        out_cols["street_name"][r] = cl.sg_name[s]
        out_cols["street_class"][r] = cl.sg_cls[s]
        out_cols["poi_ids"][r] = pt.poi_ids
        out_cols["poi_dist"][r] = pt.poi_dist
        out_cols["poi_bearing"][r] = pt.poi_bearing
        out_cols["poi_names"][r] = pt.poi_names
        out_cols["inter_name"][r] = pt.inter_name
        out_cols["area_node_id"][r] = cl.area_ids[pt.area] if pt.area >= 0 else ""
        out_cols["lanes"][r] = cl.sg_lanes[s]
        out_cols["width_m"][r] = cl.sg_width[s]
        out_cols["inter_id"][r] = cl.inter_ids[pt.inter] if pt.inter >= 0 else ""
        if render:
            out_cols["view_ctx"][r] = _view_context(cl, P, pc, c.maps.pois, k, s, heading_l[j], float(v_sb[r]),
                                                    d2i_l[j], int(v_point[r]) * 8 + int(v_slot[r]) + 1)


def _view_context(cl: _CityLists, P: dict[str, list], pc: PointContext, pois: pd.DataFrame, k: int, s: int,
                  heading: float, street_bearing: float, dist_to_intersection: float, seed: int):
    """What the synthetic renderer draws for one view (ugdata/render/context.py)."""
    from ugdata.render.context import ViewContext

    return ViewContext(
        heading_deg=heading, street_bearing_deg=street_bearing,
        road_class=cl.sg_cls[s], road_width_m=cl.sg_width[s], lanes=int(round(cl.sg_lanes[s])),
        building_density_left=min(max(P["bld_left"][k], 0.0), 1.0),
        building_density_right=min(max(P["bld_right"][k], 0.0), 1.0), building_levels=P["levels"][k],
        poi_categories=pois_in_view(pc, k, heading, pois),
        green_share=min(max(P["green_share"][k], 0.0), 1.0),
        water_share=min(max(P["water_share"][k], 0.0), 1.0),
        distance_to_intersection_m=dist_to_intersection, seed=seed,
    )


def _image_nodes_edges(views: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One node per view, and its edges: nearest street, up to 5 POIs within 50 m (near), its area (inside)."""
    img_nodes = pd.DataFrame({
        "node_id": views.node_id, "type": "image", "name": "street view " + views.image_id,
        "category": "street view image", "lon": views.lon.astype(float), "lat": views.lat.astype(float),
        "attrs": [json.dumps({"heading": None if not np.isfinite(h) else round(float(h), 1), "fov_index": int(f),
                              "side": s, "snap_distance_m": round(float(d), 2)})
                  for h, f, s, d in zip(views.heading, views.fov_index, views.side, views.snap_distance_m, strict=True)],
    })
    e1 = pd.DataFrame({"src": views.node_id, "dst": views.street_node_id, "rel": "nearest"})
    near = views[["node_id", "poi_ids", "poi_dist"]].explode(["poi_ids", "poi_dist"]).dropna()
    near = near[(near.poi_dist.astype(float) <= 50.0)]
    near = near.groupby("node_id", sort=False).head(5)
    e2 = pd.DataFrame({"src": near.node_id, "dst": near.poi_ids, "rel": "near"})
    ins = views[views.area_node_id != ""]
    e3 = pd.DataFrame({"src": ins.node_id, "dst": ins.area_node_id, "rel": "inside"})
    img_edges = pd.concat([e1, e2, e3], ignore_index=True)
    return img_nodes, img_edges


def _inter_name(all_names: list, i: int) -> str:
    if i < 0:
        return ""
    names = all_names[i]
    return "Intersection of " + " and ".join(names[:3]) if len(names) >= 2 else ""


def _dist_to_intersection(layer: StreetLayer, seg: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Distance along the anchored segment to its nearer end that is a real intersection (>= 3 segments)."""
    deg = layer.nodes.degree.to_numpy()
    L = layer.segs.length_m.to_numpy()[seg]
    du = np.where(deg[layer.segs.u_idx.to_numpy()[seg]] >= 3, t, np.inf)
    dv = np.where(deg[layer.segs.v_idx.to_numpy()[seg]] >= 3, L - t, np.inf)
    return np.maximum(np.minimum(du, dv), 0.0)


def _hard_negatives(views: pd.DataFrame, k: int = 5, min_m: float = 25.0) -> list[list[str]]:
    """Up to k image ids at the nearest OTHER points (>= min_m away, same city and split), preferring the
    view with the same fov_index there."""
    from ugdata.tasks.common import near_neighbours

    pts = views.drop_duplicates("point_key").reset_index(drop=True)
    neigh = near_neighbours(pts.lat, pts.lon, k, min_m, group=(pts.city + "|" + pts.split).tolist())
    prow = {p: i for i, p in enumerate(pts.point_key.tolist())}
    by_point: dict[int, dict[int, str]] = {}
    for iid, pk, f in zip(views.image_id.tolist(), views.point_key.tolist(), views.fov_index.tolist(), strict=True):
        by_point.setdefault(prow[pk], {}).setdefault(int(f), iid)
    out = []
    for pk, f in zip(views.point_key.tolist(), views.fov_index.tolist(), strict=True):
        res = []
        for j in neigh[prow[pk]]:
            imgs = by_point[j]
            res.append(imgs.get(int(f), next(iter(imgs.values()))))
        out.append(res)
    return out


def _routes(views: pd.DataFrame, cities: list[CityState], cfg: BuildConfig) -> pd.DataFrame:
    cols = list(F.ROUTE_COLUMNS)
    if cfg.routes_per_point <= 0:
        return pd.DataFrame(columns=cols)
    pts = views.sort_values(["point_key", "fov_index", "image_id"]).drop_duplicates("point_key")
    out = []
    for ci, c in enumerate(cities):
        p = pts[pts.city_idx == ci].reset_index(drop=True)
        if len(p) < 2:
            continue
        cols4 = ["image_id", "lat", "lon", "split", "city"]
        cap = None if cfg.max_routes is None else cfg.max_routes // len(cities)
        if cap is not None and len(p) * cfg.routes_per_point > cap:
            # capped (large builds): fewer sources with many destinations each, so that one shortest-path
            # tree answers many routes (a route per random pair would cost one search per route)
            per = max(cfg.routes_per_point, cfg.routes_per_source)
            pairs = pick_route_pairs_grouped(p[cols4], seed=cfg.seed + 11, n_sources=max(1, -(-cap // per)),
                                             per_source=per, min_m=cfg.route_min_m, max_m=cfg.route_max_m)
            if len(pairs) > cap:
                pairs = pairs.sample(n=cap, random_state=cfg.seed).sort_values(["src", "dst"])
        else:
            pairs = pick_route_pairs(p[cols4], seed=cfg.seed + 11, per_point=cfg.routes_per_point,
                                     min_m=cfg.route_min_m, max_m=cfg.route_max_m)
        if pairs.empty:
            continue
        res = compute_routes(c.layer, c.data.city, p.seg.to_numpy(), p.t_m.to_numpy(float), p.lon.to_numpy(float),
                             p.lat.to_numpy(float), pairs.src.to_numpy(), pairs.dst.to_numpy(),
                             limit_m=cfg.route_max_m * 3)
        ids, splits = p.image_id.tolist(), p.split.tolist()
        for s, d, r in zip(pairs.src.tolist(), pairs.dst.tolist(), res, strict=True):
            if r is None:
                continue
            out.append({"route_id": f"{ids[s]}->{ids[d]}", "src_image_id": ids[s], "dst_image_id": ids[d],
                        "split": splits[s], **r})
    if not out:
        return pd.DataFrame(columns=cols)
    return pd.DataFrame(out)[cols].sort_values("route_id", kind="stable").reset_index(drop=True)


def _images(views: pd.DataFrame, cfg: BuildConfig) -> dict[str, bytes | None]:
    if not cfg.render:
        return {}
    out: dict[str, bytes | None] = {}
    if cfg.synth:
        from ugdata.render.synth import render_view

        for iid, ctx in zip(views.image_id, views.view_ctx, strict=True):
            img = render_view(ctx, size=cfg.synth_size)
            buf = io.BytesIO()
            # JPEG q95: ~20x faster to encode than PNG and ~4x smaller; byte-identical for the same Pillow/libjpeg
            # build, so a build stays deterministic within one environment
            img.convert("RGB").save(buf, format="JPEG", quality=95)
            out[iid] = buf.getvalue()
    else:
        for iid, path in zip(views.image_id, views.image_path, strict=True):
            out[iid] = Path(path).read_bytes()
    return out


def _point_docs(views: pd.DataFrame) -> pd.DataFrame:
    """One location description per view point, from the map only (street, nearest intersection, places)."""
    pts = views.sort_values(["point_key", "fov_index"]).drop_duplicates("point_key")
    texts = []
    cols = ["street_name", "street_class", "side", "inter_name", "poi_names", "city"]
    for r in pts[cols].itertuples(index=False):
        street = r.street_name or f"an unnamed {r.street_class.replace('_', ' ')} street"
        txt = f"On {street} ({r.street_class.replace('_', ' ')}), {r.side} side"
        if r.inter_name:
            txt += f", near the {r.inter_name[0].lower() + r.inter_name[1:]}"
        names = list(dict.fromkeys(n for n in r.poi_names if n))[:3]
        if names:
            txt += "; nearby: " + ", ".join(names)
        texts.append(txt + f"; {r.city}")
    return pd.DataFrame({"point_key": pts.point_key.to_numpy(), "doc_id": "loc/" + pts.point_key.to_numpy(),
                         "text": texts, "lat": pts.lat.to_numpy(float), "lon": pts.lon.to_numpy(float),
                         "city": pts.city.to_numpy(), "split": pts.split.to_numpy(),
                         "graph_context": [[s] for s in pts.street_node_id]})


def _write_all(tmp: Path, built: _Built, cfg: BuildConfig) -> dict[str, int]:
    """Every table and the images into `tmp`; returns the split sizes."""
    from ugdata.writer import write_dataset, write_graphml, write_parquet, write_pyg

    nodes, edges = built.nodes, built.edges
    v = built.views.copy()
    v["captured_at"] = v.captured_at.fillna("").astype(str)
    v["heading"] = v.heading.astype("float32")
    v["street_bearing_deg"] = v.street_bearing.astype("float32")
    sizes = write_dataset(tmp, v, built.image_bytes)
    write_parquet(nodes, tmp / F.NODES)
    write_parquet(edges, tmp / F.EDGES)
    if cfg.graphml:
        write_graphml(tmp, nodes, edges)
    write_pyg(tmp, nodes, edges)
    write_parquet(built.paths, tmp / F.PATHS)
    write_parquet(built.routes, tmp / F.ROUTES)
    for name, t in sorted(built.task_out.items()):
        d = tmp / F.TASKS_DIR / name
        d.mkdir(parents=True, exist_ok=True)
        write_text_atomic(d / "task.json", t.spec.to_json() + "\n")
        for tn, df in t.tables.items():
            write_parquet(df, d / f"{tn}.parquet")
    built.rejects.sort_values(["stage", "source", "row", "image_id"], kind="stable").to_csv(tmp / F.REJECTS, index=False)
    return sizes


def _inputs(cities: list[CityState], cfg: BuildConfig) -> list[dict]:
    """Each input city's source with its file hash; a packaged city also its box and ODbL attribution (which
    the dataset card prints per city)."""
    from ugdata.cities import is_packaged
    from ugdata.cities import resolve as resolve_city

    specs = list(cfg.osm) if cfg.osm and cfg.place is None and cfg.bbox is None else []
    out = []
    for ci, c in enumerate(cities):
        item = {"city": c.data.city, "source": c.data.source}
        if ci < len(specs) and is_packaged(specs[ci]):
            r = resolve_city(specs[ci], cfg.clip)
            item.update({"packaged_city": r.city.name, "clip": list(r.clip) if r.clip else None,
                         "attribution": r.city.attribution(r.clip)})
        if c.data.input_files:
            f = c.data.input_files[0]
            item.update({"path": str(f), "sha256": sha256_file(f), "bytes": f.stat().st_size})
        elif c.data.source.startswith("embedded"):
            from ugdata.osm_source import embedded_pbf

            f = embedded_pbf()
            item.update({"path": f.name, "sha256": sha256_file(f), "bytes": f.stat().st_size})
        out.append(item)
    for key in ("views", "images"):
        val = getattr(cfg, key)
        if val and Path(val).is_file():
            out.append({"city": "", "source": key, "path": str(val), "sha256": sha256_file(Path(val))})
    return out


def _license_fields(views: pd.DataFrame, synthetic: bool) -> dict:
    """manifest["licenses"] {licence: images} and manifest["image_sources"] [{provider, license, images}]."""
    from ugdata import licenses as L

    if synthetic or "license" not in views.columns:
        n = int(len(views))
        return {"licenses": {L.SYNTHETIC: n} if synthetic else {L.UNKNOWN: n},
                "image_sources": [{"provider": L.SYNTHETIC if synthetic else "", "license": L.SYNTHETIC if synthetic
                                   else L.UNKNOWN, "images": n}]}
    return {"licenses": L.summary(views.license.tolist()),
            "image_sources": L.sources(views.provider.tolist(), views.license.tolist())}


def _config_json(cfg: BuildConfig) -> dict:
    d = asdict(cfg)
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}
