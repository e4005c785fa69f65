"""`ugdata fetch mapillary`: street views from Mapillary's API v4 (imagery CC BY-SA 4.0).

API reference (every endpoint, field and parameter used here is documented there):
  https://www.mapillary.com/developer/api-documentation/           (entity endpoints, image fields, search)
  https://www.mapillary.com/developer/tiles-documentation/          (coverage vector tiles, errors)
  https://blog.mapillary.com/update/2021/06/23/getting-started-with-the-new-mapillary-api-v4.html (auth, TTL)

How an area is searched (--search):
- bbox: `GET {api}/images?bbox=W,S,E,N&fields=...&limit=2000` (the image search endpoint; at most 2000 images
  per page, pages followed through the response's `paging.next`). Its bbox must stay small ("a very limited
  bounding box search", docs), so the area is split into cells of BBOX_CELL_DEG degrees.
- tiles: the coverage vector tiles `{tiles}/maps/vtp/mly1_public/2/14/{x}/{y}` (layer `image` at zoom 14: point
  features with id, captured_at (epoch ms), compass_angle, sequence_id, is_pano, organization_id). The tiles
  carry no creator or thumbnail URL, so each image that survives thinning gets one entity request
  `GET {api}/{id}?fields=...`. Tile 403 means "the requested tile does not exist, safe to ignore" (tiles docs).
- auto (default): bbox for an area of at most AUTO_BBOX_MAX_CELLS cells, else tiles.

Image fields requested (documented image entity fields): id, geometry, computed_geometry, compass_angle,
computed_compass_angle, captured_at (epoch ms), sequence, creator ({id, username}), is_pano and
thumb_{256|1024|2048}_url. Thumbnail URLs expire (TTL, blog above), so they are fetched right before use and
never stored.

Authorization: the Graph API gets the header `Authorization: OAuth <token>`; the tiles get the documented
`?access_token=<token>` query parameter. Thumbnail downloads (a CDN, another host) get no token at all. The
token is never printed, logged, or written into any output: error messages are built here (never from an
httpx exception's text, which holds the URL) and pass through `_redact` anyway.

Why httpx + tenacity and not the official `mapillary` SDK (mapillary/mapillary-python-sdk): its `Client`
(models/client.py) sends each request once - no retry, no backoff, no Retry-After on 429/5xx - keeps the token
in a process-wide class attribute, validates it with an extra request to a fixed image, and logs every request
URL at INFO level, which for tiles holds `access_token=` (a token leak into logs). It was last released in
2023 and has no request budget or resumable download. httpx gives a thread-safe pooled client with timeouts
and base URLs we can point at a local test server; tenacity gives exponential backoff that honours
Retry-After; mercantile + mapbox-vector-tile enumerate and decode the coverage tiles.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ugcore.errors import UserError
from ugdata.fetch.area import Area
from ugdata.fetch.output import ViewRecord, ViewWriter, image_file_name, verify_image
from ugdata.fetch.thin import dedup, thin_sequences

SOURCE = "mapillary"
LICENSE = "CC BY-SA 4.0"
DEFAULT_API = "https://graph.mapillary.com"
DEFAULT_TILES = "https://tiles.mapillary.com"
TOKEN_ENVS = ("MAPILLARY_TOKEN", "UG_MAPILLARY_TOKEN")
TOKEN_HELP = ("get a free client token at https://www.mapillary.com/dashboard/developers (Register application, "
              "copy the Client Token) and put it in $MAPILLARY_TOKEN or a file given with --token-file")
COVERAGE_TILES = "maps/vtp/mly1_public/2/{z}/{x}/{y}"  # docs "At a glance": coverage tiles
TILE_ZOOM = 14  # the `image` layer exists at zoom 14 only
TILE_LAYER = "image"
SEARCH_LIMIT = 2000  # the image search's page size limit (max and default)
BBOX_CELL_DEG = 0.05  # search cells of 0.05 x 0.05 deg (0.0025 square degrees, under the 0.01 limit)
AUTO_BBOX_MAX_CELLS = 4
RESOLUTIONS = (256, 1024, 2048)
IMAGE_FIELDS = ("id", "geometry", "computed_geometry", "compass_angle", "computed_compass_angle", "captured_at",
                "sequence", "creator", "is_pano")


class FetchError(UserError):
    """The service failed in a way a rerun may fix (persistent 5xx, network down, budget used up)."""

    truncated = False  # the last try's answer was cut short (connection closed before Content-Length bytes)


class AuthError(UserError):
    """A missing, invalid or expired token."""


class BudgetExceeded(FetchError):
    pass


class _Retryable(Exception):
    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


@dataclass
class MapillaryOptions:
    max_views: int | None = None
    min_spacing_m: float = 5.0
    captured_after: str | None = None
    captured_before: str | None = None
    pano: bool = True
    pano_headings: str | Iterable[float] = "0,90,180,270"
    pano_fov: float = 90.0
    resolution: int = 1024
    max_requests: int = 20000
    search: str = "auto"
    workers: int = 4
    api_url: str | None = None
    tiles_url: str | None = None
    attempts: int = 5  # tries per request (1 + retries)
    backoff_s: float = 1.0  # first retry wait; doubles each try (capped at max_wait_s)
    max_wait_s: float = 60.0
    timeout_s: float = 30.0
    dedup_eps_m: float = 0.5
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)


@dataclass
class Candidate:
    """An image found in the area (from a search page or a coverage tile), before any download."""

    id: str
    lat: float
    lon: float
    heading: float | None
    captured_at: str
    sequence: str | None
    is_pano: bool
    creator: str | None = None
    thumb_url: str | None = None  # only from the search endpoint / entity request (expires; never stored)


# ------------------------------------------------------------------------------------------------ token
def read_token(token_file: Path | None = None) -> str:
    """The token from --token-file, else $MAPILLARY_TOKEN / $UG_MAPILLARY_TOKEN; a one-line UserError if none."""
    if token_file is not None:
        try:
            tok = Path(token_file).read_text(encoding="utf-8").strip()
        except OSError:
            raise AuthError(f"--token-file {token_file}: cannot read it; {TOKEN_HELP}") from None
        if not tok:
            raise AuthError(f"--token-file {token_file} is empty; {TOKEN_HELP}")
    else:
        tok = next((os.environ[v].strip() for v in TOKEN_ENVS if os.environ.get(v, "").strip()), "")
        if not tok:
            raise AuthError(f"no Mapillary token: {TOKEN_HELP}")
    if any(c.isspace() for c in tok) or not tok.isprintable():
        raise AuthError(f"the Mapillary token must be one line without spaces; {TOKEN_HELP}")
    return tok


# ------------------------------------------------------------------------------------------------ http
class MapillaryClient:
    """httpx client with retries (tenacity), a request budget and token hygiene (see module docstring)."""

    def __init__(self, token: str, opts: MapillaryOptions) -> None:
        import httpx

        self._token = token
        self.opts = opts
        self.api = (opts.api_url or os.environ.get("UG_MAPILLARY_API") or DEFAULT_API).rstrip("/")
        self.tiles = (opts.tiles_url or os.environ.get("UG_MAPILLARY_TILES") or DEFAULT_TILES).rstrip("/")
        self.requests = 0
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=opts.timeout_s, follow_redirects=True,
                                  headers={"User-Agent": "ugdata-fetch (UrbanGraphEmbeddings)"},
                                  limits=httpx.Limits(max_connections=max(4, opts.workers * 2)))

    def close(self) -> None:
        self._http.close()

    def _redact(self, text: str) -> str:
        return str(text).replace(self._token, "***") if self._token else str(text)

    def _count(self) -> None:
        with self._lock:
            if self.requests >= self.opts.max_requests:
                raise BudgetExceeded(f"the request budget (--max-requests {self.opts.max_requests}) is used up; "
                                     "rerun with a larger budget: complete images are kept and skipped")
            self.requests += 1

    def _send(self, url: str, *, params: dict | None, auth: str, what: str):
        """One GET with retries on 429/5xx/connection errors. auth: header | query | none."""
        import httpx
        from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt

        headers = {"Authorization": f"OAuth {self._token}"} if auth == "header" else {}
        if auth == "query":
            params = {**(params or {}), "access_token": self._token}

        def wait(state) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, _Retryable) and exc.retry_after is not None:
                return min(max(exc.retry_after, 0.0), self.opts.max_wait_s)
            return min(self.opts.backoff_s * 2 ** (state.attempt_number - 1), self.opts.max_wait_s)

        def once():
            self._count()
            resp = self._http.get(url, params=params, headers=headers)
            if resp.status_code == 429 or resp.status_code >= 500:
                raise _Retryable(resp.status_code, _retry_after(resp.headers.get("Retry-After")))
            return resp

        try:
            for attempt in Retrying(stop=stop_after_attempt(max(1, self.opts.attempts)), wait=wait,
                                    retry=retry_if_exception_type((_Retryable, httpx.TransportError)),
                                    sleep=self.opts.sleep, reraise=False):
                with attempt:
                    return once()
        except RetryError as e:
            last = e.last_attempt.exception()
            tries = self.opts.attempts
            if isinstance(last, _Retryable):
                why = f"HTTP {last.status}" + (" (rate limited)" if last.status == 429 else "")
            elif isinstance(last, httpx.RemoteProtocolError):
                why = "the connection closed before the whole answer arrived"
            else:
                why = f"{type(last).__name__}"  # never str(last): httpx puts the URL (with a tiles token) in it
            err = FetchError(f"Mapillary {what} failed: {why} after {tries} tries; try again later "
                             "(a rerun resumes)")
            err.truncated = isinstance(last, httpx.RemoteProtocolError)
            raise err from None
        raise AssertionError("unreachable")

    def _check_auth(self, resp, what: str) -> None:
        body: Any = None
        if resp.headers.get("content-type", "").startswith(("application/json", "text/javascript")) or \
                resp.content[:1] == b"{":
            try:
                body = resp.json()
            except ValueError:
                body = None
        err = body.get("error") if isinstance(body, dict) else None
        oauth = isinstance(err, dict) and (err.get("type") == "OAuthException" or err.get("code") == 190)
        if resp.status_code == 401 or oauth or (resp.status_code == 403 and what != "tile"):
            msg = err.get("message") if isinstance(err, dict) else None
            detail = f" ({self._redact(str(msg))[:160]})" if msg else f" (HTTP {resp.status_code})"
            raise AuthError(f"Mapillary rejected the token{detail}; {TOKEN_HELP}")

    def get_json(self, url: str, params: dict | None = None, *, what: str) -> dict:
        resp = self._send(url, params=params, auth="header", what=what)
        self._check_auth(resp, what)
        if resp.status_code >= 400:
            raise FetchError(f"Mapillary {what} failed: HTTP {resp.status_code}")
        try:
            data = resp.json()
        except ValueError:
            raise FetchError(f"Mapillary {what}: the answer is not JSON") from None
        if not isinstance(data, dict):
            raise FetchError(f"Mapillary {what}: unexpected answer (not a JSON object)")
        return data

    def get_tile(self, x: int, y: int, z: int = TILE_ZOOM) -> bytes:
        url = f"{self.tiles}/{COVERAGE_TILES.format(z=z, x=x, y=y)}"
        resp = self._send(url, params=None, auth="query", what="tile")
        self._check_auth(resp, "tile")
        if resp.status_code in (403, 404, 204):  # 403: "the requested tile does not exist" (tiles docs)
            return b""
        if resp.status_code >= 400:
            raise FetchError(f"Mapillary coverage tile {z}/{x}/{y} failed: HTTP {resp.status_code}")
        return resp.content

    def get_image_bytes(self, url: str) -> tuple[bytes | None, str | None]:
        """(bytes, None) or (None, reason). Never sends the token (the thumbnails live on a CDN)."""
        try:
            resp = self._send(url, params=None, auth="none", what="image download")
        except BudgetExceeded:
            raise
        except FetchError as e:
            why = str(e).removeprefix("Mapillary image download failed: ").split("; try again")[0]
            return None, f"{'truncated' if e.truncated else 'download failed'}: {why}"
        if resp.status_code >= 400:
            return None, f"download failed: HTTP {resp.status_code}"
        data = resp.content
        length = resp.headers.get("Content-Length")
        if length and length.isdigit() and not resp.headers.get("Content-Encoding") and int(length) != len(data):
            return None, f"truncated: got {len(data)} of {length} bytes"
        return data, None


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        return None


# ------------------------------------------------------------------------------------------------ parsing
def _iso(ms: Any) -> str:
    try:
        v = float(ms)
    except (TypeError, ValueError):
        return str(ms) if ms else ""
    if not math.isfinite(v):
        return ""
    return datetime.fromtimestamp(v / 1000.0, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_date(text: str | None, flag: str) -> str | None:
    """YYYY-MM-DD or ISO-8601 -> 'YYYY-MM-DDTHH:MM:SSZ' (UTC), the format search and captured_at compare in."""
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"{flag} '{text}' is not a date (use YYYY-MM-DD or ISO-8601)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _angle(v: Any) -> float | None:
    try:
        a = float(v)
    except (TypeError, ValueError):
        return None
    return a % 360.0 if math.isfinite(a) else None


def candidate_from_entity(e: dict, resolution: int) -> Candidate | None:
    """A search-page item or entity answer -> Candidate (None without an id or a position)."""
    geom = e.get("computed_geometry") or e.get("geometry") or {}
    coords = geom.get("coordinates") if isinstance(geom, dict) else None
    if not e.get("id") or not isinstance(coords, list | tuple) or len(coords) < 2:
        return None
    try:
        lon, lat = float(coords[0]), float(coords[1])
    except (TypeError, ValueError):
        return None
    heading = _angle(e.get("computed_compass_angle"))
    if heading is None:
        heading = _angle(e.get("compass_angle"))
    creator = e.get("creator")
    return Candidate(id=str(e["id"]), lat=lat, lon=lon, heading=heading, captured_at=_iso(e.get("captured_at")),
                     sequence=str(e["sequence"]) if e.get("sequence") else None, is_pano=bool(e.get("is_pano")),
                     creator=str(creator.get("username")) if isinstance(creator, dict) and creator.get("username")
                     else None, thumb_url=e.get(f"thumb_{resolution}_url"))


def candidates_from_tile(data: bytes, x: int, y: int, z: int = TILE_ZOOM) -> list[Candidate]:
    """The `image` layer's point features of one coverage tile, in lon/lat."""
    if not data:
        return []
    import mapbox_vector_tile
    import mercantile

    try:
        tile = mapbox_vector_tile.decode(data)
    except Exception:  # a tile that is not a vector tile: no images, said by the caller's counts
        return []
    layer = tile.get(TILE_LAYER)
    if not layer:
        return []
    extent = float(layer.get("extent", 4096))
    b = mercantile.xy_bounds(x, y, z)
    out = []
    for f in layer.get("features", []):
        g = f.get("geometry") or {}
        p = f.get("properties") or {}
        if g.get("type") != "Point" or "id" not in p:
            continue
        px, py = g["coordinates"][:2]
        # decode() flips y by default (y up, origin bottom-left), so py/extent runs south -> north
        mx = b.left + (px / extent) * (b.right - b.left)
        my = b.bottom + (py / extent) * (b.top - b.bottom)
        lon, lat = mercantile.lnglat(mx, my)
        out.append(Candidate(id=str(p["id"]), lat=lat, lon=lon, heading=_angle(p.get("compass_angle")),
                             captured_at=_iso(p.get("captured_at")),
                             sequence=str(p["sequence_id"]) if p.get("sequence_id") else None,
                             is_pano=bool(p.get("is_pano"))))
    return out


