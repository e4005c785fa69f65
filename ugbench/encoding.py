"""Batched, cached, optionally sharded encoding of task items through any EncoderProtocol model.

The harness (not the model) batches, so it can show progress, check every batch, cache whole chunks and
split chunks between processes. With several processes (`accelerate launch -m ugbench evaluate ...`) the
missing chunks are divided with accelerate's `PartialState.split_between_processes`, each process encodes
and caches its share, and `gather_object` gives every process all chunks, so the scores equal a
single-process run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ugcore.errors import UserError
from ugcore.protocol import EncodeItem, GraphContext
from ugcore.shared import forced_delay, warn

from .cache import CacheEntry, EmbeddingCache, model_digest
from .images import ImageStore


@dataclass
class ItemTable:
    """Items of one side, as plain columns; EncodeItems (and images) are materialised per chunk."""

    ids: list[str]
    texts: list[str | None]
    image_ids: list[str | None]
    graphs: list[tuple[str, ...] | None] = field(default_factory=list)
    lats: list[float | None] = field(default_factory=list)
    lons: list[float | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)


class EmbeddingCheckError(UserError):
    pass


def check_embeddings(arr, n: int, *, model: str, task: str, side: str, dim: int | None) -> np.ndarray:
    """One finite row per input with a consistent dimension, else a UserError naming model and task."""
    where = f"model '{model}' on task '{task}' ({side} side)"
    try:
        a = np.asarray(arr, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise EmbeddingCheckError(f"{where} returned something that is not a numeric array ({e})") from None
    if a.ndim != 2:
        raise EmbeddingCheckError(f"{where} returned an array of shape {a.shape}; expected (n_items, dim)")
    if a.shape[0] != n:
        raise EmbeddingCheckError(f"{where} returned {a.shape[0]} embeddings for {n} inputs; expected one per input")
    if dim is not None and a.shape[1] != dim:
        raise EmbeddingCheckError(
            f"{where} returned embeddings of dimension {a.shape[1]}; expected {dim} (as in its other outputs "
            "or ModelMeta.embed_dim)"
        )
    bad = ~np.isfinite(a).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        raise EmbeddingCheckError(f"{where} returned NaN or inf embeddings ({int(bad.sum())} rows, e.g. rows {rows})")
    return a


class Encoder:
    """Encodes ItemTables for one model and data directory."""

    def __init__(self, model, ud, *, cache: EmbeddingCache | None, batch_size: int = 32,
                 show_progress: bool = True, state=None, chunk_size: int = 1024, source: str | None = None):
        """`source`: what the model was loaded from (a registry name, a folder, `module:attr`); it and the
        model's code key the cache besides the declared revision (ugbench.cache.model_digest)."""
        self.model = model
        self.source = source
        self._digest: tuple[str | None] | None = None
        self.ud = ud
        self.cache = cache
        self.batch_size = batch_size
        self.show_progress = show_progress
        self.state = state
        self.chunk_size = chunk_size
        self.images = ImageStore(ud)
        mods = getattr(model.meta, "modalities", None) or []
        self.wants_images = "image" in mods
        # A model that does not declare the graph modality embeds an item the same with or without its
        # GraphContext, so the image-only and _graph variants share cache entries for it.
        self.uses_graph = "graph" in mods
        self.encode_seconds = 0.0  # time inside model.encode (the model's own work)
        self.chunks_by_rank: dict[int, int] = {}  # chunks encoded per process (shows the sharding)
        self.dim: int | None = getattr(model.meta, "embed_dim", None)

    @property
    def _multi(self) -> bool:
        return self.state is not None and self.state.num_processes > 1

    def _items(self, table: ItemTable, lo: int, hi: int, with_graph: bool) -> list[EncodeItem]:
        image_ids = table.image_ids[lo:hi]
        need = [i for i, iid in enumerate(image_ids) if iid] if self.wants_images else []
        imgs = self.images.load([image_ids[i] for i in need]) if need else []
        pil: list = [None] * (hi - lo)
        for i, im in zip(need, imgs, strict=True):
            pil[i] = im
        data_dir = str(self.ud.root)
        out = []
        for j in range(lo, hi):
            g = table.graphs[j] if with_graph and table.graphs else None
            out.append(EncodeItem(
                text=table.texts[j], image=pil[j - lo],
                graph=GraphContext(data_dir, tuple(g)) if g else None,
                lat=table.lats[j] if table.lats else None, lon=table.lons[j] if table.lons else None,
                id=table.ids[j],
            ))
        return out

    def _encode_chunk(self, table, lo, hi, *, task, side, instruction, with_graph, progress, bar) -> np.ndarray:
        parts = []
        name = self.model.meta.name
        for s in range(lo, hi, self.batch_size):
            e = min(hi, s + self.batch_size)
            items = self._items(table, s, e, with_graph)
            t0 = time.perf_counter()
            emb = self.model.encode(items, task_name=task, side=side, instruction=instruction,
                                    batch_size=self.batch_size)
            self.encode_seconds += time.perf_counter() - t0
            emb = check_embeddings(emb, len(items), model=name, task=task, side=side, dim=self.dim)
            self.dim = emb.shape[1]
            parts.append(emb)
            if progress is not None:
                progress.advance(bar, e - s)
        return np.concatenate(parts, axis=0) if parts else np.zeros((0, self.dim or 0), np.float32)

    def _model_digest(self) -> str | None:
        if self._digest is None:
            self._digest = (model_digest(self.model, self.source),)
        return self._digest[0]

    def _plan(self, table: ItemTable, n: int, *, task, side, instruction, with_graph, cache_task, is_main):
        """(cache entry or None, chunk size, {chunk: cached array}, missing chunks), the same in every process.

        The main process opens the entry (creating, or with --overwrite clearing, it), checks every chunk
        against its checksum (a corrupt one is re-encoded, with a warning) and broadcasts the plan; the
        others load the chunks it found valid. Without a cache every chunk is missing."""
        chunk = self.cache.chunk_size if self.cache is not None else self.chunk_size
        if self.cache is None:
            return None, chunk, {}, list(range((n + chunk - 1) // chunk))
        meta = self.model.meta
        plan: dict = {}
        done: dict[int, np.ndarray] = {}
        forced_delay()  # tests force which process gets here first (UG_TEST_LOCK_DELAY)
        if is_main:
            try:
                entry = self.cache.entry(model=meta.name, revision=str(getattr(meta, "revision", "none")),
                                         model_digest=self._model_digest(), fingerprint=self.ud.fingerprint,
                                         task=cache_task or task, side=side, instruction=instruction,
                                         with_graph=with_graph and self.uses_graph, ids=list(table.ids))
                chunk = entry.chunk_size
                for i in range((n + chunk - 1) // chunk):
                    arr, problem = entry.try_load(i, rows=min(n, (i + 1) * chunk) - i * chunk)
                    if arr is not None:
                        done[i] = arr
                    elif problem is not None:
                        warn(f"embedding cache chunk {entry.chunk_path(i)} is corrupt ({problem}); "
                             "re-encoding it")
                plan = {"root": str(entry.root), "chunk": chunk, "valid": sorted(done)}
            except Exception as e:
                if not self._multi:
                    raise
                # the others wait for the plan: tell them, or they would wait forever
                failure = e
                plan = {"error": f"{e}", "type": type(e) if isinstance(e, UserError) else RuntimeError}
        if self._multi:
            from accelerate.utils import broadcast_object_list

            box = [plan]
            broadcast_object_list(box, from_process=0)
            plan = box[0]
            if "error" in plan:
                if is_main:
                    raise failure
                raise plan["type"](plan["error"])
            if not is_main:
                entry = CacheEntry(Path(plan["root"]), None, int(plan["chunk"]))
                for i in plan["valid"]:
                    # checked by the main process a moment ago; changed since only if another run rewrote it
                    done[i] = entry.load(i, rows=min(n, (i + 1) * entry.chunk_size) - i * entry.chunk_size)
        chunk, valid = int(plan["chunk"]), set(plan["valid"])
        missing = [i for i in range((n + chunk - 1) // chunk) if i not in valid]
        return entry, chunk, done, missing

    def encode(self, table: ItemTable, *, task: str, side: str, instruction: str | None,
               with_graph: bool, cache_task: str | None = None) -> np.ndarray:
        """Embeddings of `table` (one row per item). `task` is what the model is told (task_name);
        `cache_task` (default `task`) keys the cache: runners pass the UGData task folder, so the variants
        of one task (image-only/_graph for a model without the graph modality, local/global for the same
        items) share embeddings. An item's embedding may depend on the instruction, side and graph
        context, which are all in the key, but not on the variant's name."""
        n = len(table)
        if n == 0:
            return np.zeros((0, self.dim or 0), dtype=np.float32)
        meta = self.model.meta
        is_main = self.state is None or self.state.is_main_process
        entry, chunk, done, missing = self._plan(table, n, task=task, side=side, instruction=instruction,
                                                 with_graph=with_graph, cache_task=cache_task, is_main=is_main)
        n_chunks = (n + chunk - 1) // chunk
        for i, arr in done.items():
            want = min(n, (i + 1) * chunk) - i * chunk
            done[i] = check_embeddings(arr, want, model=meta.name, task=task, side=f"{side}, cached", dim=self.dim)
            self.dim = done[i].shape[1]
        mine = missing
        if self._multi and missing:
            with self.state.split_between_processes(missing) as share:
                mine = list(share)
        fresh: list[tuple[int, np.ndarray]] = []
        if mine:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            total = sum(min(n, (i + 1) * chunk) - i * chunk for i in mine)
            progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), disable=not (self.show_progress and is_main), transient=True)
            with progress:
                bar = progress.add_task(f"{task} {side}s", total=total)
                for i in mine:
                    lo, hi = i * chunk, min(n, (i + 1) * chunk)
                    arr = self._encode_chunk(table, lo, hi, task=task, side=side, instruction=instruction,
                                             with_graph=with_graph, progress=progress, bar=bar)
                    if entry is not None:
                        entry.save(i, arr)
                    fresh.append((i, arr))
        if self._multi and missing:
            from accelerate.utils import gather_object

            rank = self.state.process_index
            gathered = gather_object([(i, arr, rank) for i, arr in fresh])
            for i, arr, r in gathered:
                self.chunks_by_rank[r] = self.chunks_by_rank.get(r, 0) + 1
                arr = np.asarray(arr, dtype=np.float32)
                if self.dim is not None and arr.shape[1] != self.dim:
                    check_embeddings(arr, arr.shape[0], model=meta.name, task=task, side=side, dim=self.dim)
                self.dim = arr.shape[1]
                done[i] = arr
        else:
            done.update(dict(fresh))
            self.chunks_by_rank[0] = self.chunks_by_rank.get(0, 0) + len(fresh)
        return np.concatenate([done[i] for i in range(n_chunks)], axis=0)


def normalize_rows(a: np.ndarray, *, inplace: bool = False, rows: int = 65536) -> np.ndarray:
    """L2-normalise rows (cosine similarity); all-zero rows stay zero (they tie with everything).

    Works `rows` at a time: a row's norm does not depend on the others, so the numbers are those of one
    whole-array pass, while the temporaries stay one block in size. `inplace=True` (for an array the caller
    owns, e.g. the encoder's fresh output) writes into `a` itself, so a 10^6 x 768 corpus needs no second
    corpus-sized copy (benchmarks/global_retrieval_scale.py: 6.3 GB -> 3.4 GB peak)."""
    a = np.asarray(a, dtype=np.float32)
    out = a if inplace and a.flags.writeable else np.zeros_like(a)
    for s in range(0, len(a), rows):
        block = a[s : s + rows]
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        # in place, a row whose norm is 0 is all zeros already; otherwise `out` starts at zero
        np.divide(block, norms, out=out[s : s + rows], where=norms > 0)
    return out


def as_list(v) -> list[str]:
    """A parquet list cell (numpy array, list or None) as a list of str."""
    if v is None:
        return []
    if isinstance(v, float) and np.isnan(v):
        return []
    return [str(x) for x in v]


def opt_str(v) -> str | None:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    s = str(v)
    return s if s != "" else None


def opt_float(v) -> float | None:
    if v is None:
        return None
    f = float(v)
    return f if np.isfinite(f) else None


def graphs_of(col: Sequence) -> list[tuple[str, ...] | None]:
    return [tuple(as_list(g)) or None for g in col]
