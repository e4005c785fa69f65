"""The dataset fingerprint is of content, not of the writer's bytes.

Parquet files carry "created_by parquet-cpp-arrow version X" and pandas metadata holding the pyarrow and
pandas versions, and their compression/encoding/row groups are writer choices: a registry upgrade of a
patch version changed the fingerprint of the same data. Here a built dataset's files are rewritten with
other writer settings and metadata (fingerprint unchanged, `ugdata check` still passes), and one value is
changed (the fingerprint changes).
"""

from __future__ import annotations

import json
import shutil
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import ugdata
from ugdata import format as F
from ugdata.check import check_dir
from ugdata.fingerprint import _file_digest, fingerprint, table_digest


def _other_writer_meta(meta: dict | None) -> dict:
    """The schema metadata as another writer would stamp it: other pyarrow/pandas versions, one key more."""
    meta = dict(meta or {})
    if b"pandas" in meta:
        pm = json.loads(meta[b"pandas"])
        pm["creator"] = {"library": "pyarrow", "version": "0.0.1"}
        pm["pandas_version"] = "0.0.1"
        meta[b"pandas"] = json.dumps(pm).encode()
    meta[b"written_by"] = b"some other writer 9.9.9"
    return meta


def _large(t: pa.DataType) -> pa.DataType:
    if pa.types.is_string(t):
        return pa.large_string()
    if pa.types.is_binary(t):
        return pa.large_binary()
    if pa.types.is_list(t):
        return pa.large_list(_large(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _large(f.type)) for f in t])
    return t


def _rewrite_parquet(path, variant: int) -> None:
    t = pq.read_table(path)
    meta = _other_writer_meta(t.schema.metadata)
    t = t.replace_schema_metadata(meta)
    if variant == 0:
        pq.write_table(t, path, compression="snappy", row_group_size=7, data_page_version="1.0",
                       use_dictionary=False, use_compliant_nested_type=False, write_statistics=True)
    else:  # physical variants of the same logical types, and no stored Arrow schema
        t = t.cast(pa.schema([pa.field(f.name, _large(f.type)) for f in t.schema], metadata=meta))
        pq.write_table(t, path, compression="gzip", row_group_size=50, data_page_version="2.0",
                       store_schema=variant == 1)


