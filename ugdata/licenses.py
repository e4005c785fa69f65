"""Image licences that travel with each street view: from the fetch table, through the build, into the dataset,
its card (README.md) and manifest, and `ugdata check --require-license`.

Each real view carries four optional per-image fields (ugdata/format.py VIEW_LICENSE_COLUMNS): ``license``,
``creator``, ``attribution_url`` and ``provider`` (mapillary | osv5m | kartaview | whatever the table says).
A view whose licence is empty (or spelt "unknown") has an UNKNOWN licence: it may be used for research on the
machine that holds it, but redistributing the dataset needs the owner's permission, and the strict check fails.

Synthetic images are rendered by this project from OpenStreetMap data, so their licence is known: the
rendering code's (Apache-2.0) over ODbL map data; they count as ``synthetic``.

The licences and duties of the three fetch sources are the ones their publishers state:
- Mapillary: public photos are CC BY-SA 4.0; attribution "a clearly visible link to mapillary.com or to the
  Mapillary photo page", suggested text "Photos from Mapillary, CC BY-SA, by @username"
  (Mapillary legal summary, https://legacy.mapillary.com/legal.html);
- OSV-5M: CC BY-SA 4.0 (the dataset card of https://huggingface.co/datasets/osv5m/osv5m, ``license:
  cc-by-sa-4.0``); its images are Mapillary images, so the creator and Mapillary page are the attribution;
- KartaView: CC BY-SA 4.0 (not fetched by ugdata, see docs/ugdata.md; a table that names it still gets its duty).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

UNKNOWN = "unknown"
SYNTHETIC = "synthetic"
CC_BY_SA_4 = "CC BY-SA 4.0"

_UNKNOWN_SPELLINGS = {"", "unknown", "none", "nan", "null", "n/a", "na", "?"}

# provider key -> (display name, licence, attribution duty). The duty is what the card asks of a re-user.
PROVIDERS: dict[str, tuple[str, str, str]] = {
    "mapillary": (
        "Mapillary", CC_BY_SA_4,
        "credit each image's creator (column `creator`) and link to its page "
        "https://www.mapillary.com/app/?pKey=<image_id> (column `attribution_url`); share adaptations alike",
    ),
    "osv5m": (
        "OpenStreetView-5M (OSV-5M)", CC_BY_SA_4,
        "cite OSV-5M (Astruc et al., CVPR 2024), credit each image's Mapillary creator (column `creator`) and link "
        "to https://www.mapillary.com/app/?pKey=<image_id> (column `attribution_url`); share adaptations alike",
    ),
    "kartaview": (
        "KartaView", CC_BY_SA_4,
        "credit each image's creator (column `creator`) and KartaView, link to the image (column "
        "`attribution_url`); share adaptations alike",
    ),
}


def normalise(value: object) -> str:
    """A licence cell -> its text, or UNKNOWN for an empty / missing / 'unknown' value."""
    if value is None:
        return UNKNOWN
    if isinstance(value, float) and value != value:  # NaN
        return UNKNOWN
    s = str(value).strip()
    return UNKNOWN if s.lower() in _UNKNOWN_SPELLINGS else s


def is_unknown(value: object) -> bool:
    return normalise(value) == UNKNOWN


def summary(licenses: Iterable[object]) -> dict[str, int]:
    """{licence: number of images}, most common first (ties by name), unknown spelt UNKNOWN."""
    counts = Counter(normalise(v) for v in licenses)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def sources(providers: Iterable[object], licenses: Iterable[object]) -> list[dict]:
    """One entry per (provider, licence) with its image count: what the dataset card lists."""
    counts = Counter((str(p or "").strip().lower(), normalise(lic)) for p, lic in zip(providers, licenses, strict=True))
    return [{"provider": p, "license": lic, "images": n}
            for (p, lic), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def card_lines(image_sources: list[dict], synthetic_images: int = 0) -> list[str]:
    """The dataset card's "Image licences and attribution" section (real street views)."""
    lines = [
        "## Image licences and attribution",
        "",
        "The street-view images keep their own licences (the ODbL above covers the map-derived database). "
        "Per-image `license`, `creator`, `attribution_url` and `provider` columns are in the dataset.",
        "",
    ]
    for s in image_sources:
        p, lic, n = s["provider"], s["license"], s["images"]
        name, known_lic, duty = PROVIDERS.get(p, (p or "your images", None, None))
        if lic == UNKNOWN:
            lines.append(f"- {name}: licence unknown, {n} images; no licence was given for them, so ask their "
                         "owner before you redistribute this dataset (`ugdata check --require-license` fails it); "
                         "fix: add a `license` column to the --views table")
        elif duty is not None and lic == known_lic:
            lines.append(f"- {name}: {lic}, {n} images; {duty}")
        else:
            lines.append(f"- {name}: {lic}, {n} images; follow the terms of {lic} (credit column `creator`, "
                         "link column `attribution_url` where given)")
    if synthetic_images:
        lines.append(f"- synthetic: {synthetic_images} rendered images (no third-party rights)")
    lines.append("")
    return lines
