"""The UGE embedder as a torch module: a (LoRA-adapted) VLM backbone, optional projection, optional
stage-2 graph encoder whose node embeddings enter the VLM as soft tokens, and the loss temperature.

The backbone is reached only through a BackboneAdapter (uge/backbone.py), which knows the family's
prompt format, processor and where the graph placeholder tokens sit; this module knows nothing of
Qwen vs. LLaVA.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from .config import UGEConfig
from .graph_data import GraphStore
from .graph_encoder import GraphEncoder
from .losses import Temperature


@dataclass
class EncodeInput:
    """What the model encodes: text and/or a PIL image, an instruction, optional ego subgraph node ids."""

    text: str | None = None
    image: Any | None = None
    instruction: str | None = None
    graph: Sequence[str] | None = None


class BackboneAdapter(Protocol):
    """What uge needs from a VLM backbone (implemented in uge/backbone.py over ugbench's VLM layer)."""

    name: str
    hidden_size: int
    model: nn.Module

    def prepare(self, inputs: Sequence[EncodeInput], n_graph_tokens: Sequence[int]) -> Any:
        """Tokenise/process a batch onto the model's device; item i gets n_graph_tokens[i] graph placeholders."""
        ...

    def embed(self, model: nn.Module, batch: Any, graph_tokens: torch.Tensor | None) -> torch.Tensor:
        """Run `model` (the base or LoRA-wrapped backbone); write graph_tokens (rows in item/node order) into the
        input embeddings at the graph placeholder positions; return last-token hidden states (B, hidden)."""
        ...

    def text_token_ids(self, texts: Sequence[str], max_tokens: int) -> list[list[int]]: ...

    # Optional (VLMAdapter has them): `pooling` ("last_token" | "mean", the family's), `node_text`
    # ("token_mean" | "sentence") and node_text_features(texts, max_tokens) -> (N, H) for "sentence". An adapter
    # without them pools the last token and gets token-mean node features.

    def input_embeddings(self, model: nn.Module) -> nn.Embedding: ...

    def save_processor(self, path: str) -> None: ...

    def apply_lora(self, lora_cfg: Any) -> nn.Module:
        """Wrap the backbone in peft LoRA per config.lora; return the wrapped model."""
        ...

    def save_adapter(self, path: str) -> None:
        """Write the LoRA adapter (adapter_model.safetensors + adapter_config.json) to `path`."""
        ...


class UGEModel(nn.Module):
    def __init__(self, adapter: BackboneAdapter, cfg: UGEConfig, graph_store: GraphStore | None = None):
        super().__init__()
        object.__setattr__(self, "adapter", adapter)  # not a submodule: self.lm holds the (wrapped) model
        self.cfg = cfg
        pooling = getattr(adapter, "pooling", "last_token")
        if cfg.embedding.pooling not in ("auto", pooling):
            from ugcore.errors import UserError

            raise UserError(f"embedding.pooling={cfg.embedding.pooling} but backbone {adapter.name} pools by "
                            f"{pooling} (a property of its family); leave embedding.pooling=auto")
        lm = adapter.model
        for p in lm.parameters():
            p.requires_grad_(False)
        # New weights (LoRA A, projection, graph encoder) from train.seed alone, whatever ran before: the same
        # config gives the same untrained model (the learning test's baseline relies on it).
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.train.seed)
            self._build_new_weights(adapter, cfg, lm, graph_store)
        self._node_feat: torch.Tensor | None = None
        self._node_have: torch.Tensor | None = None
        # An evaluation probe, not a training option: True replaces every graph soft token by a zero vector (the
        # placeholders stay), to measure how much of a stage-2 model's score comes from the graph (UGEEmbedder.graph_mode).
        self.zero_graph_tokens = False

    def _build_new_weights(self, adapter, cfg: UGEConfig, lm, graph_store) -> None:
        if cfg.lora.enabled:
            lm = adapter.apply_lora(cfg.lora)
        self.lm = lm
        h = adapter.hidden_size
        self.proj = nn.Linear(h, cfg.embedding.projection_dim, bias=False) if cfg.embedding.projection_dim else None
        self.temperature = Temperature(cfg.loss.temperature, cfg.loss.learnable_temperature)
        self.graph_encoder: GraphEncoder | None = None
        object.__setattr__(self, "graph_store", graph_store)
        if cfg.train.stage == 2:
            emb = adapter.input_embeddings(self.lm)
            self.graph_encoder = GraphEncoder(cfg.graph, emb.weight.shape[1], h)
            # Start the soft tokens at the scale of the LLM's own token embeddings: a unit-gain LayerNorm would
            # make them ~1/std(emb) times larger than any word (x50 for Qwen2-VL) and wreck the stage-1 features
            # on the first step. The gain is still learnt.
            with torch.no_grad():
                self.graph_encoder.out_norm.weight.fill_(float(emb.weight.float().std()))

    @property
    def embed_dim(self) -> int:
        return self.cfg.embedding.projection_dim or self.adapter.hidden_size

    def set_graph_store(self, store: GraphStore | None) -> None:
        if store is self.graph_store:
            return  # the same tables: the node-feature cache stays valid
        object.__setattr__(self, "graph_store", store)
        self._node_feat = None
        self._node_have = None

    def enable_gradient_checkpointing(self) -> None:
        base = self.lm.get_base_model() if hasattr(self.lm, "get_base_model") else self.lm
        if hasattr(base, "gradient_checkpointing_enable"):
            base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})

    # ----------------------------------------------------------------------------------------- graph

    @property
    def pooling(self) -> str:
        """"last_token" or "mean": how the backbone pools (its family's), for ModelMeta and ugbench_model.json."""
        return str(getattr(self.adapter, "pooling", "last_token"))

    @torch.no_grad()
    def node_text_features(self, idx: torch.Tensor) -> torch.Tensor:
        """Each node's text feature, cached: the mean input-token embedding of its text (<= graph.node_text_max_tokens),
        or, for a family whose node_text is "sentence", the frozen LM's sentence embedding of it.

        Both come from frozen weights (LoRA adapts attention only and is switched off for sentence features), so
        caching is exact."""
        store = self.graph_store
        emb = self.adapter.input_embeddings(self.lm)
        if self._node_feat is None:
            self._node_feat = torch.zeros(len(store), emb.weight.shape[1], dtype=torch.float32)
            self._node_have = torch.zeros(len(store), dtype=torch.bool)
        need = torch.unique(idx[~self._node_have[idx]])
        if len(need) and getattr(self.adapter, "node_text", "token_mean") == "sentence":
            texts = [store.texts[i] for i in need.tolist()]
            self._node_feat[need] = self.adapter.node_text_features(texts, self.cfg.graph.node_text_max_tokens)
            self._node_have[need] = True
        elif len(need):
            ids = self.adapter.text_token_ids([store.texts[i] for i in need.tolist()], self.cfg.graph.node_text_max_tokens)
            w = emb.weight
            for row, toks in zip(need.tolist(), ids, strict=True):
                if toks:
                    self._node_feat[row] = w[torch.tensor(toks, device=w.device)].float().mean(0).cpu()
            self._node_have[need] = True
        return self._node_feat[idx]

    def fit_graph_text_norm(self, max_nodes: int = 8_192) -> None:
        """Fit the graph encoder's node-text standardisation on (a fixed sample of) the graph store's nodes.

        A per-dimension mean and std are as good from 8,192 nodes as from all of them, and a family whose node
        features are sentence embeddings pays a forward pass per node: 46,591 nodes of the UGBench 2.0 graph
        took minutes of every stage-2 start on CPU."""
        if self.graph_encoder is None or self.graph_store is None or bool(self.graph_encoder.text_mean.any()):
            return  # no graph, or statistics already fitted (loaded from a stage-2 checkpoint)
        n = len(self.graph_store)
        idx = torch.arange(n)
        if n > max_nodes:  # a seeded sample: the same graph gives the same statistics on every rank and rerun
            idx = torch.randperm(n, generator=torch.Generator().manual_seed(0))[:max_nodes].sort().values
        self.graph_encoder.fit_text_norm(self.node_text_features(idx))

    def graph_tokens(self, contexts: Sequence[Sequence[str]]) -> tuple[torch.Tensor, list[int]]:
        if self.graph_store is None or self.graph_encoder is None:
            raise RuntimeError("graph tokens requested but the model has no graph store / graph encoder")
        gb = self.graph_store.batch(contexts, self.cfg.graph.max_nodes)
        dev = next(self.graph_encoder.parameters()).device
        feats = self.node_text_features(gb.node_idx).to(dev)
        toks = self.graph_encoder(feats, gb.lonlat.to(dev), gb.edge_index.to(dev), gb.edge_attr.to(dev))
        return toks, gb.sizes

    # ----------------------------------------------------------------------------------------- encode

    def _late_fusion(self, toks: torch.Tensor, sizes: Sequence[int], n_graph: Sequence[int]) -> torch.Tensor:
        """(B, hidden): readout(pool of the item's graph tokens) for items with a graph, 0 for the rest."""
        pooled = self.graph_encoder.pool(toks, list(sizes))
        out = toks.new_zeros(len(n_graph), toks.shape[-1])
        rows = torch.tensor([i for i, n in enumerate(n_graph) if n], device=toks.device)
        return out.index_copy(0, rows, self.graph_encoder.readout(pooled))

    def forward(self, inputs: Sequence[EncodeInput]) -> torch.Tensor:
        """Embed a batch: (B, embed_dim), L2-normalised when embedding.normalize."""
        use_graph = self.graph_encoder is not None
        ctxs = [x.graph for x in inputs if use_graph and x.graph]
        toks, sizes = self.graph_tokens(ctxs) if ctxs else (None, [])
        if toks is not None and self.zero_graph_tokens:
            toks = torch.zeros_like(toks)
        it = iter(sizes)
        n_graph = [next(it) if use_graph and x.graph else 0 for x in inputs]
        batch = self.adapter.prepare(inputs, n_graph)
        h = self.adapter.embed(self.lm, batch, toks)
        if toks is not None and self.graph_encoder.readout is not None:
            h = h + self._late_fusion(toks, sizes, n_graph).to(h.dtype)
        if self.proj is not None:
            h = self.proj(h.to(self.proj.weight.dtype))
        h = h.float()
        return F.normalize(h, dim=-1) if self.cfg.embedding.normalize else h

    def trainable_named_parameters(self) -> list[tuple[str, nn.Parameter]]:
        return [(n, p) for n, p in self.named_parameters() if p.requires_grad]

    def param_groups(self) -> list[dict[str, Any]]:
        """Backbone-side (LoRA, projection, temperature) at lr * backbone_lr_scale (stage 2), the backbone's fully
        trained modules (peft modules_to_save: a family's random vision tower) at vision_lr times the same scale,
        and the graph encoder at graph_lr; no weight decay on norms, biases and the temperature."""
        o = self.cfg.optim
        stage2 = self.cfg.train.stage == 2
        scale = o.backbone_lr_scale if stage2 else 1.0
        lrs = {"backbone": o.lr * scale, "vision": (o.vision_lr if o.vision_lr is not None else o.lr) * scale,
               "graph": o.graph_lr if o.graph_lr is not None else o.lr}
        groups: dict[tuple[str, bool], list[nn.Parameter]] = {}
        for n, p in self.trainable_named_parameters():
            kind = "graph" if n.startswith("graph_encoder.") else "vision" if ".modules_to_save." in n else "backbone"
            decay = p.ndim >= 2 and "norm" not in n.lower()
            groups.setdefault((kind, decay), []).append(p)
        out = []
        for (kind, decay), ps in sorted(groups.items()):
            out.append({"params": ps, "lr": lrs[kind],
                        "weight_decay": o.weight_decay if decay else 0.0, "name": f"{kind}{'' if decay else '_nodecay'}"})
        return out
