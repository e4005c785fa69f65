"""Batch image access for a UGData directory: decode many images per call, with clear errors.

ugdata.UGData.image() fetches one row at a time; encoding tens of thousands of images that way spends
most of the time in per-row dataset access, so this reads a whole chunk's rows from the Arrow table at once.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Sequence

from ugcore.errors import DataError


class ImageStore:
    def __init__(self, ud):
        self.ud = ud
        self._arrow: dict[str, object] = {}
        self._index: dict[str, tuple[str, int]] | None = None

    @property
    def index(self) -> dict[str, tuple[str, int]]:
        """image_id -> (split, row), built once from the image_id columns (no image bytes read)."""
        if self._index is None:
            self._index = {}
            for split, ds in self.ud.dataset.items():
                for row, iid in enumerate(ds["image_id"]):
                    self._index[str(iid)] = (split, row)
        return self._index

    def _table(self, split: str):
        if split not in self._arrow:
            self._arrow[split] = self.ud.dataset[split].with_format("arrow")
        return self._arrow[split]

    def load(self, image_ids: Sequence[str]) -> list:
        """PIL RGB images for `image_ids`, in order. Unknown ids and undecodable bytes raise DataError."""
        from PIL import Image

        index = self.index
        by_split: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for pos, iid in enumerate(image_ids):
            try:
                split, row = index[iid]
            except KeyError:
                raise DataError(
                    f"image_id '{iid}' is referenced by a task but not present in {self.ud.root / 'dataset'}; "
                    "rebuild the UGData directory"
                ) from None
            by_split[split].append((pos, row))
        out: list = [None] * len(image_ids)
        for split, pairs in by_split.items():
            rows = [r for _, r in pairs]
            col = self._table(split)[rows]["image"].to_pylist()
            for (pos, row), raw in zip(pairs, col, strict=True):
                iid = image_ids[pos]
                try:
                    if raw.get("bytes") is not None:
                        img = Image.open(io.BytesIO(raw["bytes"]))
                    else:
                        img = Image.open(self.ud.root / raw["path"])
                    out[pos] = img.convert("RGB")
                except Exception as e:
                    raise DataError(
                        f"image '{iid}' in {self.ud.root} (split {split}, row {row}) "
                        f"failed to decode ({type(e).__name__}: {e}); fix or drop it and rebuild with `ugdata build`"
                    ) from None
        return out