@pytest.fixture()
def copy(small_dir, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(small_dir, out)
    return out


@pytest.mark.parametrize("variant", [0, 1, 2])
def test_fingerprint_ignores_writer_metadata_and_layout(copy, variant):
    before = fingerprint(copy)
    assert before == ugdata.load(copy).fingerprint
    rewritten = [F.NODES, F.EDGES, F.PATHS, f"{F.PARQUET_DIR}/train.parquet"]
    for rel in rewritten:
        old = (copy / rel).read_bytes()
        _rewrite_parquet(copy / rel, variant)
        assert (copy / rel).read_bytes() != old
        stored = pq.ParquetFile(copy / rel).schema_arrow.metadata  # none at all without a stored Arrow schema
        assert (stored or {}).get(b"written_by") == (None if variant == 2 else b"some other writer 9.9.9")
    # the HF dataset's Arrow file: other record batches, other schema metadata
    arrow = copy / F.DATASET_DIR / "val" / "data-00000-of-00001.arrow"
    t = pa.ipc.open_stream(arrow.read_bytes()).read_all()  # a copy: the file is rewritten below (no mmap)
    schema = t.schema.with_metadata(_other_writer_meta(t.schema.metadata))
    with pa.OSFile(str(arrow), "wb") as fh, pa.ipc.new_stream(fh, schema) as w:
        for b in t.to_batches(max_chunksize=13):
            w.write_batch(b)
    # JSON layout and key order are not content
    info = copy / F.DATASET_DIR / "val" / "dataset_info.json"
    info.write_text(json.dumps(dict(reversed(json.loads(info.read_text()).items())), indent=4))
    # the torch.save archive in another zip layout (compressed, other record order and folder name)
    pyg = copy / F.PYG
    with zipfile.ZipFile(pyg) as z:
        records = [(n, z.read(n)) for n in z.namelist()]
    with zipfile.ZipFile(pyg, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for n, data in reversed(records):
            z.writestr("other/" + n.split("/", 1)[1], data)

    assert fingerprint(copy) == before
    assert check_dir(copy)[0] == []


@pytest.mark.parametrize("what", ["node_value", "image_byte", "json_value", "pyg_tensor"])
def test_fingerprint_still_detects_a_changed_value(copy, what):
    before = fingerprint(copy)
    if what == "node_value":
        p = copy / F.NODES
        t = pq.read_table(p)
        i = t.schema.get_field_index("name")
        names = t.column(i).to_pylist()
        names[1] = (names[1] or "") + "x"
        pq.write_table(t.set_column(i, "name", pa.array(names, t.schema.field(i).type)), p)
    elif what == "image_byte":
        p = copy / F.PARQUET_DIR / "val.parquet"
        t = pq.read_table(p)
        i = t.schema.get_field_index("image")
        imgs = t.column(i).to_pylist()
        b = bytearray(imgs[0]["bytes"])
        b[len(b) // 2] ^= 0x01
        imgs[0]["bytes"] = bytes(b)
        pq.write_table(t.set_column(i, "image", pa.array(imgs, t.schema.field(i).type)), p,
                       compression="zstd", compression_level=1, write_statistics=False)
    elif what == "json_value":
        p = copy / F.DATASET_DIR / "train" / "state.json"
        s = json.loads(p.read_text())
        s["_split"] = "val"
        p.write_text(json.dumps(s, indent=2, sort_keys=True))
    else:
        pyg = copy / F.PYG
        with zipfile.ZipFile(pyg) as z:
            records = [(n, z.read(n)) for n in z.namelist()]
        with zipfile.ZipFile(pyg, "w") as z:
            for n, data in records:
                if n.endswith("/data/0"):
                    data = bytes([data[0] ^ 1]) + data[1:]
                z.writestr(n, data)
    assert fingerprint(copy) != before
    assert any("fingerprint mismatch" in x for x in check_dir(copy)[0])


def _digest(*arrays, names=None) -> str:
    names = names or [f"c{i}" for i in range(len(arrays))]
    b = pa.record_batch(list(arrays), names=names)
    return table_digest(b.schema, [b])


def test_table_digest_is_logical():
    # chunking, physical string/list variants and what lies behind a null slot are not content
    t = pa.table({"s": ["a", None, "ccc", ""], "x": [1.0, None, float("nan"), -0.5],
                  "l": [["p"], None, [], ["q", "r"]]})
    one = table_digest(t.schema, t.to_batches())
    assert table_digest(t.schema, t.to_batches(max_chunksize=1)) == one
    assert table_digest(t.schema, t.slice(0, 1).to_batches() + t.slice(1).to_batches()) == one
    big = t.cast(pa.schema([("s", pa.large_string()), ("x", pa.float64()),
                            ("l", pa.large_list(pa.large_string()))]))
    assert table_digest(big.schema, big.to_batches()) == one
    x = t.column("x").chunk(0)
    garbage = pa.py_buffer(pa.array([1.0, 123.0, float("nan"), -0.5]).buffers()[1].to_pybytes())
    x2 = pa.Array.from_buffers(pa.float64(), 4, [x.buffers()[0], garbage])
    assert x2.to_pylist()[1] is None
    assert _digest(x2) == _digest(x)
    # ... but values, boundaries, nulls, names and types are
    assert _digest(pa.array(["ab", "c"])) != _digest(pa.array(["a", "bc"]))
    assert _digest(pa.array([["a", "b"], []])) != _digest(pa.array([["a"], ["b"]]))
    assert _digest(pa.array(["", "a"])) != _digest(pa.array([None, "a"]))
    assert _digest(pa.array([0.0])) != _digest(pa.array([None], pa.float64()))
    assert _digest(pa.array([1], pa.int32())) != _digest(pa.array([1], pa.int64()))
    assert _digest(pa.array([1]), names=["a"]) != _digest(pa.array([1]), names=["b"])
    assert _digest(pa.array([1, 2])) != _digest(pa.array([2, 1]))
    assert (_digest(pa.array([{"a": 1, "b": "x"}])) != _digest(pa.array([{"a": 1, "b": "y"}])))


def test_undecodable_file_falls_back_to_its_bytes(tmp_path):
    p = tmp_path / "broken.parquet"
    p.write_bytes(b"not parquet")
    d = _file_digest(p)
    p.write_bytes(b"not parquet either")
    assert _file_digest(p) != d
