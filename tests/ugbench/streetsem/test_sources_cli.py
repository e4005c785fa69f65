"""Raw and UGData sources (real MiniLM text vectors, pixel-stats image features), the CLI end to end (`uge cssr
train` then `ugbench streetsem evaluate`), and a CSSR trained on texts+images scored through the ugbench model
protocol."""

import json

import datasets
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from ugbench.cli import app
from ugcore.errors import DataError
from ugcore.protocol import EncodeItem
from ugdata.streetsem.data import QUERY_TYPES
from ugdata.streetsem.features import MINILM, PIXEL_STATS, pixel_stats
from ugdata.streetsem.sources import load_raw, load_ugdata

THEMES = [
    ("green park with tall trees and grass", (40, 140, 50), "quiet leafy walk", "jogging under trees"),
    ("busy shopping street with bright shop fronts", (200, 60, 40), "lively crowded bustle", "buying clothes"),
    ("calm canal with water and a bridge", (40, 90, 200), "peaceful waterside", "watching boats"),
    ("grey office towers and wide road", (120, 120, 125), "formal concrete", "going to work"),
]
FOV_NAMES = ["front", "right", "back", "left"]


def _image(theme: int, fov: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = np.array(THEMES[theme][1], dtype=np.float32)
    arr = np.clip(base + rng.normal(0, 25, size=(48, 48, 3)), 0, 255)
    arr[: 12 + 8 * fov] *= 0.6  # FoV-dependent horizon
    return Image.fromarray(arr.astype(np.uint8))


def _rows(n_points: int):
    rows = []
    for p in range(n_points):
        th = p % len(THEMES)
        desc, _, atmos, act = THEMES[th]
        for f in range(4):
            rows.append({
                "point": p, "fov": f, "theme": th, "lat": 60.16 + 0.002 * p, "lon": 24.93 + 0.001 * (p % 5),
                "summary": f"A {desc}, seen looking {FOV_NAMES[f]}.",
                "atmosphere": f"somewhere {atmos}", "activity": f"a place for {act}",
                "object": f"{desc.split(' with ')[-1]}", "geography": f"near point {p % 3} of the {desc.split()[-1]}",
                "creativity": f"I dream of a {atmos} afternoon",
            })
    return rows


def test_raw_source(tmp_path):
    rows = _rows(3)
    (tmp_path / "img").mkdir()
    for r in rows:
        _image(r["theme"], r["fov"], r["point"] * 4 + r["fov"]).save(tmp_path / "img" / f"p{r['point']}_{r['fov'] * 90}.png")
    df = pd.DataFrame([{**r, "image": f"p{r['point']}", "fov": r["fov"] * 90, "lng": r["lon"]} for r in rows])
    df.drop(columns=["lon"]).to_csv(tmp_path / "t.csv", index=False)
    d = load_raw(tmp_path / "t.csv", tmp_path / "img", image_spec=PIXEL_STATS, text_spec=MINILM)
    assert d.image_vec.shape == (12, 164) and d.query_vec.shape == (12, 5, 384)
    np.testing.assert_allclose(np.linalg.norm(d.content_vec, axis=1), 1.0, atol=1e-5)
    assert d.query_text[0, QUERY_TYPES.index("creativity")].startswith("I dream")
    np.testing.assert_array_equal(d.image_vec[0], pixel_stats(Image.open(tmp_path / "img" / "p0_0.png")))
    (tmp_path / "img" / "p2_270.png").unlink()
    with pytest.raises(DataError, match=r"row 11 \(image 'p2', fov 270\): image file .*p2_270.jpg not found"):
        load_raw(tmp_path / "t.csv", tmp_path / "img", image_spec=PIXEL_STATS, text_spec=MINILM)


def _fake_ugdata(root, n_points: int = 16):
    """A minimal UGData directory (manifest + dataset with the view columns the StreetSem track reads)."""
    rows = _rows(n_points)
    recs = []
    for i, r in enumerate(rows):
        split = "train" if r["point"] < n_points * 0.7 else ("val" if r["point"] < n_points * 0.85 else "test")
        recs.append({
            "image_id": f"v{i:04d}", "image": _image(r["theme"], r["fov"], i), "lat": r["lat"], "lon": r["lon"],
            "fov_index": r["fov"], "city": "Helsinki", "split": split, "caption": r["summary"],
            "queries": {q: r[q] for q in QUERY_TYPES},
        })
    features = datasets.Features({
        "image_id": datasets.Value("string"), "image": datasets.Image(), "lat": datasets.Value("float64"),
        "lon": datasets.Value("float64"), "fov_index": datasets.Value("int8"), "city": datasets.Value("string"),
        "split": datasets.Value("string"), "caption": datasets.Value("string"),
        "queries": {q: datasets.Value("string") for q in QUERY_TYPES},
    })
    dd = datasets.DatasetDict({
        s: datasets.Dataset.from_list([r for r in recs if r["split"] == s], features=features)
        for s in ("train", "val", "test")
    })
    dd.save_to_disk(str(root / "dataset"))
    (root / "manifest.json").write_text(json.dumps({"format": "ugdata", "fingerprint": "fixture-1"}))
    return root


@pytest.fixture(scope="module")
def ugdir(tmp_path_factory):
    return _fake_ugdata(tmp_path_factory.mktemp("ud"))


@pytest.fixture(scope="module")
def converted(ugdir, tmp_path_factory):
    """The UGData fixture encoded once through `ugbench streetsem convert` (pixel-stats + MiniLM)."""
    ss = tmp_path_factory.mktemp("conv") / "ss"
    r = CliRunner().invoke(app, ["streetsem", "convert", "--ugdata", str(ugdir), "--out", str(ss)])
    assert r.exit_code == 0, r.output
    return ss


def test_ugdata_source(ugdir):
    d = load_ugdata(ugdir, image_spec=PIXEL_STATS, text_spec=MINILM)
    assert len(d) == 64 and d.fov_names == tuple(FOV_NAMES)
    assert set(d.split) == {"train", "val", "test"} and d.source["fingerprint"] == "fixture-1"
    assert len(set(d.image)) == 16  # four FoVs per point share a panorama
    assert d.keys[0] == "v0000"


def test_cli_train_evaluate_and_protocol(tmp_path, ugdir, converted):
    runner = CliRunner()
    ck = tmp_path / "ckpt"
    from uge.cli import app as uge_app

    r = runner.invoke(uge_app, ["cssr", "train", "--lmdb", str(converted), "--out", str(ck), "--tiny", "--epochs", "6",
                                "--batch-size", "32", "--lr", "3e-3", "--warmup-epochs", "1"])
    assert r.exit_code == 0, r.output
    training = json.loads((ck / "training.json").read_text())
    assert training["test"]["n_queries"] == 5 * 8 and len(training["history"]) >= 1
    assert json.loads((ck / "encoders.json").read_text()) == {"image": PIXEL_STATS, "text": MINILM}
    assert training["dataset_fingerprint"] == "fixture-1"  # survives the conversion to LMDB
    out = tmp_path / "scores.json"
    r = runner.invoke(app, ["streetsem", "evaluate", "--lmdb", str(converted), "--model", str(ck), "--model",
                            "content-text", "--model", "linear-map", "--model", "bm25", "--output", str(out)])
    assert r.exit_code == 0, r.output
    scores = json.loads(out.read_text())["scores"]
    assert set(scores) == {str(ck), "content-text", "linear-map", "bm25"}
    # same split, same numbers: the trainer's own test score (uge) and the benchmark's (ugbench)
    assert scores[str(ck)]["recall_at_10"] == training["test"]["recall_at_10"]
    assert scores[str(ck)]["mrr"] == pytest.approx(training["test"]["mrr"], abs=1e-9)
    # the protocol path: raw text queries and street-view images, through the registry
    from ugbench.models.registry import load_model
    from ugdata import load

    model = load_model(str(ck))
    views = load(ugdir).views("test")
    ud = load(ugdir)
    docs = [EncodeItem(image=ud.image(v.image_id), text=v.caption, lat=v.lat, lon=v.lon, id=v.image_id)
            for v in views.itertuples()]
    qs = [EncodeItem(text=q["object"]) for q in views["queries"]]
    de = model.encode(docs, task_name="streetsem", side="document")
    qe = model.encode(qs, task_name="streetsem", side="query")
    assert de.shape == (8, 32) and qe.shape == (8, 32) and np.isfinite(de).all()
    np.testing.assert_allclose(de, model.encode(docs, task_name="streetsem", side="document"), atol=1e-6)
    assert model.predict_fov(docs).shape == (8,)


def test_cli_convert_then_lmdb(tmp_path, ugdir, converted):
    runner = CliRunner()
    ss = converted
    from ugdata.streetsem.lmdb_store import load_dir

    d = load_dir(ss)
    assert len(d) == 64 and d.fov_names == tuple(FOV_NAMES) and d.query_text is not None
    assert sorted(set(d.split)) == ["test", "train", "val"]  # UGData's own splits survive the conversion
    out = tmp_path / "s.json"
    r = runner.invoke(app, ["streetsem", "evaluate", "--lmdb", str(ss), "--model", "content-text", "--output", str(out)])
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text())["scores"]["content-text"]["n_queries"] == 40
    r = runner.invoke(app, ["streetsem", "convert", "--ugdata", str(ugdir), "--out", str(ss)])
    assert r.exit_code != 0 and "already exists" in str(r.exception)


def test_cli_user_errors(tmp_path):
    runner = CliRunner()
    from uge.cli import app as uge_app

    r = runner.invoke(uge_app, ["cssr", "train", "--out", str(tmp_path / "x")])
    assert r.exit_code != 0 and "exactly one source" in str(r.exception)
    r = runner.invoke(app, ["streetsem", "train", "--out", str(tmp_path / "x")])
    assert r.exit_code != 0  # training moved to `uge cssr train`
    r = runner.invoke(app, ["streetsem", "evaluate", "--lmdb", str(tmp_path / "missing"), "--model", "content-text"])
    assert r.exit_code != 0 and "is not a directory" in str(r.exception)
