"""The UGData fingerprint: the pinned identity of a dataset, sha256 over (relative path, content digest) of every
file but manifest.json.

Digests are of CONTENT, not of a writer's bytes, so the same data gives the same fingerprint whatever patch
versions of pyarrow/pandas/datasets/torch wrote it (measured: a pyarrow 26.0.1 -> 26.0.0 or pandas 3.1.1 ->
3.1.0 reinstall changed every Parquet file's bytes, and so the old byte-level fingerprint, with the same data).
Hand-written rather than a library's: no library digests an Arrow table's logical content independent of its
physical layout (chunking, string vs large_string, metadata), and that independence is the point.

Identity v2 (``IDENTITY``; docs/ugdata.md "Fingerprint"), so that it is also the same on every CPU:
- ids, strings, integers, booleans, list lengths and nulls are hashed exactly;
- floating-point values are hashed as ``round(x / q)`` with a quantum ``q`` by unit (``float_quantum``:
  degrees of latitude/longitude 2**-24, metres 2**-10, degrees 2**-20, anything else 2**-20), in tables,
  in graph/graph.graphml and in the tensors of graph/pyg.pt (quanta are powers of two near those values): numpy's float64 transcendental functions
  differ in the last bits between its AVX-512 and AVX2 code paths (measured: 427 bearings 1-3 ulp apart);
- images (binary values that are JPEG or PNG files) are hashed by their decoded pixels (mode, size, RGB
  bytes), not their encoding: the same picture in another container or entropy coding is the same data.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickletools
import re
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
# Floats at a stated precision and images by their pixels: see the module docstring and float_quantum.
IDENTITY = "ugdata-content-v2"
_TABLE_DIGEST = "arrow-content-v2"
_TORCH_BOOKKEEPING = {".data/serialization_id", ".data/version", ".format_version", ".storage_alignment", "version"}

# Quantum (absolute precision) of a float by the unit its column name says. A value is hashed as the integer
# round(x / q): two builds then agree unless a value lies within its noise (~1e-13 of a degree or metre,
# measured) of a rounding boundary, a chance of about noise / q < 1e-6 per differing value. Quanta are powers
# of two, not of ten: OpenStreetMap coordinates lie on a 1e-7 degree grid, so their midpoints (segment
# centres, centroids) fall exactly on the boundaries of a 1e-7 quantum, where the last ulp decides (measured
# on the test town: 4 of 208 node latitudes); x / 2**-k is also exact, a scaling.
COORD_Q = 2.0**-24  # degrees of latitude/longitude: 6.0e-8 deg, 6.6 mm north-south
METRE_Q = 2.0**-10  # metres: 0.98 mm
ANGLE_Q = 2.0**-20  # angles in degrees (headings, bearings): 9.5e-7 deg
DEFAULT_Q = 2.0**-20  # anything else (shares, scores, labels, log-distances, sin/cos, ...): 9.5e-7
TENSOR_Q = 2.0**-24  # float tensors of graph/pyg.pt (positions are lon/lat; no column names there)
_COORD_NAMES = {"lat", "lon", "lng", "latitude", "longitude", "x_lon", "y_lat"}


def float_quantum(name: str) -> float:
    """The hashing precision of a float column (or struct field, or list item) called `name`."""
    n = name.lower()
    if n in _COORD_NAMES or n.endswith(("_lat", "_lon", "_lng")):
        return COORD_Q
    if n.endswith(("_m", "_metres", "_meters")) or n in ("m", "metres", "meters", "distance", "length"):
        return METRE_Q
    if n.endswith("_deg") or n in ("heading", "bearing", "deg", "angle"):
        return ANGLE_Q
    return DEFAULT_Q


_INT_LIMIT = 2.0**62


def quantised_float_bytes(x: np.ndarray, q: float) -> bytes:
    """Floats as little-endian int64 round(x / q); NaN, +inf and -inf as three reserved codes; a value too big
    for the integer range (|x| >= 2**62 q) as its exact float64 bits after a marker (none in our data)."""
    x = np.asarray(x, dtype=np.float64)
    k = x / q
    ok = np.isfinite(k) & (np.abs(k) < _INT_LIMIT)
    out = np.zeros(len(x), dtype="<i8")
    out[ok] = np.rint(k[ok]).astype(np.int64)
    out[np.isnan(x)] = np.iinfo(np.int64).min
    out[x == np.inf] = np.iinfo(np.int64).max
    out[x == -np.inf] = np.iinfo(np.int64).min + 1
    big = ~ok & np.isfinite(x)
    data = out.tobytes()
    if big.any():
        out[big] = np.iinfo(np.int64).min + 2
        data = out.tobytes() + b"|big|" + np.flatnonzero(big).astype("<i8").tobytes() + x[big].astype("<f8").tobytes()
    return data


_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")


def image_digest(data: bytes) -> bytes | None:
    """sha256 of a JPEG/PNG file's decoded pixels (mode, size, raw bytes), or None when `data` is not an image
    that decodes. The picture, not its encoding: metadata, entropy coding and container are not content."""
    if not data.startswith(_IMAGE_MAGIC):
        return None
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            if im.mode not in ("RGB", "L", "RGBA"):
                im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
            h = hashlib.sha256(f"image|{im.mode}|{im.size[0]}x{im.size[1]}|".encode())
            h.update(im.tobytes())
    except (OSError, ValueError, SyntaxError):  # not a decodable image after all: hashed as bytes
        return None
    return h.digest()


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

    def add(self, path: str, a: pa.Array, name: str = "") -> None:
        """Hash array `a` into the parts under `path`; `name` (the column or struct field it belongs to) picks
        the quantum of floats."""
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
            self.add(path + "[]", a.flatten(), name)  # flatten: honours the slice and skips null lists' values
        elif pa.types.is_struct(t):
            for f, child in zip(t, a.flatten(), strict=True):  # children with the struct's nulls merged in
                self.add(f"{path}.{json.dumps(f.name)}", child, f.name)
        elif _canon_type(t) in ("string", "binary"):
            if pa.types.is_string_view(t) or pa.types.is_binary_view(t):
                a = a.cast(pa.large_string() if pa.types.is_string_view(t) else pa.large_binary())
                t = a.type
            wide = pa.types.is_large_string(t) or pa.types.is_large_binary(t)
            offs = np.frombuffer(a.buffers()[1], dtype="<i8" if wide else "<i4")[a.offset:a.offset + n + 1]
            if _canon_type(t) == "binary" and self._add_images(path, a):
                return
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
            if pa.types.is_floating(t):  # at the stated precision (float_quantum); every NaN is one NaN
                q = float_quantum(name)
                self._part(path + f"#q{q:g}", quantised_float_bytes(raw.view(f"<f{w}"), q))
                return
            self._part(path + "#data", raw.tobytes())
        else:  # any other type (map, union, ...): through Python, slow but exact
            self._part(path + "#py", repr(a.to_pylist()).encode())

    def _add_images(self, path: str, a: pa.Array) -> bool:
        """A binary column of images (JPEG/PNG files, e.g. the HF Image feature's bytes) by decoded pixels;
        False (nothing hashed) when a value is neither null nor an image."""
        values = a.to_pylist()
        digests = []
        for v in values:
            d = b"" if not v else image_digest(v)
            if d is None:
                return False
            digests.append(d)
        if not any(digests):
            return False
        self._part(path + "#image", b"".join(d or b"\0" * 32 for d in digests))
        return True

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
        for f, c, arr in zip(schema, cols, b.columns, strict=True):
            c.add("", arr, f.name)
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


_STORAGE_DTYPES = {"FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2"}


def _storage_dtypes(pkl: bytes) -> dict[str, str]:
    """Storage key -> float dtype of a torch.save pickle, read from its opcodes (never unpickled: a hostile
    file must not run code when fingerprinted). torch pickles each storage as a persistent id
    ('storage', <GLOBAL torch.XStorage, or a memo reference to it>, key, location, numel)."""
    out: dict[str, str] = {}
    memo: dict[int, str] = {}
    pending: str | None = None
    last_global: str | None = None
    try:
        for op, arg, _pos in pickletools.genops(pkl):
            if op.name == "GLOBAL":
                mod, _, cls = str(arg).partition(" ")
                last_global = cls if mod == "torch" and cls.endswith("Storage") else None
                pending = last_global
            elif op.name in ("BINPUT", "LONG_BINPUT", "PUT") and last_global is not None:
                memo[int(arg)] = last_global
                last_global = None
            elif op.name in ("BINGET", "LONG_BINGET", "GET") and int(arg) in memo:
                pending = memo[int(arg)]
            elif op.name in ("BINUNICODE", "SHORT_BINUNICODE", "UNICODE", "BINUNICODE8") and pending:
                if pending in _STORAGE_DTYPES:
                    out[str(arg)] = _STORAGE_DTYPES[pending]
                pending = last_global = None
            elif op.name != "MEMOIZE":
                last_global = None
    except (ValueError, EOFError):  # a damaged pickle: its storages are hashed as bytes
        return {}
    return out


def _torch_digest(path: Path) -> str:
    """A torch.save archive by its records (the pickle and the tensor storages), not the zip container:
    alignment padding, record order and torch's bookkeeping records are writer detail. Float storages at
    the stated precision (TENSOR_Q), as the floats of tables."""
    h = hashlib.sha256(b"torch-zip-records-v2")
    with zipfile.ZipFile(path) as z:
        names = {n.split("/", 1)[1] if "/" in n else n: n for n in z.namelist()}  # drop the archive's folder
        dtypes = _storage_dtypes(z.read(names["data.pkl"])) if "data.pkl" in names else {}
        for rel in sorted(names):
            if rel in _TORCH_BOOKKEEPING:
                continue
            h.update(rel.encode() + b"\0")
            dt = dtypes.get(rel[len("data/"):]) if rel.startswith("data/") else None
            if dt is not None:
                raw = z.read(names[rel])
                h.update(quantised_float_bytes(np.frombuffer(raw[:len(raw) - len(raw) % int(dt[-1])], dtype=dt),
                                               TENSOR_Q))
            else:
                with z.open(names[rel]) as fh:
                    for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                        h.update(chunk)
            h.update(b"\n")
    return h.hexdigest()


_GRAPHML_KEY = re.compile(r'<key id="([^"]+)"[^>]*?attr\.name="([^"]*)"[^>]*?attr\.type="(double|float)"')
_GRAPHML_DATA = re.compile(r'<data key="([^"]+)">([^<]*)</data>')


def _graphml_digest(path: Path) -> str:
    """GraphML as text with every double/float attribute value at the stated precision of its attribute name
    (float_quantum): the values are the floats of nodes/edges.parquet written with repr()."""
    text = path.read_text(encoding="utf-8")
    quanta = {k: float_quantum(name) for k, name, _t in _GRAPHML_KEY.findall(text)}

    def canon(m: re.Match) -> str:
        q = quanta.get(m.group(1))
        if q is None:
            return m.group(0)
        try:
            v = float(m.group(2))
        except ValueError:
            return m.group(0)
        k = int.from_bytes(quantised_float_bytes(np.array([v]), q), "little", signed=True)
        return f'<data key="{m.group(1)}">q{k}</data>'

    return hashlib.sha256(b"graphml-v2\0" + _GRAPHML_DATA.sub(canon, text).encode()).hexdigest()


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
    readers = {".parquet": _parquet_digest, ".arrow": _arrow_digest, ".json": _json_digest, ".pt": _torch_digest,
               ".graphml": _graphml_digest}
    if suffix not in readers:
        return None
    try:
        return readers[suffix](path)
    except FileNotFoundError:
        raise
    except (pa.ArrowException, OSError, EOFError, zipfile.BadZipFile, zlib.error, UnicodeDecodeError, KeyError):
        return None


def _file_digest(path: Path) -> str:
    """Content digest of one file, independent of the versions of the libraries that wrote it (see above);
    a file that cannot be decoded as its suffix says falls back to its raw bytes (so it still counts)."""
    return _decoded_digest(path) or sha256_file(path)


def _files(root: Path) -> list[tuple[str, Path]]:
    return [(p.relative_to(root).as_posix(), p) for p in sorted(root.rglob("*"))
            if p.is_file() and p.relative_to(root).as_posix() != F.MANIFEST]


def file_digests(root: Path, *, cache: bool = False) -> dict[str, str]:
    """Relative path -> content digest of every file but manifest.json. With `cache`, digests are reused
    from a per-directory cache (under $UG_CACHE or ~/.cache/urban-graph-embeddings/fingerprints) while a
    file's stat (size, mtime, ctime, inode) is unchanged, so verifying an unchanged dataset costs a stat
    per file; an edit changes ctime, which no user tool can set back."""
    root = Path(root)
    store = _StatCache(root) if cache else None
    out = {}
    for rel, p in _files(root):
        d = store.get(rel, p) if store is not None else None
        if d is None:
            d = _file_digest(p)
            if store is not None:
                store.put(rel, p, d)
        out[rel] = d
    if store is not None:
        store.save(set(out))
    return out


def fingerprint_of(digests: dict[str, str]) -> str:
    """The fingerprint from file_digests(): sha256 over (relative path, digest) in path order."""
    h = hashlib.sha256()
    for rel in sorted(digests):
        h.update(rel.encode() + b"\0" + digests[rel].encode() + b"\n")
    return h.hexdigest()


def fingerprint(root: Path) -> str:
    """sha256 over (relative path, content digest) of every file except manifest.json."""
    return fingerprint_of(file_digests(Path(root)))


def manifest_fields(root: Path) -> dict:
    """What the builder writes into manifest.json: the fingerprint, its identity version and each file's
    digest (so that a changed file can be named later)."""
    digests = file_digests(Path(root))
    return {"fingerprint": fingerprint_of(digests), "fingerprint_identity": IDENTITY, "file_digests": digests}


#: The content of a UGData directory is not what its manifest's fingerprint says: the same class as
#: ugdata.format.DataModifiedError (a NotUGDataError, so a DataError and a UserError), raised as is.
DataChangedError = F.DataModifiedError


def verify(root: Path, manifest: dict) -> str:
    """The content fingerprint of `root`, checked against `manifest` (stat-cached, see file_digests). Raises
    DataChangedError with a one-line message naming the changed, added or missing files and the fix."""
    root = Path(root)
    want = str(manifest.get("fingerprint") or "")
    fix = f"rebuild it with `ugdata build --out {root} --overwrite` (and the options it was built with)"
    if manifest.get("fingerprint_identity", "ugdata-content-v1") != IDENTITY:
        raise DataChangedError(f"{root} was fingerprinted by an older ugdata "
                               f"({manifest.get('fingerprint_identity', 'ugdata-content-v1')}, now {IDENTITY}), "
                               f"so its content cannot be verified; {fix}")
    digests = file_digests(root, cache=True)
    got = fingerprint_of(digests)
    if got == want:
        return got
    stored = manifest.get("file_digests") or {}
    changed = sorted(r for r in digests if r in stored and stored[r] != digests[r])
    added = sorted(r for r in digests if stored and r not in stored)
    missing = sorted(r for r in stored if r not in digests)
    what = "; ".join(x for x in (
        f"changed after the build: {', '.join(changed[:3])}" + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
        if changed else "",
        f"added: {', '.join(added[:3])}" if added else "", f"missing: {', '.join(missing[:3])}" if missing else "",
    ) if x) or "its content differs from its manifest"
    raise DataChangedError(f"{root}: {what} (content fingerprint {got[:16]}..., manifest {want[:16]}...); {fix}")


def _cache_dir() -> Path:
    from ugcore.shared import cache_root

    return cache_root() / "fingerprints"


class _StatCache:
    """Per-directory digest cache keyed by each file's stat; a miss or an unreadable cache just recomputes."""

    def __init__(self, root: Path) -> None:
        key = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:24]
        self.path = _cache_dir() / f"{key}.json"
        self.changed = False
        try:
            data = json.loads(self.path.read_text())
            self.files = data["files"] if data.get("identity") == IDENTITY else {}
        except (OSError, ValueError, KeyError, TypeError):
            self.files = {}

    @staticmethod
    def _stat(p: Path) -> list:
        st = p.stat()
        return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]

    def get(self, rel: str, p: Path) -> str | None:
        e = self.files.get(rel)
        return e[1] if isinstance(e, list) and len(e) == 2 and e[0] == self._stat(p) else None

    def put(self, rel: str, p: Path, digest: str) -> None:
        self.files[rel] = [self._stat(p), digest]
        self.changed = True

    def save(self, present: set) -> None:
        gone = set(self.files) - present
        if not (self.changed or gone):
            return
        for rel in gone:
            del self.files[rel]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"identity": IDENTITY, "files": self.files}))
            os.replace(tmp, self.path)
        except OSError:  # a read-only cache: verification still works, only slower
            pass