def split_bbox(bbox: tuple[float, float, float, float], cell: float = BBOX_CELL_DEG) -> list[tuple[float, ...]]:
    w, s, e, n = bbox
    nx, ny = max(1, math.ceil((e - w) / cell - 1e-9)), max(1, math.ceil((n - s) / cell - 1e-9))
    dx, dy = (e - w) / nx, (n - s) / ny
    return [(w + i * dx, s + j * dy, w + (i + 1) * dx if i < nx - 1 else e, s + (j + 1) * dy if j < ny - 1 else n)
            for j in range(ny) for i in range(nx)]


def plan_tiles(bbox: tuple[float, float, float, float]) -> list[tuple[int, int, int]]:
    import mercantile

    return sorted((t.x, t.y, t.z) for t in mercantile.tiles(*bbox, zooms=TILE_ZOOM))


# ------------------------------------------------------------------------------------------------ panoramas
def equirect_to_perspective(pano: np.ndarray, yaw_deg: float, fov_deg: float, out_w: int, out_h: int) -> np.ndarray:
    """A pinhole view of an equirectangular panorama (H x W x C, the centre column looking at yaw 0), looking
    at `yaw_deg` (clockwise) on the horizon, horizontal field of view `fov_deg`. Bilinear sampling."""
    src_h, src_w = pano.shape[:2]
    f = (out_w / 2.0) / math.tan(math.radians(fov_deg) / 2.0)
    xs = np.arange(out_w, dtype=np.float64) + 0.5 - out_w / 2.0
    ys = np.arange(out_h, dtype=np.float64) + 0.5 - out_h / 2.0
    X, Y = np.meshgrid(xs, -ys)  # x right, y up
    Z = np.full_like(X, f)
    t = math.radians(yaw_deg)
    Xr = X * math.cos(t) + Z * math.sin(t)
    Zr = -X * math.sin(t) + Z * math.cos(t)
    lon = np.arctan2(Xr, Zr)
    lat = np.arctan2(Y, np.hypot(Xr, Zr))
    u = (lon / (2 * math.pi) + 0.5) * src_w - 0.5
    v = (0.5 - lat / math.pi) * src_h - 0.5
    u0 = np.floor(u).astype(np.int64)
    v0 = np.clip(np.floor(v).astype(np.int64), 0, src_h - 1)
    v1 = np.clip(v0 + 1, 0, src_h - 1)
    du = (u - u0)[..., None]
    dv = np.clip(v - v0, 0.0, 1.0)[..., None]
    u0w, u1w = u0 % src_w, (u0 + 1) % src_w
    img = pano.astype(np.float32)
    top = img[v0, u0w] * (1 - du) + img[v0, u1w] * du
    bot = img[v1, u0w] * (1 - du) + img[v1, u1w] * du
    return np.clip(top * (1 - dv) + bot * dv, 0, 255).astype(np.uint8)


