"""The published-format loader: fixture LMDBs built here, round trips and clear errors on bad input."""

import io
import json
import pickle

import lmdb
import numpy as np
import pandas as pd
import pytest

from ugcore.errors import DataError, UserError
from ugdata.streetsem.data import QUERY_TYPES
from ugdata.streetsem.lmdb_store import HEADER_KEY, load_dir, load_lmdb, write_lmdb
from ugdata.streetsem.synthetic import synthetic_streetsem


@pytest.fixture(scope="module")
def small():
    return synthetic_streetsem(6, image_dim=12, text_dim=8, seed=1)


@pytest.mark.parametrize("encoding", ["f32", "npz", "pickle"])
def test_round_trip(tmp_path, small, encoding):
    out = write_lmdb(small, tmp_path / "ss", encoding=encoding)
    back = load_dir(out, allow_pickle=encoding == "pickle")
    order = np.argsort(small.keys.astype(str))
    assert list(back.keys) == list(small.keys[order])
    np.testing.assert_array_equal(back.image_vec, small.image_vec[order])
    np.testing.assert_array_equal(back.content_vec, small.content_vec[order])
    np.testing.assert_array_equal(back.query_vec, small.query_vec[order])
    np.testing.assert_array_equal(back.fov, small.fov[order])
    np.testing.assert_allclose(back.lat, small.lat[order])
    assert list(back.geohash) == list(small.geohash[order])
    assert back.image_dim == 12 and back.text_dim == 8


def _hand_made_lmdb(path, records: dict[str, bytes], header: dict | None = None):
    env = lmdb.open(str(path), map_size=1 << 24)
    with env.begin(write=True) as txn:
        if header is not None:
            txn.put(HEADER_KEY, json.dumps(header).encode())
        for k, v in records.items():
            txn.put(k.encode(), v)
    env.close()


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _meta(path, images):
    pd.DataFrame({"image_id": images, "city": "Beijing", "lat": 39.9, "lon": 116.4}).to_csv(path, index=False)
    return path


def test_aliases_and_published_style_pickle(tmp_path):
    """A pickled dict with the reference code's field spellings (summary, geographical, creative) loads."""
    rec = {"img": np.ones(6), "summary": np.zeros(4), "atmosphere": np.ones(4), "activity": np.ones(4),
           "object": np.ones(4), "geographical": np.ones(4), "creative": np.full(4, 2.0)}
    _hand_made_lmdb(tmp_path / "db", {"a_b_c_90": pickle.dumps(rec)})
    meta = _meta(tmp_path / "m.csv", ["a_b_c"])
    with pytest.raises(UserError, match="'a_b_c_90' is a Python pickle"):
        load_lmdb(tmp_path / "db", meta)
    d = load_lmdb(tmp_path / "db", meta, allow_pickle=True)
    assert d.image[0] == "a_b_c" and d.fov[0] == 1  # image ids may hold underscores; fov 90 -> class 1
    assert d.query_vec[0, QUERY_TYPES.index("creativity"), 0] == 2.0
    assert d.geohash[0].startswith("wx4")  # Beijing


def test_wrong_dimension_names_key(tmp_path):
    fields = {q: np.ones(4) for q in QUERY_TYPES}
    _hand_made_lmdb(tmp_path / "db", {
        "p1_0": _npz(image=np.ones(6), content=np.ones(4), **fields),
        "p2_0": _npz(image=np.ones(5), content=np.ones(4), **fields),
    })
    with pytest.raises(DataError, match=r"'p2_0'.*'image' vector is 5-d but the first record's is 6-d"):
        load_lmdb(tmp_path / "db", _meta(tmp_path / "m.csv", ["p1", "p2"]))


def test_corrupt_value_names_key(tmp_path):
    header = {"format": "streetsem-f32", "fields": ["image", "content", *QUERY_TYPES],
              "dims": {"image": 3, **{f: 2 for f in ["content", *QUERY_TYPES]}}}
    good = np.arange(15, dtype="<f4").tobytes()
    _hand_made_lmdb(tmp_path / "db", {"p1_0": good, "p2_180": good[:-3]}, header)
    with pytest.raises(DataError, match=r"'p2_180' has 57 bytes.*need 60"):
        load_lmdb(tmp_path / "db", _meta(tmp_path / "m.csv", ["p1", "p2"]))
    _hand_made_lmdb(tmp_path / "db2", {"p1_0": b"PK\x03\x04garbage"})
    with pytest.raises(DataError, match="'p1_0' cannot be decoded"):
        load_lmdb(tmp_path / "db2", _meta(tmp_path / "m2.csv", ["p1"]))


def test_missing_field_key_and_metadata(tmp_path, small):
    _hand_made_lmdb(tmp_path / "db", {"p1_0": _npz(image=np.ones(3), content=np.ones(2))})
    with pytest.raises(DataError, match=r"'p1_0' has no 'atmosphere' vector"):
        load_lmdb(tmp_path / "db", _meta(tmp_path / "m.csv", ["p1"]))
    out = write_lmdb(small, tmp_path / "ss")
    with pytest.raises(DataError, match="key 'nope_90' is not in the LMDB"):
        load_lmdb(out / "vectors.lmdb", out / "metadata.csv", keys=["nope_90"])
    meta = pd.read_csv(out / "metadata.csv")
    meta[meta["image"] != "pano00002"].to_csv(tmp_path / "partial.csv", index=False)
    with pytest.raises(DataError, match="'pano00002_0' has no row in the metadata table"):
        load_lmdb(out / "vectors.lmdb", tmp_path / "partial.csv")


def test_bad_key_and_fov(tmp_path):
    rec = _npz(image=np.ones(3), content=np.ones(2), **{q: np.ones(2) for q in QUERY_TYPES})
    _hand_made_lmdb(tmp_path / "db", {"p1_45": rec})
    with pytest.raises(DataError, match="'p1_45': fov 45 is not one of"):
        load_lmdb(tmp_path / "db", _meta(tmp_path / "m.csv", ["p1"]))
    _hand_made_lmdb(tmp_path / "db2", {"noseparator": rec})
    with pytest.raises(DataError, match="'noseparator' is not of the form"):
        load_lmdb(tmp_path / "db2", _meta(tmp_path / "m2.csv", ["p1"]))