def main(argv: list[str] | None = None) -> int:
    """Debug aid: `python -m ugdata.fingerprint DIR [DIR2]` prints each file's content digest (and each column's
    for tables), or with two directories only what differs between them."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 2:
        print("usage: python -m ugdata.fingerprint DIR [OTHER_DIR]", file=sys.stderr)
        return 2
    parts = [_parts(Path(a)) for a in args]
    if len(parts) == 1:
        for k, v in parts[0].items():
            print(f"{v[:16]}  {k}")
        print(f"fingerprint {fingerprint(Path(args[0]))}  ({IDENTITY})")
        return 0
    a, b = parts
    diff = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    for k in diff:
        print(f"{str(a.get(k, '-'))[:16]}  {str(b.get(k, '-'))[:16]}  {k}")
    print(f"{len(diff)} of {len(set(a) | set(b))} components differ")
    return 1 if diff else 0


def _parts(root: Path) -> dict[str, str]:
    out = {}
    for rel, p in _files(root):
        out[rel] = _file_digest(p)
        if p.suffix in (".parquet", ".arrow"):
            try:
                if p.suffix == ".parquet":
                    t = pq.read_table(p)
                else:
                    with pa.memory_map(str(p)) as src:
                        t = pa.ipc.open_stream(src).read_all()
            except (pa.ArrowException, OSError):
                continue
            for f in t.schema:
                c = _ColumnHasher()
                for chunk in t.column(f.name).chunks:
                    c.add("", chunk, f.name)
                for k, h in c.parts.items():
                    out[f"{rel} :: {f.name}{k}"] = h.hexdigest()
    return out


if __name__ == "__main__":
    raise SystemExit(main())
