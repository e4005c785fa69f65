"""Ego subgraphs from a UGData graph, batched for the graph encoder.

NeighborLoader cannot run here (it needs pyg-lib or torch-sparse): UGData already stores each view's ego
subgraph as a node-id list (`graph_context`, centre first), so we take the subgraph induced by those nodes
from one symmetric sparse adjacency (scipy) and batch the pieces as disjoint graphs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from ugcore.errors import DataError

from .graph_encoder import edge_attributes


@dataclass
class GraphBatch:
    """Disjoint union of ego subgraphs. `node_idx` indexes the global node table."""

    node_idx: torch.Tensor  # (N,) long
    lonlat: torch.Tensor  # (N, 2) float64
    edge_index: torch.Tensor  # (2, E) long, local to the batch
    edge_attr: torch.Tensor  # (E, 5) float32
    sizes: list[int]  # nodes per subgraph, in order


class GraphStore:
    """Node/edge tables of one UGData graph with fast induced-subgraph extraction."""

    def __init__(self, nodes: pd.DataFrame, edges: pd.DataFrame):
        missing = {"node_id", "text", "lon", "lat"} - set(nodes.columns)
        if missing:
            raise DataError(f"graph node table lacks columns {sorted(missing)}; rebuild with `ugdata build`")
        self.node_ids: list[str] = nodes["node_id"].astype(str).tolist()
        self.index: dict[str, int] = {n: i for i, n in enumerate(self.node_ids)}
        self.texts: list[str] = nodes["text"].fillna("").astype(str).tolist()
        self.lonlat = torch.tensor(nodes[["lon", "lat"]].to_numpy(np.float64))
        n = len(self.node_ids)
        if len(edges):
            src = edges["src_idx"].to_numpy(np.int64)
            dst = edges["dst_idx"].to_numpy(np.int64)
            if src.max(initial=0) >= n or dst.max(initial=0) >= n:
                raise DataError("graph edge table references node indices beyond the node table; rebuild the UGData dir")
            keep = src != dst
            lo, hi = np.minimum(src, dst), np.maximum(src, dst)
            # One entry per unordered pair (first row wins): the matrix would otherwise sum duplicates.
            _, first = np.unique((lo * n + hi)[keep], return_index=True)
            rows = np.flatnonzero(keep)[first]
            s, d = src[rows], dst[rows]
            data = np.concatenate([rows + 1, -(rows + 1)]).astype(np.int64)
            self.adj = sp.csr_matrix((data, (np.concatenate([s, d]), np.concatenate([d, s]))), shape=(n, n))
            self.edge_dist = edges["distance_m"].to_numpy(np.float32)
            self.edge_bearing = edges["bearing_deg"].to_numpy(np.float32)
        else:
            self.adj = sp.csr_matrix((n, n), dtype=np.int64)
            self.edge_dist = np.zeros(0, np.float32)
            self.edge_bearing = np.zeros(0, np.float32)

    def __len__(self) -> int:
        return len(self.node_ids)

    def indices(self, node_ids: Sequence[str], max_nodes: int, where: str = "") -> np.ndarray:
        out = []
        for nid in list(node_ids)[:max_nodes]:
            i = self.index.get(nid)
            if i is None:
                raise DataError(f"graph context{where} names node '{nid}', which the graph node table lacks")
            out.append(i)
        if not out:
            raise DataError(f"graph context{where} is empty; stage 2 needs at least the centre node")
        return np.asarray(out, dtype=np.int64)

    def batch(self, contexts: Sequence[Sequence[str]], max_nodes: int) -> GraphBatch:
        idx_all, ei_all, ea_all, sizes = [], [], [], []
        offset = 0
        for ctx in contexts:
            idx = self.indices(ctx, max_nodes)
            sub = self.adj[idx][:, idx].tocoo()
            r, c, v = sub.row.astype(np.int64), sub.col.astype(np.int64), sub.data
            erow = np.abs(v) - 1
            forward = v > 0
            bearing = np.where(forward, self.edge_bearing[erow], (self.edge_bearing[erow] + 180.0) % 360.0)
            ll = self.lonlat[idx].numpy()
            dlat = ll[c, 1] - ll[r, 1]
            dlon = ll[c, 0] - ll[r, 0]
            ea_all.append(edge_attributes(self.edge_dist[erow], bearing, dlat, dlon).reshape(-1, 5))
            ei_all.append(torch.from_numpy(np.stack([r, c]) + offset))
            idx_all.append(torch.from_numpy(idx))
            sizes.append(len(idx))
            offset += len(idx)
        return GraphBatch(
            node_idx=torch.cat(idx_all),
            lonlat=self.lonlat[torch.cat(idx_all)],
            edge_index=torch.cat(ei_all, dim=1) if ei_all else torch.zeros(2, 0, dtype=torch.long),
            edge_attr=torch.cat(ea_all) if ea_all else torch.zeros(0, 5),
            sizes=sizes,
        )
