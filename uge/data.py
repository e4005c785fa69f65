"""Training pairs from a UGData directory, in a deterministic, resumable order.

A training example is one query with its positives and spatial hard negatives. Pair types (config
`data.pair_types`, name -> sampling weight):

- image_caption:  image + instruction -> the spatial context caption (+ reasoning paths as extra positives)
- image_path:     image + instruction -> one spatial reasoning path from that view
- text_image:     a StreetSem-style query text + instruction -> the street view image
- fusion_caption: image + query text + instruction -> the caption
- graph_caption:  the view's ego subgraph alone (graph soft tokens) + instruction -> the caption (stage 2 only).
                  Why: images never show place names, so image -> caption training teaches the shared text side
                  to drop the names from caption embeddings within a few steps, and then nothing rewards the
                  graph tokens for carrying them (measured: docs/training.md). Graph-only queries can match
                  captions only by what the graph holds (names above all), so they reward both sides for keeping
                  it; on MiniLM-VLM, 100 stage-2 steps with half the pairs graph-only did not bring the names back.

Hard negatives are the same kind of document for the view's `hard_negative_ids` (spatially near, not the
same place). Every document has a key (e.g. "cap:<image_id>"): a query's positives are matched by key, so a
document that appears twice in a batch (as a positive of one query and a hard negative of another) is never
counted as a false negative.

Order: epoch e uses a permutation drawn from seed+e; optimizer step s of an epoch takes rows
[s*G, (s+1)*G) with G = world * per_device_batch * grad_accum, and rank r its own contiguous slice. The
data position is therefore just (epoch, step), which the checkpoint stores, so resume continues exactly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ugcore.errors import DataError, UserError

DEFAULT_INSTRUCTIONS = {
    "image_caption": "Describe the spatial context of this street view: streets, nearby places and surroundings.",
    "image_path": "Give a spatial reasoning path that starts at this street view.",
    "text_image": "Find the street view that matches this description.",
    "fusion_caption": "Given this street view and the request, describe its spatial context.",
    "graph_caption": "Describe the spatial context of this place: streets, nearby places and surroundings.",
}
QUERY_FIELDS = ("atmosphere", "activity", "object", "geography", "creativity")
STAGE2_COLUMNS = ("graph_context",)


@dataclass
class Item:
    """One thing to encode. `graph` is the ego subgraph (node ids, centre first) or None."""

    text: str | None = None
    image_id: str | None = None
    instruction: str | None = None
    graph: list[str] | None = None
    key: str = ""


@dataclass
class Example:
    query: Item
    positives: list[Item]
    negatives: list[Item] = field(default_factory=list)


def stable_key(text: str) -> int:
    """A process-independent 63-bit hash (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") & (2**63 - 1)


class PairBuilder:
    """Turns view rows into Examples; deterministic given (seed, epoch, row)."""

    def __init__(
        self,
        views: pd.DataFrame,
        *,
        pair_types: dict[str, float],
        instructions: dict[str, str],
        hard_negatives: int,
        max_positives: int,
        with_graph: bool,
        seed: int,
        instruction_pool: dict[str, list[str]] | None = None,
        instruction_prob: float = 0.0,
    ):
        self.views = views.reset_index(drop=True)
        self.by_id = {iid: i for i, iid in enumerate(self.views["image_id"])}
        names = [k for k, w in pair_types.items() if w > 0]
        if not names:
            raise UserError("data.pair_types gives every pair type weight 0; give at least one a positive weight")
        w = np.array([pair_types[k] for k in names], dtype=np.float64)
        self.pair_names, self.pair_probs = names, w / w.sum()
        self.instructions = {**DEFAULT_INSTRUCTIONS, **instructions}
        self.hard_negatives = hard_negatives
        self.max_positives = max_positives
        self.with_graph = with_graph
        self.seed = seed
        self.pool = {k: v for k, v in (instruction_pool or {}).items() if v}
        self.pool_prob = instruction_prob if self.pool else 0.0

    def __len__(self) -> int:
        return len(self.views)

    def _graph(self, row) -> list[str] | None:
        return [str(x) for x in row["graph_context"]] if self.with_graph else None

    @staticmethod
    def _query_text(row, rng) -> str | None:
        q = row.get("queries")
        if isinstance(q, dict):
            texts = [q[f] for f in QUERY_FIELDS if isinstance(q.get(f), str) and q.get(f)]
            if texts:
                return texts[int(rng.integers(len(texts)))]
        return None

    def _paths(self, row) -> list[str]:
        p = row.get("paths")
        return [str(x) for x in p] if p is not None and len(p) else []

    def _neg_rows(self, row, rng) -> list[Any]:
        ids = [i for i in (row.get("hard_negative_ids") if row.get("hard_negative_ids") is not None else [])
               if i in self.by_id]
        if not ids or self.hard_negatives == 0:
            return []
        pick = rng.permutation(len(ids))[: self.hard_negatives]
        return [self.views.iloc[self.by_id[ids[j]]] for j in pick]

    def example(self, index: int, epoch: int) -> Example:
        row = self.views.iloc[index]
        rng = np.random.default_rng([self.seed, epoch, index])
        kind = self.pair_names[int(rng.choice(len(self.pair_names), p=self.pair_probs))]
        iid = str(row["image_id"])
        paths = self._paths(row)
        qtext = self._query_text(row, rng)
        if kind == "image_path" and not paths:
            kind = "image_caption"
        if kind in ("text_image", "fusion_caption") and qtext is None:
            kind = "image_caption"
        instr = self.instructions[kind]
        negs = self._neg_rows(row, rng)
        if kind == "image_caption":
            q = Item(image_id=iid, instruction=instr, graph=self._graph(row), key=f"img:{iid}")
            pos = [Item(text=str(row["caption"]), key=f"cap:{iid}")]
            for k in rng.permutation(len(paths))[: self.max_positives - 1]:
                pos.append(Item(text=paths[k], key=f"path:{iid}:{k}"))
            neg = [Item(text=str(n["caption"]), key=f"cap:{n['image_id']}") for n in negs]
        elif kind == "image_path":
            k = int(rng.integers(len(paths)))
            q = Item(image_id=iid, instruction=instr, graph=self._graph(row), key=f"img:{iid}")
            pos = [Item(text=paths[k], key=f"path:{iid}:{k}")]
            neg = []
            for n in negs:
                npaths = self._paths(n)
                if npaths:
                    neg.append(Item(text=npaths[0], key=f"path:{n['image_id']}:0"))
        elif kind == "text_image":
            q = Item(text=qtext, instruction=instr, key=f"qtext:{iid}")
            pos = [Item(image_id=iid, graph=self._graph(row), key=f"img:{iid}")]
            neg = [Item(image_id=str(n["image_id"]), graph=self._graph(n), key=f"img:{n['image_id']}") for n in negs]
        elif kind == "graph_caption":
            q = Item(instruction=instr, graph=self._graph(row), key=f"graph:{iid}")
            pos = [Item(text=str(row["caption"]), key=f"cap:{iid}")]
            neg = [Item(text=str(n["caption"]), key=f"cap:{n['image_id']}") for n in negs]
        else:  # fusion_caption
            q = Item(text=qtext, image_id=iid, instruction=instr, graph=self._graph(row), key=f"fus:{iid}")
            pos = [Item(text=str(row["caption"]), key=f"cap:{iid}")]
            neg = [Item(text=str(n["caption"]), key=f"cap:{n['image_id']}") for n in negs]
        if self.pool_prob:
            for it in (q, *pos, *neg):
                self._maybe_task_instruction(it, rng)
        return Example(query=q, positives=pos, negatives=neg)

    def _maybe_task_instruction(self, item: Item, rng) -> None:
        """Swap in one of the dataset's task instructions for this item's modality, with probability pool_prob.
        Drawn for every item (used or not) so the random stream does not depend on the pool's contents."""
        u, k = rng.random(), rng.integers(1 << 30)
        choices = self.pool.get("image" if item.image_id else "text", [])
        if choices and u < self.pool_prob:
            item.instruction = choices[int(k) % len(choices)]


class StepSampler:
    """Which rows each rank uses at (epoch, step): a pure function, so resume needs only the position.

    With `groups` (one place id per row) and `group_size` > 1, rows are shuffled in units of up to
    `group_size` views of the same place (a street-view point's headings), so those views share a batch and
    are each other's in-batch negatives in both loss directions: the only way to learn what tells views of
    one place apart (heading, what is in front). Places are drawn in a fresh order every epoch, as are the
    views inside a place; every row is still used once per epoch.
    """

    def __init__(self, n_rows: int, global_batch: int, seed: int, *, groups: np.ndarray | None = None,
                 group_size: int = 1):
        if n_rows < global_batch:
            raise UserError(
                f"the training split has {n_rows} rows but one optimizer step needs {global_batch} "
                "(processes x train.per_device_batch_size x train.gradient_accumulation_steps); lower the batch size"
            )
        self.n_rows, self.global_batch, self.seed = n_rows, global_batch, seed
        self.steps_per_epoch = n_rows // global_batch  # the incomplete last batch is dropped (same size every step)
        self.group_size = group_size if groups is not None else 1
        if self.group_size > 1:
            _, self._group_of = np.unique(np.asarray(groups), return_inverse=True)
        self._epoch: int | None = None
        self._perm: np.ndarray | None = None

    def _permutation(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, 7919, epoch])
        if self.group_size <= 1:
            return rng.permutation(self.n_rows)
        units: list[np.ndarray] = []
        order = rng.permutation(self.n_rows)  # shuffles the views inside each place
        by_group = pd.Series(order).groupby(self._group_of[order], sort=True)
        for _, rows in by_group:
            r = rows.to_numpy()
            units.extend(r[i : i + self.group_size] for i in range(0, len(r), self.group_size))
        return np.concatenate([units[i] for i in rng.permutation(len(units))])

    def rows(self, epoch: int, step_in_epoch: int) -> np.ndarray:
        if epoch != self._epoch:
            self._epoch, self._perm = epoch, self._permutation(epoch)
        return self._perm[step_in_epoch * self.global_batch : (step_in_epoch + 1) * self.global_batch]


