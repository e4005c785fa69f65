"""A local stand-in for Mapillary's API v4, for the offline tests and the fetch benchmark.

It answers in the documented shapes only (https://www.mapillary.com/developer/api-documentation/):
- `GET /images?bbox=W,S,E,N&fields=...&limit=N[&start_captured_at&end_captured_at]` -> {"data": [...],
  "paging": {"cursors": {...}, "next": URL}} (pages of `page_size`; `next` only while more remain);
- `GET /<image id>?fields=...` -> the image entity (only the requested fields, id always);
- `GET /maps/vtp/mly1_public/2/14/<x>/<y>?access_token=T` -> a Mapbox vector tile with layer `image` (points with
  id, captured_at, compass_angle, sequence_id, is_pano), or 403 for a tile without images when
  `missing_tile_403` (the tiles documentation: "403: the requested tile does not exist");
- thumbnails at `/cdn/<id>_<size>.jpg` (the real ones are CDN URLs from thumb_<size>_url);
- a bad token -> 401 {"error": {"message", "type": "OAuthException", "code": 190, "fbtrace_id"}}; the token
  `expired_token` -> 400 with the Graph API's expired-session error (code 190, error_subcode 463).

Faults for tests: `fail[path_prefix] = [(status, headers), ...]` served (and consumed) before the real answer;
`image_fault[id] = "corrupt" | "short" (Content-Length larger than the body) | "truncated" (half a JPEG)`.
Needs werkzeug (pytest-httpserver's dependency; a test extra).
"""

from __future__ import annotations

import io
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

EXPIRED_TOKEN = "MLY|expired|0000"
_FIELD_RE = re.compile(r"^/(\d+)$")
_TILE_RE = re.compile(r"^/maps/vtp/mly1_public/2/(\d+)/(\d+)/(\d+)$")
_CDN_RE = re.compile(r"^/cdn/(\w+)_(\d+)\.jpg$")


def jpeg_bytes(color=(120, 130, 140), size=(64, 48), quality=85) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, tuple(int(c) for c in color)).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def pano_bytes(size=(256, 128)) -> bytes:
    """An equirectangular test panorama whose colour tells the direction: red at the centre column (yaw 0),
    green at +90 (right), blue at 180 (the edges), yellow at 270."""
    import numpy as np
    from PIL import Image

    w, h = size
    yaw = ((np.arange(w) + 0.5) / w - 0.5) * 360.0 % 360.0
    cols = np.zeros((w, 3), np.uint8)
    for lo, c in ((315, (255, 0, 0)), (45, (0, 255, 0)), (135, (0, 0, 255)), (225, (255, 255, 0))):
        m = ((yaw - lo) % 360.0) < 90.0
        cols[m] = c
    img = np.repeat(cols[None], h, axis=0)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


@dataclass
class FakeImage:
    id: str
    lon: float
    lat: float
    compass_angle: float
    captured_at: int  # epoch ms
    sequence: str
    creator: str = "tester"
    is_pano: bool = False
    jpeg: bytes = b""


