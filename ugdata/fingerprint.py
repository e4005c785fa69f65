"""The UGData fingerprint: sha256 over (relative path, content digest) of every file but manifest.json.

Digests are of CONTENT, not of a writer's bytes, so the same data gives the same fingerprint whatever patch
versions of pyarrow/pandas/datasets/torch wrote it (measured: a pyarrow 26.0.1 -> 26.0.0 or pandas 3.1.1 ->
3.1.0 reinstall changed every Parquet file's bytes, and so the old byte-level fingerprint, with the same data).
Hand-written rather than a library's: no library digests an Arrow table's logical content independent of its
physical layout (chunking, string vs large_string, metadata), and that independence is the point.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ugdata import format as F

VOLATILE_JSON_KEYS = {"_fingerprint"}  # the HF dataset's own fingerprint (derived from ours) is not content

# Fingerprint digests are of CONTENT, not of a writer's bytes. `pq.write_table` stamps each Parquet file with
# "created_by parquet-cpp-arrow version X" and (through Table.from_pandas) pandas metadata holding the pyarrow
# and pandas versions, and its zstd/encoding choices may move between releases; so a registry upgrade of a
# patch version changed the fingerprint of the same data. Tables (Parquet, and the Arrow IPC files of
# the HF dataset) are therefore digested from their decoded columns with every schema/key-value metadata
# dropped; JSON from its parsed value; torch.save archives from their records, not the zip container.
# Bytes that are data stay data: the JPEG bytes of the images are hashed as they are (a different encoder
# output is different data).
_TABLE_DIGEST = "arrow-content-v1"
_TORCH_BOOKKEEPING = {".data/serialization_id", ".data/version", ".format_version", ".storage_alignment", "version"}


def _canon_type(t: pa.DataType) -> str:
    """The logical type, with physical variants folded together (string = large_string = string_view, binary
    likewise, list = large_list = list_view whatever its child field is called, dictionary = its values)."""
    if pa.types.is_dictionary(t):
        return _canon_type(t.value_type)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return "binary"
    if pa.types.is_fixed_size_list(t):
        return f"fixed_size_list<{_canon_type(t.value_type)},{t.list_size}>"
    if (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t)
            or pa.types.is_large_list_view(t)):
        return f"list<{_canon_type(t.value_type)}>"
    if pa.types.is_struct(t):
        return "struct<" + ",".join(f"{json.dumps(f.name)}:{_canon_type(f.type)}" for f in t) + ">"
    return str(t)


class _ColumnHasher:
    """Streams a column's values into one hash per (path, part), so how a table is split into chunks or
    record batches (a writer's row-group size) cannot change the digest."""

    def __init__(self) -> None:
        self.parts: dict = {}  # key -> hashlib.sha256 object

    def _part(self, key: str, data) -> None:
        h = self.parts.get(key)
        if h is None:
            h = self.parts[key] = hashlib.sha256()
        h.update(data)

    def add(self, path: str, a: pa.Array) -> None:
        t = a.type
        if pa.types.is_dictionary(t):
            a = a.dictionary_decode()
            t = a.type
        n = len(a)
        if n == 0 or pa.types.is_null(t):
            return
        valid = None
        if a.null_count:  # one byte per row (not bit-packed: chunk boundaries must not matter)
            valid = a.is_valid().to_numpy(zero_copy_only=False)
            self._part(path + "#valid", valid.view(np.uint8).tobytes())
            kind = _canon_type(t)
            if kind in ("string", "binary") or pa.types.is_boolean(t):  # what lies behind a null is not content
                a = pc.fill_null(a, "" if kind == "string" else b"" if kind == "binary" else False)
        else:
            self._part(path + "#valid", b"\1" * n)
        if _is_list(t):
            if not (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)):
                a = a.cast(pa.large_list(t.value_type))
            lengths = pc.fill_null(pc.list_value_length(a), 0).to_numpy(zero_copy_only=False).astype("<i8")
            self._part(path + "#len", lengths.tobytes())
            self.add(path + "[]", a.flatten())  # flatten: honours the slice and skips null lists' values
        elif pa.types.is_struct(t):
            for f, child in zip(t, a.flatten(), strict=True):  # children with the struct's nulls merged in
                self.add(f"{path}.{json.dumps(f.name)}", child)
        elif _canon_type(t) in ("string", "binary"):
            if pa.types.is_string_view(t) or pa.types.is_binary_view(t):
                a = a.cast(pa.large_string() if pa.types.is_string_view(t) else pa.large_binary())
                t = a.type
            wide = pa.types.is_large_string(t) or pa.types.is_large_binary(t)
            offs = np.frombuffer(a.buffers()[1], dtype="<i8" if wide else "<i4")[a.offset:a.offset + n + 1]
            self._part(path + "#len", np.diff(offs).astype("<i8").tobytes())
            data = a.buffers()[2]
            if data is not None and offs[-1] > offs[0]:
                self._part(path + "#data", memoryview(data)[int(offs[0]):int(offs[-1])])
        elif pa.types.is_boolean(t):
            self._part(path + "#data", a.to_numpy(zero_copy_only=False).view(np.uint8).tobytes())
        elif getattr(t, "bit_width", 0) and t.bit_width % 8 == 0:
            w = t.bit_width // 8
            raw = np.frombuffer(a.buffers()[1], dtype=np.uint8)[a.offset * w:(a.offset + n) * w]
            if valid is not None:  # what lies behind a null slot is not content
                raw = raw.reshape(n, w).copy()
                raw[~valid] = 0
                raw = raw.reshape(-1)
            if pa.types.is_floating(t):  # every NaN hashed as the one canonical NaN
                x = raw.view(f"<f{w}")
                if np.isnan(x).any():
                    x = x.copy()
                    x[np.isnan(x)] = np.nan
                    raw = x.view(np.uint8)
            self._part(path + "#data", raw.tobytes())
        else:  # any other type (map, union, ...): through Python, slow but exact
            self._part(path + "#py", repr(a.to_pylist()).encode())

    def digest(self) -> str:
        h = hashlib.sha256()
        for k in sorted(self.parts):
            h.update(k.encode() + b"\0" + self.parts[k].digest())
        return h.hexdigest()


