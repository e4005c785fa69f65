"""The model protocol: what any embedding model must offer to be scored by ugbench (and what a UGE checkpoint
offers, so uge implements it without importing the harness).

Modelled on MTEB's EncoderProtocol: a structural type, not a base class, so a user's model needs no
import from this package. The harness resolves the per-task, per-side instruction and passes it in;
it also writes it into the results so a score can be reproduced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

__all__ = ["EncodeItem", "EncoderProtocol", "GraphContext", "Modality", "ModelMeta", "Side"]

Side = Literal["query", "document"]
Modality = Literal["text", "image", "graph"]


@dataclass(frozen=True)
class GraphContext:
    """Graph context for one item: an ego subgraph of a UGData graph.

    A model that uses graphs loads nodes/edges from `data_dir` (ugdata.format.load(data_dir).nodes/edges)
    once and caches them; `node_ids` lists the subgraph's nodes with the centre first.
    """

    data_dir: str
    node_ids: tuple[str, ...]

    @property
    def center(self) -> str:
        return self.node_ids[0]


@dataclass
class EncodeItem:
    """One input to encode: text, an image, or both, with optional graph context.

    `lat`/`lon` are set only where the task allows a model to see a location (documents that ARE
    locations); they are never set on a query whose location is the answer.
    """

    text: str | None = None
    image: Any | None = None  # PIL.Image.Image
    graph: GraphContext | None = None
    lat: float | None = None
    lon: float | None = None
    id: str | None = None  # stable id of the item (for caching/debugging), never a label

    @property
    def modalities(self) -> tuple[str, ...]:
        out = []
        if self.text is not None:
            out.append("text")
        if self.image is not None:
            out.append("image")
        if self.graph is not None:
            out.append("graph")
        return tuple(out)


@dataclass
class ModelMeta:
    """Typed metadata for a model (MTEB's ModelMeta, trimmed to what ugbench uses)."""

    name: str
    revision: str = "none"
    n_parameters: int | None = None
    embed_dim: int | None = None
    modalities: list[str] = field(default_factory=lambda: ["text"])
    pooling: str = "unknown"  # mean | cls | last_token | none | ...
    normalized: bool = True
    license: str | None = None
    reference: str | None = None
    adapter: str = "unknown"  # the registry name of the adapter that loaded it
    training_datasets: dict[str, list[str]] = field(default_factory=dict)  # dataset -> splits seen
    framework: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def is_zero_shot(self, dataset_fingerprint: str | None, dataset_name: str | None = None) -> bool:
        """Zero-shot on a task unless the model declares training on that dataset (by fingerprint or name)."""
        keys = {k for k in (dataset_fingerprint, dataset_name) if k}
        return not any(k in self.training_datasets for k in keys)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@runtime_checkable
class EncoderProtocol(Protocol):
    """Anything with `meta` and `encode` is a model ugbench can score."""

    meta: ModelMeta

    def encode(
        self,
        items: Sequence[EncodeItem],
        *,
        task_name: str,
        side: Side,
        instruction: str | None = None,
        batch_size: int = 32,
    ) -> np.ndarray:
        """Return a float array of shape (len(items), embed_dim); one row per item, finite values."""
        ...