@dataclass
class FakeMapillary:
    token: str = "MLY|1234|fake-secret-token"
    page_size: int = 3
    missing_tile_403: bool = False
    images: dict[str, FakeImage] = field(default_factory=dict)
    fail: dict[str, list[tuple[int, dict]]] = field(default_factory=dict)
    image_fault: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, dict, dict]] = field(default_factory=list)  # (path, args, headers)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, id: str, lat: float, lon: float, *, heading: float = 90.0, captured_at: int = 1_622_548_800_000,
            sequence: str = "seq1", creator: str = "tester", is_pano: bool = False, jpeg: bytes | None = None) -> FakeImage:
        img = FakeImage(id, lon, lat, heading, captured_at, sequence, creator, is_pano,
                        jpeg if jpeg is not None else (pano_bytes() if is_pano else jpeg_bytes()))
        self.images[id] = img
        return img

    def install(self, httpserver) -> str:
        """Route every request of a pytest-httpserver HTTPServer here; returns the base URL."""
        httpserver.expect_request(re.compile(r"^/.*")).respond_with_handler(self.handle)
        return httpserver.url_for("/").rstrip("/")

    def count(self, prefix: str) -> int:
        with self._lock:
            return sum(1 for p, _, _ in self.requests if p.startswith(prefix))

    # -------------------------------------------------------------------------------------------- answers
    def handle(self, request):
        from werkzeug import Response

        path = request.path
        args = {k: v for k, v in request.args.items()}
        with self._lock:
            self.requests.append((path, args, dict(request.headers)))
            for prefix, queue in self.fail.items():
                if path.startswith(prefix) and queue:
                    status, headers = queue.pop(0)
                    return Response(json.dumps({"error": {"message": "Please reduce the amount of data",
                                                          "type": "ApiException", "code": status}}),
                                    status=status, headers=headers, content_type="application/json")
        base = request.host_url.rstrip("/")
        m = _CDN_RE.match(path)
        if m:
            return self._thumb(m.group(1))
        m = _TILE_RE.match(path)
        if m:
            bad = self._auth(args.get("access_token"))
            return bad or self._tile(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        auth = request.headers.get("Authorization", "")
        bad = self._auth(auth[len("OAuth "):] if auth.startswith("OAuth ") else None)
        if bad:
            return bad
        if path == "/images":
            return self._search(args, base)
        m = _FIELD_RE.match(path)
        if m and m.group(1) in self.images:
            fields = (args.get("fields") or "id").split(",")
            return self._json(self._entity(self.images[m.group(1)], fields, base))
        return self._json({"error": {"message": "Unsupported get request.", "type": "GraphMethodException",
                                     "code": 100, "fbtrace_id": "AbCdEf"}}, 400)

    def _json(self, obj: Any, status: int = 200):
        from werkzeug import Response

        return Response(json.dumps(obj), status=status, content_type="application/json")

    def _auth(self, tok: str | None):
        if tok == self.token:
            return None
        if tok == EXPIRED_TOKEN:
            return self._json({"error": {"message": "Error validating access token: Session has expired on "
                                         "Tuesday, 01-Jun-21 12:00:00 PDT.", "type": "OAuthException", "code": 190,
                                         "error_subcode": 463, "fbtrace_id": "AbCdEf"}}, 400)
        return self._json({"error": {"message": "Invalid OAuth access token - Cannot parse access token",
                                     "type": "OAuthException", "code": 190, "fbtrace_id": "AbCdEf"}}, 401)

    def _entity(self, im: FakeImage, fields: list[str], base: str) -> dict:
        full = {
            "id": im.id,
            "geometry": {"type": "Point", "coordinates": [im.lon, im.lat]},
            "computed_geometry": {"type": "Point", "coordinates": [im.lon, im.lat]},
            "compass_angle": im.compass_angle,
            "computed_compass_angle": im.compass_angle,
            "captured_at": im.captured_at,
            "sequence": im.sequence,
            "creator": {"id": "1000" + str(abs(hash(im.creator)) % 1000), "username": im.creator},
            "is_pano": im.is_pano,
        }
        for size in (256, 1024, 2048):
            full[f"thumb_{size}_url"] = f"{base}/cdn/{im.id}_{size}.jpg"
        return {k: full[k] for k in ["id", *fields] if k in full}

    def _search(self, args: dict, base: str):
        try:
            w, s, e, n = (float(v) for v in args["bbox"].split(","))
        except (KeyError, ValueError):
            return self._json({"error": {"message": "Invalid parameter", "type": "GraphMethodException", "code": 100, "fbtrace_id": "AbCdEf"}}, 400)
        fields = (args.get("fields") or "id").split(",")
        after_t, before_t = args.get("start_captured_at"), args.get("end_captured_at")
        from datetime import datetime, timezone

        def iso(ms):
            return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

        hits = sorted((im for im in self.images.values() if w <= im.lon <= e and s <= im.lat <= n
                       and (not after_t or iso(im.captured_at) >= after_t)
                       and (not before_t or iso(im.captured_at) < before_t)), key=lambda im: im.id)
        start = int(args.get("after") or 0)
        size = min(self.page_size, int(args.get("limit") or 2000))
        page = hits[start:start + size]
        out: dict[str, Any] = {"data": [self._entity(im, fields, base) for im in page]}
        paging: dict[str, Any] = {"cursors": {"before": str(start), "after": str(start + len(page))}}
        if start + len(page) < len(hits):
            nxt = {k: v for k, v in args.items() if k != "after"}
            paging["next"] = f"{base}/images?{urlencode({**nxt, 'after': start + len(page)})}"
        out["paging"] = paging
        return self._json(out)

    def _tile(self, z: int, x: int, y: int):
        import mapbox_vector_tile
        import mercantile
        from shapely.geometry import Point
        from werkzeug import Response

        b = mercantile.xy_bounds(x, y, z)
        feats = []
        for im in sorted(self.images.values(), key=lambda im: im.id):
            t = mercantile.tile(im.lon, im.lat, z)
            if (t.x, t.y) != (x, y):
                continue
            mx, my = mercantile.xy(im.lon, im.lat)
            feats.append({"geometry": Point(mx, my), "properties": {
                "id": int(im.id) if im.id.isdigit() else im.id, "captured_at": im.captured_at,
                "compass_angle": int(round(im.compass_angle)), "sequence_id": im.sequence, "is_pano": im.is_pano}})
        if not feats and self.missing_tile_403:
            return Response(b"", status=403)
        data = mapbox_vector_tile.encode([{"name": "image", "features": feats}],
                                         default_options={"quantize_bounds": (b.left, b.bottom, b.right, b.top),
                                                          "extents": 4096})
        return Response(data, content_type="application/x-protobuf")

    def _thumb(self, vid: str):
        from werkzeug import Response

        im = self.images.get(vid)
        if im is None:
            return Response(b"not found", status=404)
        fault = self.image_fault.get(vid)
        data = im.jpeg
        if fault == "corrupt":
            return Response(b"\xff\xd8\xff\xe0 this is not really a jpeg" * 4, content_type="image/jpeg")
        if fault == "truncated":
            return Response(data[: len(data) // 2], content_type="image/jpeg")
        if fault == "short":
            def gen():
                yield data[: len(data) // 2]
            return Response(gen(), headers={"Content-Length": str(len(data))}, content_type="image/jpeg",
                            direct_passthrough=True)
        return Response(data, content_type="image/jpeg")