def parse_headings(spec: str | Iterable[float]) -> list[float]:
    if isinstance(spec, str):
        try:
            vals = [float(x) for x in spec.split(",") if x.strip()]
        except ValueError:
            raise UserError(f"--pano-headings '{spec}' is not a comma-separated list of degrees") from None
    else:
        vals = [float(x) for x in spec]
    if not vals or not all(math.isfinite(v) for v in vals):
        raise UserError("--pano-headings needs at least one heading in degrees, e.g. 0,90,180,270")
    return sorted({v % 360.0 for v in vals})


def _cut_id(view_id: str, rel: float) -> str:
    return f"{view_id}_h{int(round(rel)) % 360:03d}"


# ------------------------------------------------------------------------------------------------ fetch
def _selection_key(c: Candidate) -> str:
    """--max picks by a hash of the id: deterministic, and spread over the area rather than the first streets."""
    return hashlib.sha256(c.id.encode()).hexdigest()


def fetch_mapillary(area: Area, out: Path, token: str, opts: MapillaryOptions, *, console=None) -> dict:
    """Fetch the views of `area` into `out` (see ugdata.fetch.output). Returns fetch.json's content."""
    if opts.resolution not in RESOLUTIONS:
        raise UserError(f"--resolution {opts.resolution}: Mapillary thumbnails are 256, 1024 or 2048 wide")
    if opts.search not in ("auto", "bbox", "tiles"):
        raise UserError(f"--search {opts.search}: use auto, bbox or tiles")
    if opts.max_views is not None and opts.max_views < 1:
        raise UserError("--max must be at least 1")
    if opts.max_requests < 1:
        raise UserError("--max-requests must be at least 1")
    if not (0 < opts.pano_fov < 180):
        raise UserError("--pano-fov must be between 0 and 180 degrees")
    after = parse_date(opts.captured_after, "--captured-after")
    before = parse_date(opts.captured_before, "--captured-before")
    if after and before and after >= before:
        raise UserError("--captured-after must be earlier than --captured-before")
    headings = parse_headings(opts.pano_headings) if opts.pano else []
    cells = split_bbox(area.bbox)
    mode = opts.search if opts.search != "auto" else ("bbox" if len(cells) <= AUTO_BBOX_MAX_CELLS else "tiles")
    params = {k: v for k, v in asdict(opts).items() if k not in ("sleep",)}
    params["search"] = mode
    params["pano_headings"] = headings
    writer = ViewWriter(out, source=SOURCE, query=area.query | {"bbox": list(area.bbox)}, parameters=params)
    client = MapillaryClient(token, opts)
    counts = {"found": 0, "thinned": 0, "duplicates": 0, "outside": 0, "date_filtered": 0, "panos_skipped": 0}
    progress = _Progress(console)
    ids: list[str] = []
    try:
        with progress:
            found = (_search_bbox(client, cells, opts, after, before, progress) if mode == "bbox"
                     else _search_tiles(client, area.bbox, progress))
            counts["found"] = len(found)
            cands = _filter(found, area.bbox, after, before, opts, counts)
            cands, counts["duplicates"] = dedup(cands, eps_m=opts.dedup_eps_m)
            cands, counts["thinned"] = thin_sequences(cands, opts.min_spacing_m)
            cands.sort(key=_selection_key)
            ids = _download_all(client, writer, cands, area, opts, headings, mode, counts, progress)
    except (FetchError, KeyboardInterrupt) as e:
        # keep what is complete: the table of this far, fetch.json complete: false; a rerun resumes
        writer.finish(counts=counts, requests=client.requests, ids=ids or None, complete=False,
                      extra={"stopped": client._redact(str(e)) if isinstance(e, FetchError) else "interrupted"})
        raise
    except BaseException:
        writer.close()
        raise
    finally:
        client.close()
    return writer.finish(counts=counts, requests=client.requests, ids=ids, extra={"search": mode})


