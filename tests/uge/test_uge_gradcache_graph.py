"""GradCache gives the full-batch gradient (with dropout, via RNG replay); graph encoder and subgraphs."""

from __future__ import annotations

import pytest
import torch
from conftest import standin_config

import ugdata
from ugcore.errors import UserError
from uge.config import config_from_dict
from uge.data import PairBuilder
from uge.gradcache import gradcache_step
from uge.graph_data import GraphStore
from uge.graph_encoder import GraphEncoder
from uge.losses import info_nce
from uge.model import EncodeInput, UGEModel
from uge.train import ImageCache, flatten, to_inputs


def _model_and_batch(data_dir, stage, tmp_path, dropout=0.2):
    sections = {"lora": {"dropout": dropout}, "graph": {"dropout": dropout, "hidden_dim": 32, "edge_dim": 8}}
    if stage == 2:
        sections["train"] = {"stage": 2, "stage2_only": True}
    cfg = config_from_dict(standin_config(data_dir, tmp_path, **sections))
    from standin import StandinAdapter

    d = ugdata.load(data_dir)
    store = GraphStore(d.nodes, d.edges) if stage == 2 else None
    torch.manual_seed(0)
    model = UGEModel(StandinAdapter(), cfg, store)
    # make LoRA B non-zero so LoRA dropout matters for the gradient
    for n, p in model.named_parameters():
        if "lora_B" in n:
            torch.nn.init.normal_(p, std=0.1)
    views = d.views("train")
    pb = PairBuilder(views, pair_types=cfg.data.pair_types, instructions={}, hard_negatives=1, max_positives=2,
                     with_graph=stage == 2, seed=1)
    q, docs, pos, keys = flatten([pb.example(i, 0) for i in range(6)], 2)
    return model, to_inputs(q + docs, ImageCache(d)), len(q), pos, keys


def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _check(model, inputs, n_q, pos, keys):
    """GradCache's gradient == the gradient of the same chunked forward kept in one autograd graph.

    With dropout the chunked forward draws different masks than one full-batch forward would, so the
    reference encodes chunk by chunk from the same seed; GradCache must replay each chunk's RNG state."""
    model.train()
    chunks = [inputs[i : i + 4] for i in range(0, len(inputs), 4)]

    def loss_fn(reps):
        return info_nce(reps[:n_q], reps[n_q:], pos, keys, model.temperature(), gather=False)

    torch.manual_seed(123)
    full = loss_fn(torch.cat([model(c) for c in chunks]))
    full.loss.backward()
    g_full = _grads(model)
    model.zero_grad(set_to_none=True)
    torch.manual_seed(123)
    out = gradcache_step(model, chunks, loss_fn)
    g_gc = _grads(model)
    assert torch.allclose(out.loss, full.loss.detach(), atol=1e-5)
    assert g_full.keys() == g_gc.keys() and len(g_full) > 0
    for n in g_full:
        assert torch.allclose(g_full[n], g_gc[n], atol=1e-5, rtol=1e-4), n


def test_gradcache_equals_full_batch_stage1(fake_data, tmp_path):
    _check(*_model_and_batch(fake_data, 1, tmp_path))
    # without dropout the chunked loss is the full-batch loss itself
    model, inputs, n_q, pos, keys = _model_and_batch(fake_data, 1, tmp_path, dropout=0.0)
    model.eval()
    full = info_nce(model(inputs)[:n_q], model(inputs)[n_q:], pos, keys, model.temperature(), gather=False)
    full.loss.backward()
    g_full = _grads(model)
    model.zero_grad(set_to_none=True)
    gradcache_step(model, [inputs[i : i + 3] for i in range(0, len(inputs), 3)],
                   lambda r: info_nce(r[:n_q], r[n_q:], pos, keys, model.temperature(), gather=False))
    for n, g in _grads(model).items():
        assert torch.allclose(g_full[n], g, atol=1e-5, rtol=1e-4), n


def test_gradcache_equals_full_batch_stage2(fake_data, tmp_path):
    model, inputs, n_q, pos, keys = _model_and_batch(fake_data, 2, tmp_path)
    assert any(x.graph for x in inputs)
    _check(model, inputs, n_q, pos, keys)
    assert any(n.startswith("graph_encoder.") for n, p in model.named_parameters() if p.grad is not None)


