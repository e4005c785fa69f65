"""A trained UGE checkpoint as a ugbench model (ugcore/protocol.py EncoderProtocol).

`ugbench evaluate --model CKPT_DIR` reads CKPT_DIR/ugbench_model.json, imports
"uge.embedder:load_checkpoint" and calls it; ugbench itself never imports uge. Stage-2 checkpoints use an
item's GraphContext (the ego subgraph, centre first) and load the graph tables from its data_dir once.

graph_mode (`--model-option graph_mode=zero|other`) asks where a stage-2 score comes from: the same checkpoint
with its graph soft tokens replaced by zeros, or fed another place's graph (other_place.py). The model's name
and revision say which, so embedding caches never mix the modes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ugcore.errors import UserError
from ugcore.protocol import EncodeItem, ModelMeta

from .model import EncodeInput, UGEModel
from .other_place import OtherPlaceGraphs

GRAPH_MODES = ("real", "zero", "other")


class UGEEmbedder:
    """EncoderProtocol over a UGEModel (trained or not)."""

    def __init__(self, model: UGEModel, name: str, *, device: str | None = None, training_data: str | None = None,
                 fingerprint: str | None = None, stores: dict[str, object] | None = None, graph_mode: str = "real"):
        """stores: graph stores already loaded, by UGData folder (the trainer passes its own).
        graph_mode: "real" (each item's own ego subgraph), "zero" (graph soft tokens replaced by zero vectors) or
        "other" (each item gets the ego subgraph of a place far away in the same city); see OtherPlaceGraphs."""
        if graph_mode not in GRAPH_MODES:
            raise UserError(f"graph_mode must be one of {', '.join(GRAPH_MODES)} (got '{graph_mode}')")
        if graph_mode != "real" and model.graph_encoder is None:
            raise UserError(f"graph_mode={graph_mode} needs a stage-2 checkpoint (this one has no graph encoder)")
        self.model = model.eval()
        self.model.zero_graph_tokens = graph_mode == "zero"
        self.graph_mode = graph_mode
        self.device = device
        self._stores: dict[str, object] = dict(stores or {})
        self._store_key: str | None = None
        self._other: dict[str, OtherPlaceGraphs] = {}
        cfg = model.cfg
        modalities = ["text", "image"] + (["graph"] if model.graph_encoder is not None else [])
        training = {}
        if fingerprint:
            training[fingerprint] = [cfg.data.train_split]
        if training_data:
            training[str(training_data)] = [cfg.data.train_split]
        n_params = sum(p.numel() for p in model.parameters())
        suffix = "" if graph_mode == "real" else f"+graph-{graph_mode}"
        self.meta = ModelMeta(
            name=name + suffix, revision="local" + suffix, n_parameters=n_params, embed_dim=model.embed_dim, modalities=modalities,
            pooling=model.pooling, normalized=cfg.embedding.normalize, adapter="checkpoint",
            reference="arXiv:2602.08342", training_datasets=training, framework=["PyTorch", "uge"],
            extra={"backbone": cfg.backbone.name_or_path, "stage": cfg.train.stage, "graph_mode": graph_mode},
        )

    def use_graph_store(self, data_dir: str) -> None:
        """Load (once) and switch to the graph of a UGData folder: encode() does this for each item's graph
        context; a caller that reads the model's graph tokens directly (a probe) calls it first."""
        if data_dir == self._store_key:
            return
        if data_dir not in self._stores:
            import ugdata

            from .graph_data import GraphStore

            d = ugdata.load(data_dir)
            self._stores[data_dir] = GraphStore(d.nodes, d.edges)
        self.model.set_graph_store(self._stores[data_dir])
        self._store_key = data_dir

    def _other_place(self, data_dir: str) -> OtherPlaceGraphs:
        if data_dir not in self._other:
            self._other[data_dir] = OtherPlaceGraphs.from_data(data_dir)
        return self._other[data_dir]

    @torch.no_grad()
    def encode(self, items: Sequence[EncodeItem], *, task_name: str, side: str, instruction: str | None = None,
               batch_size: int = 32) -> np.ndarray:
        graph_ok = self.model.graph_encoder is not None
        out = []
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            dirs = {it.graph.data_dir for it in chunk if graph_ok and it.graph is not None and it.graph.node_ids}
            if len(dirs) > 1:  # one graph store per forward pass
                raise UserError(f"one encode batch mixes graph contexts from several UGData dirs {sorted(dirs)}; "
                                "encode each dataset's items separately")
            inputs = []
            for it in chunk:
                g = None
                if graph_ok and it.graph is not None and it.graph.node_ids:
                    self.use_graph_store(it.graph.data_dir)
                    g = list(it.graph.node_ids)
                    if self.graph_mode == "other":
                        g = self._other_place(it.graph.data_dir).swap(g)
                if it.text is None and it.image is None and g is None:
                    raise UserError(f"item {it.id or start}: nothing to encode (no text, image or graph)")
                inputs.append(EncodeInput(text=it.text, image=it.image, instruction=instruction, graph=g))
            out.append(self.model(inputs).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.model.embed_dim), np.float32)


def load_checkpoint(path: str, device: str | None = None, graph_mode: str = "real") -> UGEEmbedder:
    """ugbench's checkpoint loader: a UGE checkpoint folder -> EncoderProtocol model (graph_mode: UGEEmbedder's)."""
    import json

    from .backbone import load_adapter
    from .checkpoint import load_model_weights, read_checkpoint_config

    p = Path(path)
    cfg = read_checkpoint_config(p)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    cfg.backbone.gradient_checkpointing = False
    adapter = load_adapter(cfg.backbone, device=device)
    model = UGEModel(adapter, cfg)
    load_model_weights(model, p)
    model.to(device)
    meta = json.loads((p / "ugbench_model.json").read_text()) if (p / "ugbench_model.json").is_file() else {}
    return UGEEmbedder(model, meta.get("name", p.name), device=device, training_data=cfg.data.path,
                       graph_mode=graph_mode)