def _filter(found: list[Candidate], bbox, after, before, opts: MapillaryOptions, counts: dict) -> list[Candidate]:
    w, s, e, n = bbox
    out = []
    for c in found:
        if not (w <= c.lon <= e and s <= c.lat <= n):
            counts["outside"] += 1
            continue
        if (after and (not c.captured_at or c.captured_at < after)) or (before and (not c.captured_at or c.captured_at >= before)):
            counts["date_filtered"] += 1
            continue
        if c.is_pano and not opts.pano:
            counts["panos_skipped"] += 1
            continue
        out.append(c)
    return out


def _search_fields(resolution: int) -> str:
    return ",".join((*IMAGE_FIELDS, f"thumb_{resolution}_url"))


def _search_bbox(client: MapillaryClient, cells, opts: MapillaryOptions, after, before, progress) -> list[Candidate]:
    task = progress.add("searching Mapillary (bbox)", len(cells))
    found: list[Candidate] = []
    for cell in cells:
        params: dict[str, Any] = {"bbox": ",".join(f"{v:.7f}" for v in cell), "fields": _search_fields(opts.resolution),
                                  "limit": SEARCH_LIMIT}
        if after:
            params["start_captured_at"] = after
        if before:
            params["end_captured_at"] = before
        url: str | None = f"{client.api}/images"
        seen_next: set[str] = set()
        while url:
            page = client.get_json(url, params, what="image search")
            for item in page.get("data") or []:
                c = candidate_from_entity(item, opts.resolution) if isinstance(item, dict) else None
                if c is not None:
                    found.append(c)
            nxt = (page.get("paging") or {}).get("next") if isinstance(page.get("paging"), dict) else None
            if not nxt or nxt in seen_next:
                break
            seen_next.add(nxt)
            url, params = nxt, None  # `next` is a complete URL (its own query string)
        progress.advance(task)
    return found


