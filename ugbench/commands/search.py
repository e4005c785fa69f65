"""`ugbench search`: build a kNN geo-multimedia index and query it (score mu * Dst + (1 - mu) * Sim)."""

from __future__ import annotations

from pathlib import Path

import typer

TASK_NAME = "geo_knn_search"

search_app = typer.Typer(
    name="search",
    help="kNN geo-multimedia cross-modal search (Zhu et al. 2019): rank objects by "
    "F = mu * Dst + (1 - mu) * Sim, where Dst = 1 - d(Q, o) / d_max(Q, O) and Sim = cosine.\n\n"
    "1. `ugbench search build --data UGDATA_DIR --model minilm --out my.index` (or --vectors V.npy "
    "--coords C.csv)\n\n"
    "2. `ugbench search query --index my.index --text 'quiet street with trees' --lat 60.17 --lon 24.94 "
    "--k 10 --mu 0.5`",
    no_args_is_help=True,
)


def _read_coords(path: Path):
    """Coordinates table (.csv or .parquet) with lon and lat columns and an optional id column."""
    import pandas as pd

    from ugcore.errors import UserError

    if not path.is_file():
        raise UserError(f"coordinates file {path} not found")
    df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    missing = {"lon", "lat"} - set(df.columns)
    if missing:
        raise UserError(f"{path} lacks column(s) {sorted(missing)}; it needs lon and lat (and optionally id)")
    ids = df["id"].astype(str).tolist() if "id" in df.columns else None
    return df[["lon", "lat"]].to_numpy(dtype="float64"), ids


def _load_npy(path: Path, flag: str):
    """A .npy array written by numpy.save, or a one-line error saying what the file is instead."""
    import numpy as np

    from ugcore.errors import UserError

    with open(path, "rb") as fh:
        magic = fh.read(6)
    if magic != b"\x93NUMPY":
        kind = "a .npz archive" if magic[:2] == b"PK" else "empty" if not magic else "not a .npy file"
        raise UserError(f"{flag} {path} is {kind} (no NumPy .npy header); save the array with numpy.save(path, "
                        "array) and pass that file")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "pickle" in why:
            why = "it holds Python objects, not numbers"
        raise UserError(f"{flag} {path} is not a readable .npy array ({why}); save a numeric array with "
                        "numpy.save(path, array)") from None


def _encode_views(data_dir: Path, model_name: str, field: str, split: str, batch_size: int, device):
    import numpy as np
    from rich.progress import Progress

    import ugdata
    from ugbench.models.registry import load_model
    from ugcore.errors import UserError
    from ugcore.protocol import EncodeItem

    data = ugdata.load(data_dir)  # NotUGDataError is a UserError
    views = data.views(None if split == "all" else split)
    if views.empty:
        raise UserError(f"{data_dir} has no views in split '{split}'")
    model = load_model(model_name, device=device)
    if field == "auto":
        field = "image" if "image" in (model.meta.modalities or []) else "caption"
    if field == "caption":
        empty = views["caption"].fillna("").str.len() == 0
        if empty.any():
            raise UserError(f"view {views['image_id'][empty].iloc[0]} has no caption; use --field image")
    chunks = []
    with Progress() as bar:
        task = bar.add_task(f"embedding {len(views)} views ({field}) with {model.meta.name}", total=len(views))
        for s in range(0, len(views), batch_size):
            part = views.iloc[s : s + batch_size]
            items = [
                EncodeItem(
                    text=row.caption if field == "caption" else None,
                    image=data.image(row.image_id) if field == "image" else None,
                    id=row.image_id,
                )
                for row in part.itertuples()
            ]
            chunks.append(
                np.asarray(model.encode(items, task_name=TASK_NAME, side="document", batch_size=batch_size))
            )
            bar.advance(task, len(part))
    coords = views[["lon", "lat"]].to_numpy(dtype="float64")
    return coords, np.concatenate(chunks), views["image_id"].astype(str).tolist(), model.meta.name, field


