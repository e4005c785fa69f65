"""CSSR (uge/cssr): shapes, finite and decreasing losses, deterministic batch-independent inference, training
beats an untrained model on held-out retrieval, checkpoints round-trip and load through the ugbench registry,
and a checkpoint saved before the move (loader `ugbench.streetsem.model:load_checkpoint`) still evaluates."""

import json
import shutil

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ugbench.streetsem.evaluation import evaluate_encoder as benchmark_scores
from ugdata.streetsem.data import QUERY_TYPES
from ugdata.streetsem.splits import assign_splits
from ugdata.streetsem.synthetic import synthetic_streetsem
from uge.cssr.encoder import LOADER, CSSREncoder
from uge.cssr.losses import geo_soft_target, multi_positive_infonce, uncertainty_weighted
from uge.cssr.model import CSSR, CSSRConfig, geohash_ids
from uge.cssr.train import TrainConfig, compute_losses, evaluate_encoder, train_cssr

PRE_MOVE_LOADER = "ugbench.streetsem.model:load_checkpoint"  # what CSSR checkpoints saved before issue 13 hold


@pytest.fixture(scope="module")
def table():
    """400 views (100 panoramas x 4 FoVs) with signal, split 80/10/10 over (image, fov) pairs."""
    return assign_splits(synthetic_streetsem(100, noise=0.6, seed=3), seed=0)


def _batch(t, n):
    return {
        "image_vec": torch.as_tensor(t.image_vec[:n]),
        "content_vec": torch.as_tensor(t.content_vec[:n]),
        "query_vec": torch.as_tensor(t.query_vec[:n]),
        "gh": geohash_ids(list(t.geohash[:n])),
        "place": torch.arange(n) // 4 + 1,
        "fov": torch.as_tensor(t.fov[:n]),
        "lat": torch.as_tensor(t.lat[:n]),
        "lng": torch.as_tensor(t.lng[:n]),
    }


def test_forward_shapes(table):
    cfg = CSSRConfig.tiny(table.image_dim, table.text_dim, 100, out_dim=24)
    m = CSSR(cfg)
    b = _batch(table, 16)
    out = m.encode_docs(b["image_vec"], b["content_vec"], b["gh"], b["place"], b["fov"])
    assert out["z_sem"].shape == (16, 24) and out["z_geo"].shape == (16, 24) and out["fov_logits"].shape == (16, 4)
    torch.testing.assert_close(out["z_sem"].norm(dim=-1), torch.ones(16))
    zq, aux = m.encode_queries(b["query_vec"].reshape(-1, table.text_dim))
    assert zq.shape == (80, 24) and aux.ndim == 0 and torch.isfinite(aux)
    assert geohash_ids(["wx4g0"], 10)[0].tolist()[:7] == [1, 32, 33, 8, 19, 4, 2]  # BOS w x 4 g 0 EOS


def test_losses_finite_and_decrease(table):
    torch.manual_seed(0)
    m = CSSR(CSSRConfig.tiny(table.image_dim, table.text_dim, 100)).train()
    b = _batch(table, 64)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    history = []
    for _ in range(15):
        losses = compute_losses(m, b, gen)
        assert all(torch.isfinite(v) for v in losses.values())
        opt.zero_grad()
        losses["loss"].backward()
        opt.step()
        history.append({k: float(v.detach()) for k, v in losses.items()})
    first, last = history[0], history[-1]
    assert last["sem"] < 0.6 * first["sem"]
    assert last["geo"] < first["geo"]
    assert last["loss"] < first["loss"] and first["moe_aux"] > 0


def test_loss_definitions():
    z = torch.nn.functional.normalize(torch.randn(3, 5), dim=-1)
    owner = torch.tensor([0, 0, 1, 2])
    zq = z[owner]
    # perfect alignment at low temperature -> near-zero loss; shuffled owners -> large
    assert multi_positive_infonce(zq, z, owner, 0.01) < multi_positive_infonce(zq, z, torch.tensor([1, 2, 0, 0]), 0.01)
    t = geo_soft_target(torch.tensor([39.9, 39.9, 40.9]), torch.tensor([116.4, 116.4, 116.4]))
    torch.testing.assert_close(t.sum(1), torch.ones(3))
    assert t[0, 1] == t[0, 0] and t[0, 2] < 0.02  # same spot = weight 1 before normalising; ~111 km ~ 0
    ls = torch.tensor([0.5, -0.2, 0.0])
    expected = 0.5 * 2.0 * np.exp(-1.0) + 0.5 * 1.0 * np.exp(0.4) + 0.5 * 3.0 + 0.3
    assert abs(float(uncertainty_weighted([torch.tensor(2.0), torch.tensor(1.0), torch.tensor(3.0)], ls)) - expected) < 1e-5


def test_inference_deterministic_and_batch_independent(table):
    torch.manual_seed(1)
    enc = CSSREncoder(CSSR(CSSRConfig.tiny(table.image_dim, table.text_dim, 5)), ["pano00000"])
    a = enc.embed_data(table.subset(np.arange(40)))["z_sem"]
    b = enc.embed_data(table.subset(np.arange(40)))["z_sem"]
    one = enc.embed_data(table.subset([7]))["z_sem"]
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(one[0], a[7], atol=1e-5)