def test_subgraph_extraction_matches_edge_table(fake_data):
    d = ugdata.load(fake_data)
    store = GraphStore(d.nodes, d.edges)
    ctx = list(d.views("train").graph_context.iloc[0])
    gb = store.batch([ctx, ctx], max_nodes=64)
    assert gb.sizes == [len(ctx), len(ctx)] and gb.node_idx.tolist()[: len(ctx)] == [store.index[c] for c in ctx]
    # every undirected edge among the context nodes appears in both directions, in both copies
    e = d.edges
    inside = e[e.src.isin(ctx) & e.dst.isin(ctx)]
    assert gb.edge_index.shape[1] == 2 * 2 * len(inside)
    assert gb.edge_index[:, : 2 * len(inside)].max() < len(ctx) <= gb.edge_index[:, 2 * len(inside) :].min()
    # bearing of a reversed edge is flipped by 180 degrees: (sin, cos) negate
    a = gb.edge_attr[: 2 * len(inside)]
    assert torch.allclose(a[:, 1:3].sum(0), torch.zeros(2), atol=1e-5)


def test_graph_encoder_ablations(fake_data):
    from uge.config import GraphEncoderConfig

    d = ugdata.load(fake_data)
    store = GraphStore(d.nodes, d.edges)
    gb = store.batch([list(c) for c in d.views("train").graph_context.iloc[:3]], 64)
    feats = torch.randn(len(gb.node_idx), 12)
    outs = {}
    for name, kw in {"full": {}, "no_edges": {"use_edge_features": False}, "no_coords": {"use_coordinates": False},
                     "node_only": {"node_encoder_only": True}}.items():
        torch.manual_seed(0)
        enc = GraphEncoder(GraphEncoderConfig(hidden_dim=16, edge_dim=8, **kw), 12, 24).eval()
        outs[name] = enc(feats, gb.lonlat, gb.edge_index, gb.edge_attr)
        assert outs[name].shape == (len(gb.node_idx), 24) and torch.isfinite(outs[name]).all()
        names = [n for n, _ in enc.named_parameters()]
        assert any("edge_enc" in n for n in names) == (name == "full" or name == "no_coords")
        assert any(n.startswith("coord.") for n in names) == (name != "no_coords")
        assert any(n.startswith("convs.") for n in names) == (name != "node_only")
    # edge features change the output (the full encoder reads them)
    torch.manual_seed(0)
    enc = GraphEncoder(GraphEncoderConfig(hidden_dim=16, edge_dim=8), 12, 24).eval()
    other = enc(feats, gb.lonlat, gb.edge_index, gb.edge_attr * 2)
    assert not torch.allclose(outs["full"], other)


@pytest.mark.parametrize("pool", ["mean", "attention"])
def test_late_fusion_starts_at_zero_then_reads_the_graph(fake_data, tmp_path, pool):
    """graph.late_fusion adds readout(pool of the graph tokens) to the pooled state: zero at the start (stage 2
    begins exactly where the soft tokens alone leave it), and after one optimiser step the graph content matters."""
    from standin import StandinAdapter

    d = ugdata.load(fake_data)
    store = GraphStore(d.nodes, d.edges)
    outs = {}
    for late in (False, True):
        sections = {"graph": {"hidden_dim": 32, "edge_dim": 8, "late_fusion": late, "late_fusion_pool": pool},
                    "train": {"stage": 2, "stage2_only": True}}
        cfg = config_from_dict(standin_config(fake_data, tmp_path / str(late), **sections))
        model = UGEModel(StandinAdapter(), cfg, store).eval()
        model.fit_graph_text_norm()  # as the trainer does
        views = d.views("train").iloc[:4]
        inputs = [EncodeInput(text=c, graph=list(g)) for c, g in zip(views.caption, views.graph_context, strict=True)]
        outs[late] = model(inputs).detach()
    assert torch.allclose(outs[False], outs[True], atol=1e-6)
    assert (model.graph_encoder.readout is not None) and not any(
        p.abs().sum() for p in model.graph_encoder.readout.parameters())
    model.train()
    # the graph encoder only: a large step on the backbone too would swamp the (normalised) output
    opt = torch.optim.SGD(model.graph_encoder.parameters(), lr=0.5)
    target = torch.randn(4, model.embed_dim)
    # the attention pool's scores get a gradient from the second step on (the readout starts at zero)
    for _ in range(1 if pool == "mean" else 2):
        opt.zero_grad()
        (-(model(inputs) * target).sum()).backward()
        opt.step()
    model.eval()
    swapped = [EncodeInput(text=x.text, graph=inputs[(i + 1) % 4].graph) for i, x in enumerate(inputs)]
    assert not torch.allclose(model(inputs), model(swapped), atol=1e-4)
    if pool == "attention":  # the pool's scores were trained too: no longer the plain mean
        assert model.graph_encoder.pool_score.weight.abs().sum() > 0


def _mean_offdiag_cos(x: torch.Tensor) -> float:
    x = torch.nn.functional.normalize(x.double(), dim=-1)
    c = x @ x.T
    return float((c.sum() - c.diagonal().sum()) / (len(c) * (len(c) - 1)))