@search_app.command("build")
def build(
    out: Path = typer.Option(..., "--out", help="Index directory to write (atomically)."),
    data: Path = typer.Option(None, "--data", help="UGData directory whose street views are indexed."),
    model: str = typer.Option(None, "--model", help="ugbench model that embeds the views (see list-models)."),
    field: str = typer.Option("auto", "--field", help="What to embed per view: auto | image | caption."),
    split: str = typer.Option("all", "--split", help="UGData split to index: all | train | val | test."),
    vectors: Path = typer.Option(None, "--vectors", help="Precomputed vectors (.npy, n x dim) instead of --data."),
    coords: Path = typer.Option(None, "--coords", help="With --vectors: table (.csv/.parquet) with lon, lat[, id]."),
    metric: str = typer.Option("haversine", "--metric", help="haversine (metres) or euclidean (on lon/lat)."),
    no_gmr: bool = typer.Option(False, "--no-gmr", help="Skip the GMR-Tree (baseline engines gmr/rtree)."),
    batch_size: int = typer.Option(32, "--batch-size", help="Encoding batch size."),
    device: str = typer.Option(None, "--device", help="Device for the model (cpu, cuda)."),
    seed: int = typer.Option(0, "--seed", help="Seed for clustering and sampling."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing index directory."),
) -> None:
    """Embed a corpus (or take precomputed vectors) and write a search index with every engine's data."""
    from rich.console import Console

    from ugbench.search.index import GeoIndex
    from ugcore.atomic import remove_stale_temps
    from ugcore.errors import UserError

    remove_stale_temps(out.parent, out.name)  # a killed earlier build's temporary (its old index put back)
    if out.exists() and not overwrite:
        raise UserError(f"{out} already exists; pass --overwrite to replace it")
    if (data is None) == (vectors is None):
        raise UserError("give either --data UGDATA_DIR --model NAME, or --vectors FILE.npy --coords TABLE")
    meta: dict = {}
    if data is not None:
        if not model:
            raise UserError("--data needs --model NAME (the model that embeds the views and later the queries)")
        if field not in ("auto", "image", "caption"):
            raise UserError(f"--field must be auto, image or caption (got {field})")
        xy, vecs, ids, model_name, used = _encode_views(data, model, field, split, batch_size, device)
        meta.update({"model": model, "model_name": model_name, "field": used, "data": str(data), "split": split})
    else:
        if coords is None:
            raise UserError("--vectors needs --coords TABLE with lon and lat columns (one row per vector)")
        if not vectors.is_file():
            raise UserError(f"vectors file {vectors} not found")
        vecs = _load_npy(vectors, "--vectors")
        xy, ids = _read_coords(coords)
        meta.update({"model": model, "vectors": str(vectors)})
    con = Console()
    with con.status(f"indexing {len(xy)} objects (co-clusters{'' if no_gmr else ' + GMR-Tree'})..."):
        idx = GeoIndex.build(xy, vecs, metric=metric, object_ids=ids, with_gmr=not no_gmr, seed=seed, meta=meta)
        idx.save(out, overwrite=overwrite)
    con.print(f"wrote {out}: {idx.n} objects, {idx.dim}-d, metric {metric}, {idx.cc.n_clusters} co-clusters")


@search_app.command("query")
def query(
    index: Path = typer.Option(..., "--index", help="Index directory from `ugbench search build`."),
    lat: float = typer.Option(..., "--lat", help="Query latitude (or y for a euclidean index)."),
    lon: float = typer.Option(..., "--lon", help="Query longitude (or x)."),
    text: str = typer.Option(None, "--text", help="Query text, embedded with the index's model."),
    vector: Path = typer.Option(None, "--vector", help="Query vector (.npy) instead of --text."),
    k: int = typer.Option(10, "--k", help="Number of results."),
    mu: float = typer.Option(0.5, "--mu", help="Weight of spatial proximity in [0, 1] (0 = semantics only)."),
    engine: str = typer.Option("ours", "--engine", help="ours | ours-approx | gmr | rtree | brute."),
    model: str = typer.Option(None, "--model", help="Override the model that embeds --text."),
    device: str = typer.Option(None, "--device", help="Device for the model."),
) -> None:
    """Top-k objects for a query location and text, as a table (rank, id, score, distance, similarity)."""
    import time

    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from ugbench.search.index import ENGINES, GeoIndex
    from ugbench.search.scoring import check_mu_k
    from ugcore.errors import UserError

    check_mu_k(mu, k)
    if engine not in ENGINES:
        raise UserError(f"unknown engine '{engine}'; use one of {', '.join(ENGINES)}")
    if (text is None) == (vector is None):
        raise UserError("give exactly one of --text or --vector")
    if not index.exists():
        raise UserError(f"index {index} not found; build one with `ugbench search build`")
    idx = GeoIndex.load(index)
    if vector is not None:
        if not vector.is_file():
            raise UserError(f"query vector file {vector} not found")
        q = _load_npy(vector, "--vector").reshape(-1)
    else:
        name = model or idx.meta.get("model")
        if not name:
            raise UserError(f"{index} was built from precomputed vectors: pass --model NAME or --vector FILE.npy")
        from ugbench.models.registry import load_model
        from ugcore.protocol import EncodeItem

        enc = load_model(name, device=device)
        q = np.asarray(enc.encode([EncodeItem(text=text)], task_name="geo_knn_search", side="query"))[0]
    t0 = time.perf_counter()
    res = idx.search((lon, lat), q, k=k, mu=mu, engine=engine)
    ms = (time.perf_counter() - t0) * 1e3
    pos = np.argsort(idx.ids)[res.indices]  # stored rows of the results
    d = idx.space.distances(np.array([lon, lat]), pos)
    qn = q / np.linalg.norm(q)
    sims = idx.vectors[pos].astype(np.float64) @ qn
    unit = "m" if idx.metric == "haversine" else ""
    table = Table(title=f"top-{k} by F = {mu} * Dst + {1 - mu:.2f} * Sim ({engine}, {ms:.1f} ms)")
    for c in ("rank", "id", "F", "distance" + (f" ({unit})" if unit else ""), "Sim", "lon", "lat"):
        if c == "id":
            table.add_column(c, justify="left", overflow="fold")  # ids are never cut with an ellipsis
        else:
            table.add_column(c, justify="right", no_wrap=True)
    for r, (oid, s, dd, sm, p) in enumerate(zip(res.object_ids, res.scores, d, sims, pos, strict=True), 1):
        table.add_row(str(r), oid, f"{s:.4f}", f"{dd:.1f}" if unit else f"{dd:.5f}", f"{sm:.4f}",
                      f"{idx.coords[p, 0]:.5f}", f"{idx.coords[p, 1]:.5f}")
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(search_app, name="search")