def _search_tiles(client: MapillaryClient, bbox, progress) -> list[Candidate]:
    tiles = plan_tiles(bbox)
    task = progress.add("reading Mapillary coverage tiles (z14)", len(tiles))
    found: list[Candidate] = []
    for x, y, z in tiles:
        found.extend(candidates_from_tile(client.get_tile(x, y, z), x, y, z))
        progress.advance(task)
    return found


def _records_for(c: Candidate, area: Area, headings: list[float], opts: MapillaryOptions) -> list[ViewRecord]:
    base = dict(lat=c.lat, lon=c.lon, captured_at=c.captured_at, city=area.city, source=SOURCE, license=LICENSE,
                creator=c.creator, attribution_url=f"https://www.mapillary.com/app/?pKey={c.id}",
                sequence=c.sequence, is_pano=c.is_pano)
    if not c.is_pano:
        return [ViewRecord(id=c.id, heading=c.heading, fov=None, file=image_file_name(c.id), **base)]
    out = []
    for rel in headings:
        vid = _cut_id(c.id, rel)
        heading = None if c.heading is None else (c.heading + rel) % 360.0
        out.append(ViewRecord(id=vid, heading=heading, fov=float(opts.pano_fov), file=image_file_name(vid), **base))
    return out


def _download_all(client, writer: ViewWriter, cands: list[Candidate], area: Area, opts: MapillaryOptions,
                  headings: list[float], mode: str, counts: dict, progress) -> list[str]:
    """Download candidates in order until --max images are kept (or none is left). Returns the kept view ids."""
    target = opts.max_views if opts.max_views is not None else len(cands)
    task = progress.add("downloading Mapillary images", min(target, len(cands)))
    kept_ids: list[str] = []
    kept_images = 0
    pos = 0
    with ThreadPoolExecutor(max_workers=max(1, opts.workers)) as pool:
        while kept_images < target and pos < len(cands):
            batch = cands[pos: pos + (target - kept_images)]
            pos += len(batch)
            for recs in pool.map(lambda c: _fetch_one(client, writer, c, area, opts, headings, mode, counts), batch):
                if recs:
                    kept_ids.extend(r.id for r in recs)
                    kept_images += 1
                    progress.advance(task)
    return kept_ids