def place_ids(views: pd.DataFrame) -> np.ndarray:
    """A place per row: views taken at the same point (coordinates equal to ~1 cm) share one."""
    return (views["lat"].round(7).astype(str) + "," + views["lon"].round(7).astype(str)).to_numpy()


def task_instruction_pool(data) -> dict[str, list[str]]:
    """The instructions a UGData's tasks give each side, by that side's modality ('image' / 'text'), sorted.

    An image side takes the instruction its task gives images (query or document); text likewise. Sides
    that mix modalities (text + image queries) count for both."""
    pool: dict[str, set[str]] = {"image": set(), "text": set()}
    for name in data.task_names():
        spec = data.task_spec(name)
        for side, mods in (("query", spec.query_modalities), ("document", spec.doc_modalities)):
            instr = (spec.instructions or {}).get(side)
            for m in mods:
                if instr and m in pool:
                    pool[m].add(str(instr))
    return {k: sorted(v) for k, v in pool.items()}


def check_views(views: pd.DataFrame, *, stage: int, data_dir: str, split: str) -> None:
    """Fail before heavy work if the dataset cannot feed this stage."""
    if views.empty:
        raise DataError(f"{data_dir}: split '{split}' is empty; pick another data.train_split or rebuild the dataset")
    need = {"image_id", "caption"}
    if stage == 2:
        need |= set(STAGE2_COLUMNS)
    missing = sorted(need - set(views.columns))
    if missing:
        hint = " (stage 2 needs the graph fields; rebuild with a current `ugdata build`)" if stage == 2 else ""
        raise DataError(f"{data_dir}: split '{split}' lacks column(s) {missing}{hint}")
    if stage == 2:
        empty = views["graph_context"].map(lambda x: x is None or len(x) == 0)
        if empty.any():
            row = int(np.flatnonzero(empty.to_numpy())[0])
            raise DataError(
                f"{data_dir}: split '{split}' row {row} (image_id {views['image_id'].iloc[row]}) has an empty "
                "graph_context; stage 2 needs an ego subgraph for every view"
            )
