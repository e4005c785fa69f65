"""BM25-style keyword baseline (text only) on hashed word features.

Documents get BM25's saturated term frequency tf*(k1+1) / (tf + k1*(1 - b + b*len/AVG_LEN)) (k1=1.2,
b=0.75); queries get binary term presence, so query.doc sums the document's BM25 term weights over the
query's terms. Two deliberate differences from textbook BM25, because an embedding model sees items one
batch at a time with no corpus statistics: IDF is uniform (1 for every term) and the average document
length is the fixed AVG_LEN. Words are lower-cased \\w+ tokens hashed (blake2b) into DIM buckets.
Items without text (image-only) get all-zero vectors: the harness's tie rule then ranks them at chance.
It never sees an image's caption unless the task puts that text in the item.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter

import numpy as np

from ugcore.protocol import ModelMeta

from .registry import register

DIM = 2048
K1, B, AVG_LEN = 1.2, 0.75, 32.0
_WORD = re.compile(r"\w+", re.UNICODE)


def _bucket(tok: str) -> int:
    return int.from_bytes(hashlib.blake2b(tok.encode(), digest_size=4).digest(), "little") % DIM


class BM25Encoder:
    def __init__(self):
        self.meta = ModelMeta(
            name="bm25",
            revision=f"hash{DIM}-k1{K1}-b{B}",
            n_parameters=0,
            embed_dim=DIM,
            modalities=["text"],
            pooling="none",
            normalized=False,
            license="apache-2.0",
            adapter="bm25",
            framework=["numpy"],
        )

    def encode(self, items, *, task_name, side, instruction=None, batch_size=32):
        out = np.zeros((len(items), DIM), dtype=np.float32)
        for i, it in enumerate(items):
            if not it.text:
                continue
            toks = _WORD.findall(it.text.lower())  # the instruction is not part of the bag of words
            if side == "query":
                for t in set(toks):
                    out[i, _bucket(t)] = 1.0
            else:
                norm = K1 * (1 - B + B * len(toks) / AVG_LEN)
                for t, tf in Counter(toks).items():
                    out[i, _bucket(t)] += tf * (K1 + 1) / (tf + norm)
        return out


@register("bm25", aliases=["keyword", "bm25-hashed"], description="BM25-style keyword baseline, text only")
def load(name_or_path: str, *, device=None, **_):
    return BM25Encoder()
