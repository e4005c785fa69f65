"""A trained CSSR as a ugbench model: checkpoint save/load, a vector API and EncoderProtocol.encode.

Checkpoint directory (written atomically):
    ugbench_model.json  {"loader": "uge.cssr.model:load_checkpoint", "name": ..., "adapter": "cssr"}
                        (checkpoints saved before the move name "ugbench.streetsem.model:load_checkpoint",
                        which ugcore.imports.MOVED maps here)
    config.json         CSSRConfig
    model.safetensors   weights
    places.json         image (panorama) ids with a learned per-image embedding, in index order (index 0 = unseen)
    encoders.json       how raw inputs become vectors: {"image": spec | null, "text": spec | null}
    training.json       data source, split, training history (losses, step times), best validation scores

Through the protocol a document's FoV is not known (EncodeItem has no field for it), so documents are
encoded with the "FoV unknown" embedding, which training teaches by FoV dropout; the vector API accepts FoVs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ugcore.errors import UserError
from ugcore.protocol import EncodeItem, ModelMeta
from ugdata.streetsem import geohash as gh
from ugdata.streetsem.data import StreetSemData

from .model import CSSR, CSSRConfig, geohash_ids, n_parameters

LOADER = "uge.cssr.model:load_checkpoint"


class CSSREncoder:
    """Wraps a CSSR module; all embeddings are L2-normalised float32."""

    def __init__(
        self,
        model: CSSR,
        places: Sequence[str],
        *,
        encoders: dict[str, Any] | None = None,
        name: str = "cssr",
        training: dict[str, Any] | None = None,
        device: str | None = None,
    ):
        self.device = torch.device(device or "cpu")
        self.model = model.to(self.device).eval()
        self.cfg: CSSRConfig = model.cfg
        self.places = list(places)
        self.place_index = {p: i + 1 for i, p in enumerate(self.places)}
        self.encoders = encoders or {"image": None, "text": None}
        self.training = training or {}
        fp = self.training.get("dataset_fingerprint")
        self.meta = ModelMeta(
            name=name,
            revision=str(self.training.get("revision", "none")),
            n_parameters=n_parameters(model),
            embed_dim=self.cfg.out_dim,
            modalities=["text", "image"],
            pooling="none",
            normalized=True,
            reference="StreetSem / CSSR (Text-Vision-Geography, SIGIR 2026 under review)",
            adapter="cssr",
            training_datasets={fp: ["train"]} if fp else {},
            framework=["PyTorch"],
            extra={"encoders": self.encoders, "config": self.cfg.to_dict()},
        )

    # -- vector API ---------------------------------------------------------------------------------------
    def place_ids(self, images: Sequence[Any]) -> np.ndarray:
        return np.array([self.place_index.get(str(i), 0) if i is not None else 0 for i in images], dtype=np.int64)

    @torch.no_grad()
    def embed_queries(self, query_vec: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        out = []
        for s in range(0, len(query_vec), batch_size):
            q = torch.as_tensor(np.asarray(query_vec[s : s + batch_size], np.float32), device=self.device)
            out.append(self.model.encode_queries(q)[0].cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.cfg.out_dim), np.float32)

    @torch.no_grad()
    def embed_docs(
        self,
        image_vec: np.ndarray,
        content_vec: np.ndarray,
        geohashes: Sequence[str],
        images: Sequence[Any],
        fov: np.ndarray | None = None,
        batch_size: int = 1024,
    ) -> dict[str, np.ndarray]:
        """z_sem, z_geo and fov_logits for documents; fov None (or -1 entries) = FoV unknown."""
        n = len(image_vec)
        fov_idx = np.full(n, self.cfg.n_fov, np.int64) if fov is None else np.asarray(fov, np.int64).copy()
        fov_idx[fov_idx < 0] = self.cfg.n_fov
        gh_all = geohash_ids(list(geohashes), self.cfg.geohash_len)
        place = self.place_ids(images)
        outs: dict[str, list[np.ndarray]] = {"z_sem": [], "z_geo": [], "fov_logits": []}
        for s in range(0, n, batch_size):
            sl = slice(s, s + batch_size)
            r = self.model.encode_docs(
                torch.as_tensor(np.asarray(image_vec[sl], np.float32), device=self.device),
                torch.as_tensor(np.asarray(content_vec[sl], np.float32), device=self.device),
                gh_all[sl].to(self.device),
                torch.as_tensor(place[sl], device=self.device),
                torch.as_tensor(fov_idx[sl], device=self.device),
            )
            for k in outs:
                outs[k].append(r[k].cpu().numpy())
        return {
            k: (np.concatenate(v) if v else np.zeros((0, self.cfg.n_fov if k == "fov_logits" else self.cfg.out_dim)))
            for k, v in outs.items()
        }

    def embed_data(self, data: StreetSemData, *, fov_known: bool = True) -> dict[str, np.ndarray]:
        return self.embed_docs(
            data.image_vec, data.content_vec, data.geohash, data.image, data.fov if fov_known else None
        )

    # -- EncoderProtocol ----------------------------------------------------------------------------------
    def _text_vectors(self, texts: list[str]) -> np.ndarray:
        from ugdata.streetsem.features import text_encoder

        spec = self.encoders.get("text")
        if spec is None:
            raise UserError(
                "this CSSR checkpoint was trained on precomputed vectors and has no text encoder to embed raw "
                "text; evaluate it with `ugbench streetsem evaluate` on vectors, or train on UGData/raw data"
            )
        v = text_encoder(spec)(texts)
        if v.shape[1] != self.cfg.text_dim:
            raise UserError(f"text encoder {spec} gives {v.shape[1]}-d vectors; this CSSR expects {self.cfg.text_dim}")
        return v

    def _image_vectors(self, images: list[Any]) -> np.ndarray:
        from ugdata.streetsem.features import image_encoder

        spec = self.encoders.get("image")
        if spec is None:
            raise UserError("this CSSR checkpoint has no image encoder for raw images (trained on vectors)")
        v = image_encoder(spec)(images)
        if v.shape[1] != self.cfg.image_dim:
            raise UserError(f"image encoder {spec} gives {v.shape[1]}-d vectors; this CSSR expects {self.cfg.image_dim}")
        return v

    def _doc_vectors(self, items: Sequence[EncodeItem]):
        n = len(items)
        img = np.zeros((n, self.cfg.image_dim), np.float32)
        txt = np.zeros((n, self.cfg.text_dim), np.float32)
        with_img = [i for i, it in enumerate(items) if it.image is not None]
        with_txt = [i for i, it in enumerate(items) if it.text]
        for i, it in enumerate(items):
            if it.image is None and not it.text:
                raise UserError(f"document {it.id or i} has neither an image nor a text for CSSR to encode")
        if with_img:
            img[with_img] = self._image_vectors([items[i].image for i in with_img])
        if with_txt:
            txt[with_txt] = self._text_vectors([items[i].text for i in with_txt])
        geoh = [
            gh.encode(it.lat, it.lon, self.cfg.geohash_len) if it.lat is not None and it.lon is not None else ""
            for it in items
        ]
        return img, txt, geoh, [self._place_of(it) for it in items]

    def _place_of(self, it: EncodeItem) -> str | None:
        """The panorama an item belongs to: its id if trained on, else the UGData point key from its lat/lon."""
        if it.id is not None and str(it.id) in self.place_index:
            return str(it.id)
        if it.lat is not None and it.lon is not None:
            return f"pt{it.lat:.6f},{it.lon:.6f}"
        return None

    def encode(
        self,
        items: Sequence[EncodeItem],
        *,
        task_name: str,
        side: str,
        instruction: str | None = None,
        batch_size: int = 32,
    ) -> np.ndarray:
        """Queries (text) -> the query tower; documents (image and/or text, lat/lon, id) -> z_sem.

        `instruction` is ignored: CSSR has no instruction-following text encoder.
        """
        items = list(items)
        if not items:
            return np.zeros((0, self.cfg.out_dim), np.float32)
        if side == "query":
            missing = [it.id or i for i, it in enumerate(items) if not it.text]
            if missing:
                raise UserError(f"CSSR queries must be text; query {missing[0]} has none")
            return self.embed_queries(self._text_vectors([it.text for it in items]), batch_size=max(batch_size, 256))
        img, txt, geoh, ids = self._doc_vectors(items)
        return self.embed_docs(img, txt, geoh, ids, None, batch_size=max(batch_size, 256))["z_sem"]

    def predict_fov(self, items: Sequence[EncodeItem]) -> np.ndarray:
        """FoV class per document from z_fov, with the FoV input hidden."""
        img, txt, geoh, ids = self._doc_vectors(list(items))
        return self.embed_docs(img, txt, geoh, ids, None)["fov_logits"].argmax(-1)

    # -- persistence --------------------------------------------------------------------------------------
    def save(self, out_dir: str | Path, *, overwrite: bool = False) -> Path:
        from safetensors.torch import save_file

        from ugcore.atomic import atomic_dir

        out_dir = Path(out_dir)
        with atomic_dir(out_dir, overwrite=overwrite) as tmp:
            state = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
            save_file(state, str(tmp / "model.safetensors"))
            (tmp / "config.json").write_text(json.dumps(self.cfg.to_dict(), indent=2, sort_keys=True))
            (tmp / "places.json").write_text(json.dumps(self.places))
            (tmp / "encoders.json").write_text(json.dumps(self.encoders, indent=2, sort_keys=True))
            (tmp / "training.json").write_text(json.dumps(self.training, indent=2, sort_keys=True, default=str))
            (tmp / "ugbench_model.json").write_text(
                json.dumps({"loader": LOADER, "name": self.meta.name, "adapter": "cssr", "embed_dim": self.cfg.out_dim},
                           indent=2, sort_keys=True)
            )
        return out_dir

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> CSSREncoder:
        from safetensors.torch import load_file

        p = Path(path)
        need = ["config.json", "model.safetensors", "places.json"]
        miss = [n for n in need if not (p / n).is_file()]
        if miss:
            raise UserError(f"{p} is not a CSSR checkpoint (missing {', '.join(miss)}); train one with `uge cssr train`")
        cfg = CSSRConfig(**json.loads((p / "config.json").read_text()))
        model = CSSR(cfg)
        state = load_file(str(p / "model.safetensors"))
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise UserError(f"{p / 'model.safetensors'} does not fit config.json (missing {missing[:3]}, unexpected {unexpected[:3]})")
        enc = json.loads((p / "encoders.json").read_text()) if (p / "encoders.json").is_file() else None
        training = json.loads((p / "training.json").read_text()) if (p / "training.json").is_file() else {}
        # revision = content hash of the weights, so ugbench's embedding cache never mixes two checkpoints
        training["revision"] = hashlib.sha256((p / "model.safetensors").read_bytes()).hexdigest()[:16]
        name = json.loads((p / "ugbench_model.json").read_text()).get("name", p.name) if (p / "ugbench_model.json").is_file() else p.name
        return cls(model, json.loads((p / "places.json").read_text()), encoders=enc, name=name, training=training, device=device)