def _is_list(t: pa.DataType) -> bool:
    return (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)
            or pa.types.is_list_view(t) or pa.types.is_large_list_view(t))


def table_digest(schema: pa.Schema, batches) -> str:
    """Digest of a table's logical content: column names, logical types, row count and values. Schema and
    field metadata, physical type variants, chunking, compression and encodings do not enter it."""
    cols = [_ColumnHasher() for _ in schema]
    rows = 0
    for b in batches:
        rows += b.num_rows
        for c, arr in zip(cols, b.columns, strict=True):
            c.add("", arr)
    h = hashlib.sha256(_TABLE_DIGEST.encode())
    h.update(f"|rows={rows}\n".encode())
    for f, c in zip(schema, cols, strict=True):
        h.update(f"{json.dumps(f.name)}:{_canon_type(f.type)}={c.digest()}\n".encode())
    return h.hexdigest()


def _parquet_digest(path: Path) -> str:
    pf = pq.ParquetFile(path)
    return table_digest(pf.schema_arrow, pf.iter_batches(batch_size=65536))


def _arrow_digest(path: Path) -> str:
    with pa.memory_map(str(path)) as src:
        try:
            reader = pa.ipc.open_stream(src)  # what datasets' save_to_disk writes
        except pa.ArrowInvalid:
            src.seek(0)
            f = pa.ipc.open_file(src)
            return table_digest(f.schema, (f.get_batch(i) for i in range(f.num_record_batches)))
        return table_digest(reader.schema, reader)


def _torch_digest(path: Path) -> str:
    """A torch.save archive by its records (the pickle and the tensor storages), not the zip container:
    alignment padding, record order and torch's bookkeeping records are writer detail."""
    h = hashlib.sha256(b"torch-zip-records-v1")
    with zipfile.ZipFile(path) as z:
        names = {n.split("/", 1)[1] if "/" in n else n: n for n in z.namelist()}  # drop the archive's folder
        for rel in sorted(names):
            if rel in _TORCH_BOOKKEEPING:
                continue
            h.update(rel.encode() + b"\0")
            with z.open(names[rel]) as fh:
                for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                    h.update(chunk)
            h.update(b"\n")
    return h.hexdigest()


def _json_digest(path: Path) -> str | None:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if isinstance(obj, dict):
        obj = {k: v for k, v in obj.items() if k not in VOLATILE_JSON_KEYS}
    canon = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(b"json-v1\0" + canon.encode()).hexdigest()


def sha256_file(path: Path) -> str:
    """sha256 of a file's raw bytes (input files in the manifest; the fallback digest below)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _decoded_digest(path: Path) -> str | None:
    """The content digest for the file kinds we decode; None for other kinds and for files that do not decode
    as their suffix says (corrupt, truncated)."""
    suffix = path.suffix.lower()
    readers = {".parquet": _parquet_digest, ".arrow": _arrow_digest, ".json": _json_digest, ".pt": _torch_digest}
    if suffix not in readers:
        return None
    try:
        return readers[suffix](path)
    except FileNotFoundError:
        raise
    except (pa.ArrowException, OSError, EOFError, zipfile.BadZipFile, zlib.error):
        return None


def _file_digest(path: Path) -> str:
    """Content digest of one file, independent of the versions of the libraries that wrote it (see above);
    a file that cannot be decoded as its suffix says falls back to its raw bytes (so it still counts)."""
    return _decoded_digest(path) or sha256_file(path)


def fingerprint(root: Path) -> str:
    """sha256 over (relative path, content digest) of every file except manifest.json."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        rel = p.relative_to(root).as_posix()
        if rel == F.MANIFEST:
            continue
        h.update(rel.encode() + b"\0" + _file_digest(p).encode() + b"\n")
    return h.hexdigest()
