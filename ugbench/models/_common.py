"""Helpers shared by adapters (not an adapter: the leading underscore keeps the registry from importing it)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from ugcore.protocol import EncodeItem


def item_digest(item: EncodeItem) -> bytes:
    """A stable digest of an item: its id when set (the harness always sets one), else its content."""
    h = hashlib.blake2b(digest_size=16)
    if item.id is not None:
        h.update(b"id:" + item.id.encode())
    else:
        h.update(b"text:" + (item.text or "").encode())
        if item.image is not None:
            h.update(b"image:" + item.image.tobytes())
        if item.lat is not None:
            h.update(f"loc:{item.lat:.7f},{item.lon:.7f}".encode())
    return h.digest()


def texts_of(items: Sequence[EncodeItem]) -> tuple[list[int], list[str]]:
    """(positions, texts) of the items that have text."""
    pos = [i for i, it in enumerate(items) if it.text]
    return pos, [items[i].text for i in pos]


def with_instruction(text: str, instruction: str | None) -> str:
    return f"{instruction.strip()} {text}" if instruction else text


def zeros(n: int, dim: int) -> np.ndarray:
    return np.zeros((n, dim), dtype=np.float32)
