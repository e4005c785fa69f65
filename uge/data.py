"""Training pairs from a UGData directory, in a deterministic, resumable order.

A training example is one query with its positives and spatial hard negatives. Pair types (config
`data.pair_types`, name -> sampling weight):

- image_caption:  image + instruction -> the spatial context caption (+ reasoning paths as extra positives)
- image_path:     image + instruction -> one spatial reasoning path from that view
- text_image:     a StreetSem-style query text + instruction -> the street view image
- fusion_caption: image + query text + instruction -> the caption

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

from ugdata.common.errors import DataError, UserError

DEFAULT_INSTRUCTIONS = {
    "image_caption": "Describe the spatial context of this street view: streets, nearby places and surroundings.",
    "image_path": "Give a spatial reasoning path that starts at this street view.",
    "text_image": "Find the street view that matches this description.",
    "fusion_caption": "Given this street view and the request, describe its spatial context.",
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
        else:  # fusion_caption
            q = Item(text=qtext, image_id=iid, instruction=instr, graph=self._graph(row), key=f"fus:{iid}")
            pos = [Item(text=str(row["caption"]), key=f"cap:{iid}")]
            neg = [Item(text=str(n["caption"]), key=f"cap:{n['image_id']}") for n in negs]
        return Example(query=q, positives=pos, negatives=neg)


class StepSampler:
    """Which rows each rank uses at (epoch, step): a pure function, so resume needs only the position."""

    def __init__(self, n_rows: int, global_batch: int, seed: int):
        if n_rows < global_batch:
            raise UserError(
                f"the training split has {n_rows} rows but one optimizer step needs {global_batch} "
                "(processes x train.per_device_batch_size x train.gradient_accumulation_steps); lower the batch size"
            )
        self.n_rows, self.global_batch, self.seed = n_rows, global_batch, seed
        self.steps_per_epoch = n_rows // global_batch  # the incomplete last batch is dropped (same size every step)

    def rows(self, epoch: int, step_in_epoch: int) -> np.ndarray:
        perm = np.random.default_rng([self.seed, 7919, epoch]).permutation(self.n_rows)
        return perm[step_in_epoch * self.global_batch : (step_in_epoch + 1) * self.global_batch]


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