def test_node_text_standardisation_is_fitted_saved_and_restored(fake_data, tmp_path):
    """Node texts share their template, so raw mean-token features of different nodes point the same way; the
    standardisation fitted on the training graph centres them, travels in the checkpoint, and is not refitted
    over a loaded one. Off (graph.standardize_node_text=false), the encoder reads the raw features."""
    from standin import StandinAdapter

    from uge.checkpoint import heads_state, load_model_weights, save_model_files

    d = ugdata.load(fake_data)
    store = GraphStore(d.nodes, d.edges)

    def build(sub: str, on: bool = True) -> UGEModel:
        sections = {"graph": {"hidden_dim": 32, "edge_dim": 8, "standardize_node_text": on},
                    "train": {"stage": 2, "stage2_only": True}}
        return UGEModel(StandinAdapter(), config_from_dict(standin_config(fake_data, tmp_path / sub, **sections)), store)

    model = build("a")
    enc = model.graph_encoder
    assert not enc.text_mean.any() and torch.equal(enc.text_scale, torch.ones_like(enc.text_scale))  # identity
    model.fit_graph_text_norm()
    raw = model.node_text_features(torch.arange(len(store)))
    std = (raw - enc.text_mean) / enc.text_scale
    assert std.mean(0).abs().max() < 1e-4
    assert _mean_offdiag_cos(std) < _mean_offdiag_cos(raw) - 0.3, (_mean_offdiag_cos(raw), _mean_offdiag_cos(std))
    assert "graph_encoder.text_mean" in heads_state(model) and "graph_encoder.text_scale" in heads_state(model)

    out = tmp_path / "ckpt"
    out.mkdir()
    save_model_files(model, model.cfg, out, name="t")
    other = build("b")
    load_model_weights(other, out)
    fitted = other.graph_encoder.text_mean.clone()
    assert torch.equal(fitted, enc.text_mean) and torch.equal(other.graph_encoder.text_scale, enc.text_scale)
    other.set_graph_store(GraphStore(d.nodes.iloc[:5], d.edges.iloc[:0]))  # a different graph: no refit
    other.fit_graph_text_norm()
    assert torch.equal(other.graph_encoder.text_mean, fitted)

    # a checkpoint written before the standardisation existed loads as identity (what it was trained with)
    from safetensors.torch import load_file, save_file

    from uge.checkpoint import HEADS

    heads = load_file(str(out / HEADS))
    save_file({k: v for k, v in heads.items() if "text_mean" not in k and "text_scale" not in k}, str(out / HEADS))
    older = build("d")
    load_model_weights(older, out)
    assert not older.graph_encoder.text_mean.any() and torch.equal(older.graph_encoder.text_scale,
                                                                   torch.ones_like(enc.text_scale))

    off = build("c", on=False)
    off.fit_graph_text_norm()
    assert not off.graph_encoder.text_mean.any()


def test_graph_caption_pairs_are_graph_only_queries_that_train_the_graph_encoder(fake_data, tmp_path):
    """data.pair_types graph_caption: the query is the view's ego subgraph alone (no image, no text), its
    positive the caption, its hard negatives the neighbours' captions; the loss reaches the graph encoder
    through the query alone. Stage 1 refuses it (no graph encoder)."""
    raw = standin_config(fake_data, tmp_path, train={"stage": 2, "stage2_only": True})
    raw["data"]["pair_types"] = {"graph_caption": 1.0}
    cfg = config_from_dict(raw)
    d = ugdata.load(fake_data)
    views = d.views("train")
    pb = PairBuilder(views, pair_types=cfg.data.pair_types, instructions={}, hard_negatives=1, max_positives=1,
                     with_graph=True, seed=0)
    ex = [pb.example(i, 0) for i in range(4)]
    for i, e in enumerate(ex):
        row = views.iloc[i]
        assert e.query.image_id is None and e.query.text is None and e.query.graph == list(row.graph_context)
        assert [p.text for p in e.positives] == [row.caption] and all(n.text for n in e.negatives)
    from standin import StandinAdapter

    torch.manual_seed(0)
    model = UGEModel(StandinAdapter(), cfg, GraphStore(d.nodes, d.edges))
    q, docs, pos, keys = flatten(ex, 1)
    reps = model(to_inputs(q + docs, ImageCache(d)))
    info_nce(reps[: len(q)], reps[len(q) :], pos, keys, model.temperature(), gather=False).loss.backward()
    enc = [p.grad for n, p in model.named_parameters() if n.startswith("graph_encoder.") and p.grad is not None]
    assert enc and any(bool(g.abs().sum() > 0) for g in enc)
    raw["train"] = {**raw["train"], "stage": 1, "stage2_only": False}
    with pytest.raises(UserError, match="graph_caption needs train.stage=2"):
        config_from_dict(raw)