@pytest.fixture(scope="module")
def trained(table):
    return train_cssr(table, tiny=True, train_cfg=TrainConfig(epochs=12, batch_size=64, lr=3e-3, warmup_epochs=1,
                                                              patience=4, seed=0))


def test_trained_beats_untrained_on_held_out(table, trained):
    test = table.split_rows("test")
    torch.manual_seed(0)
    untrained = CSSREncoder(CSSR(CSSRConfig.tiny(table.image_dim, table.text_dim, 80)), [])
    s_t = benchmark_scores(trained.encoder, test)  # the benchmark's scoring (ugbench.streetsem.evaluation)
    s_u = benchmark_scores(untrained, test)
    assert s_t["n_queries"] == 5 * len(test) == 200
    assert s_t["recall_at_10"] > s_u["recall_at_10"] + 0.3, (s_t["recall_at_10"], s_u["recall_at_10"])
    assert s_t["mrr"] > s_u["mrr"]
    assert s_t["fov_accuracy"] > 0.4  # chance is 0.25; FoV input hidden
    assert trained.history[-1]["train_loss"] < trained.history[0]["train_loss"]
    assert all(f"{q}/recall_at_10" in s_t for q in QUERY_TYPES)
    # the trainer's own validation score (uge) agrees with the benchmark's on untied embeddings
    own = evaluate_encoder(trained.encoder, test, chunk=64)  # chunked: the means must still be exact
    assert own["recall_at_10"] == s_t["recall_at_10"] and own["mrr"] == pytest.approx(s_t["mrr"], abs=1e-9)
    assert own["fov_accuracy"] == s_t["fov_accuracy"] and own["n_queries"] == 200


def test_checkpoint_round_trip_and_registry(tmp_path, table, trained):
    from ugbench.models.registry import load_model, resolve

    out = trained.encoder.save(tmp_path / "ckpt")
    assert resolve(str(out)).name == "cssr"
    back = load_model(str(out))
    test = table.split_rows("test")
    np.testing.assert_array_equal(back.embed_data(test)["z_sem"], trained.encoder.embed_data(test)["z_sem"])
    assert back.meta.embed_dim == 32 and back.meta.adapter == "cssr"
    from ugcore.errors import UserError
    from ugcore.protocol import EncodeItem

    with pytest.raises(UserError, match="no text encoder"):
        back.encode([EncodeItem(text="a quiet street")], task_name="streetsem", side="query")


def test_pre_move_loader_string_resolves_to_uge():
    from ugcore.imports import import_attr
    from uge.cssr.model import load_checkpoint

    assert LOADER == "uge.cssr.model:load_checkpoint"
    assert import_attr(PRE_MOVE_LOADER) is load_checkpoint is import_attr(LOADER)


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    from ugdata.testing import small_build

    return small_build(tmp_path_factory.mktemp("ud") / "small", n_views=120, seed=0)


def test_pre_move_checkpoint_evaluates_through_ugbench(tmp_path, small_data):
    """`uge cssr train` on a small build, its checkpoint rewritten to name the pre-move loader (what a
    checkpoint saved by `ugbench streetsem train` holds), then `ugbench evaluate --model DIR`: it resolves to
    the cssr adapter, loads through ugcore.imports.MOVED and scores the same as the current checkpoint."""
    from ugbench.cli import app as ugbench_app
    from ugbench.models.registry import resolve
    from uge.cli import app as uge_app

    runner = CliRunner()
    ck = tmp_path / "cssr"
    r = runner.invoke(uge_app, ["cssr", "train", "--ugdata", str(small_data), "--out", str(ck), "--tiny",
                                "--epochs", "2", "--batch-size", "64", "--lr", "3e-3", "--warmup-epochs", "1"])
    assert r.exit_code == 0, r.output
    assert json.loads((ck / "ugbench_model.json").read_text())["loader"] == LOADER
    old = tmp_path / "cssr-pre-move"
    shutil.copytree(ck, old)
    spec = json.loads((old / "ugbench_model.json").read_text())
    (old / "ugbench_model.json").write_text(json.dumps({**spec, "loader": PRE_MOVE_LOADER}))
    assert resolve(str(old)).name == "cssr"
    scores = {}
    for name, model in (("current", ck), ("pre-move", old)):
        out = tmp_path / f"results-{name}"
        r = runner.invoke(ugbench_app, ["evaluate", "--model", str(model), "--data", str(small_data), "--tasks",
                                        "streetsem_text2view", "--output", str(out), "--cache-dir",
                                        str(tmp_path / "cache")])
        assert r.exit_code == 0, r.output
        [res] = [json.loads(f.read_text()) for f in out.rglob("streetsem_text2view*.json")]
        scores[name] = res["scores"]["test"]
        assert res["model"]["metadata"]["adapter"] == "cssr"
    assert scores["pre-move"] == scores["current"] and 0.0 <= scores["current"]["main_score"] <= 1.0