def _fetch_one(client: MapillaryClient, writer: ViewWriter, c: Candidate, area: Area, opts: MapillaryOptions,
               headings: list[float], mode: str, counts: dict) -> list[ViewRecord] | None:
    planned = _records_for(c, area, headings, opts)
    if all(writer.is_done(r.id) for r in planned):
        return [writer.record(r.id) or r for r in planned]
    if c.thumb_url is None or c.creator is None:
        # coverage tiles carry neither: one entity request (also refreshes an expired thumbnail URL)
        ent = client.get_json(f"{client.api}/{c.id}", {"fields": _search_fields(opts.resolution)},
                              what="image metadata")
        full = candidate_from_entity(ent, opts.resolution)
        if full is None:
            writer.reject(c.id, "metadata: the API returned no position for this image")
            return None
        full.sequence = full.sequence or c.sequence
        c = full
        planned = _records_for(c, area, headings, opts)
    if c.is_pano and not opts.pano:
        writer.reject(c.id, "panorama: skipped (--no-pano)")
        return None
    if not c.thumb_url:
        writer.reject(c.id, f"no thumbnail: the API returned no thumb_{opts.resolution}_url")
        return None
    data, why = client.get_image_bytes(c.thumb_url)
    if data is None:
        writer.reject(c.id, why or "download failed")
        return None
    if not c.is_pano:
        return planned if writer.add(planned[0], data) else None
    why = verify_image(data)
    if why is not None:
        writer.reject(c.id, why)
        return None
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        pano = np.asarray(im.convert("RGB"))
    out_w = max(64, int(round(pano.shape[1] * opts.pano_fov / 360.0)))
    out_h = max(48, int(round(out_w * 3 / 4)))
    kept = []
    for rel, rec in zip(headings, planned, strict=True):
        if writer.is_done(rec.id):
            kept.append(rec)
            continue
        view = equirect_to_perspective(pano, rel, opts.pano_fov, out_w, out_h)
        if writer.add_image(rec, Image.fromarray(view)):
            kept.append(rec)
    return kept if len(kept) == len(planned) else None


class _Progress:
    """A rich progress bar when a console is given (CLI), nothing otherwise (tests, library use)."""

    def __init__(self, console) -> None:
        self._p = None
        if console is not None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._p = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                               TimeElapsedColumn(), console=console, transient=True)
        self._lock = threading.Lock()

    def __enter__(self):
        if self._p is not None:
            self._p.__enter__()
        return self

    def __exit__(self, *exc):
        if self._p is not None:
            self._p.__exit__(*exc)

    def add(self, what: str, total: int):
        return self._p.add_task(what, total=total) if self._p is not None else None

    def advance(self, task) -> None:
        if self._p is not None and task is not None:
            with self._lock:
                self._p.advance(task)
