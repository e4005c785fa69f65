"""Hugging Face dual encoders (CLIP, SigLIP) through transformers, without torchvision.

Loads CLIPModel / SiglipModel, the tokenizer (AutoTokenizer) and the PIL ("slow") image processor
(CLIPImageProcessorPil / SiglipImageProcessorPil: the default image processors need torchvision).
Real checkpoints and tiny random-weight test models take the same path: a local folder (or a hub id in the
local HF cache). Text items -> get_text_features; image items -> get_image_features; items with both ->
the mean of the two L2-normalised embeddings (a simple fusion, documented in docs/ugbench.md). Items with
neither get zeros. Instructions are ignored (CLIP/SigLIP are not instruction-tuned). Output is L2-normalised.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ugcore.errors import UserError
from ugcore.protocol import ModelMeta

from .registry import register

FAMILIES = {"clip": "clip", "siglip": "siglip"}


def _model_type(s: str) -> str | None:
    cfg = Path(s).expanduser() / "config.json"
    if cfg.is_file():
        try:
            return json.loads(cfg.read_text()).get("model_type")
        except json.JSONDecodeError:
            return None
    return None


def _matches(s: str) -> bool:
    if _model_type(s) in FAMILIES:
        return True
    low = s.lower()
    return "/" in low and not Path(s).exists() and any(k in low.split("/")[-1] for k in ("clip", "siglip"))


class DualEncoder:
    def __init__(self, path: str, device: str | None = None):
        import torch
        from transformers import AutoTokenizer

        mtype = _model_type(path)
        if mtype is None and not Path(path).exists():
            mtype = "siglip" if "siglip" in path.lower() else "clip"
        if mtype == "siglip":
            from transformers import SiglipImageProcessorPil as Proc
            from transformers import SiglipModel as Model
        elif mtype == "clip":
            from transformers import CLIPImageProcessorPil as Proc
            from transformers import CLIPModel as Model
        else:
            raise UserError(f"{path}: model_type '{mtype}' is not CLIP or SigLIP")
        try:
            self.model = Model.from_pretrained(path).eval()
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            self.image_processor = Proc.from_pretrained(path)
        except OSError as e:
            raise UserError(
                f"could not load {mtype} model '{path}' (offline: it must be a local folder or in the "
                f"HF cache): {e}".splitlines()[0]
            ) from None
        self.device = torch.device(device or "cpu")
        self.model.to(self.device)
        self.family = mtype
        self.pad_max = mtype == "siglip"  # SigLIP was trained on max_length padding
        cfg = self.model.config
        dim = int(getattr(cfg, "projection_dim", 0) or cfg.text_config.hidden_size)
        self.meta = ModelMeta(
            name=Path(path).name if Path(path).exists() else path,
            revision=str(getattr(cfg, "_commit_hash", None) or "local"),
            n_parameters=sum(p.numel() for p in self.model.parameters()),
            embed_dim=dim,
            modalities=["text", "image"],
            pooling="model (CLS/EOS projection)",
            normalized=True,
            adapter=mtype,
            framework=["transformers", "PyTorch"],
        )

    def _text(self, texts: list[str]) -> np.ndarray:
        import torch

        kw = {"padding": "max_length", "max_length": 64} if self.pad_max else {"padding": True}
        enc = self.tokenizer(texts, truncation=True, return_tensors="pt", **kw)
        enc = {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
        if self.family == "siglip":
            enc.pop("attention_mask", None)
        with torch.no_grad():
            out = self.model.get_text_features(**enc)
        return _as_np(out)

    def _image(self, images) -> np.ndarray:
        import torch

        px = self.image_processor(images=images, return_tensors="pt")["pixel_values"].to(self.device)
        with torch.no_grad():
            out = self.model.get_image_features(pixel_values=px)
        return _as_np(out)

    def encode(self, items, *, task_name, side, instruction=None, batch_size=32):
        dim = self.meta.embed_dim
        out = np.zeros((len(items), dim), dtype=np.float32)
        count = np.zeros(len(items), dtype=np.float32)
        tpos = [i for i, it in enumerate(items) if it.text]
        ipos = [i for i, it in enumerate(items) if it.image is not None]
        for s in range(0, len(tpos), batch_size):
            pos = tpos[s : s + batch_size]
            out[pos] += _l2(self._text([items[i].text for i in pos]))
            count[pos] += 1
        for s in range(0, len(ipos), batch_size):
            pos = ipos[s : s + batch_size]
            out[pos] += _l2(self._image([items[i].image for i in pos]))
            count[pos] += 1
        nz = count > 0
        out[nz] /= count[nz, None]
        return _l2(out)


def _as_np(out) -> np.ndarray:
    t = out if hasattr(out, "detach") else getattr(out, "pooler_output", out[0])
    return t.detach().float().cpu().numpy()


def _l2(a: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(a, axis=1, keepdims=True)
    return np.divide(a, n, out=np.zeros_like(a), where=n > 0).astype(np.float32)


@register(
    "hf-dual-encoder",
    aliases=["clip", "siglip"],
    matches=_matches,
    priority=50,
    description="CLIP / SigLIP via transformers (local folder or cached hub id)",
)
def load(name_or_path: str, *, device=None, **_):
    if name_or_path in ("hf-dual-encoder", "clip", "siglip"):
        raise UserError(f"'{name_or_path}' needs a model: pass a CLIP/SigLIP folder or hub id as --model")
    return DualEncoder(name_or_path, device)
