"""A tiny, deterministic mock UGData directory for tests and benchmarks (MTEB's mock tasks).

It follows the ugdata.format contract (manifest, dataset/ with embedded PNG bytes, graph/nodes.parquet,
tasks/<name>/...) with the same task folder names and columns `ugdata build` writes, but is built in well
under a second: places on a grid, two views per place whose colour encodes the place, location texts that
share distinctive words with the captions (so text models beat chance and random models do not).
Geolocation has the three query modes (image, fusion, text; column `query_mode`) and caption -> image the text
and fusion modes, as `ugdata build` writes them; unlike the real builder, the mock's fusion and text queries
share words with the right location on purpose, so that tests can see a text model read the query text.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

WORDS = ["amber", "birch", "cedar", "delta", "ember", "fjord", "grove", "harbor", "iris", "juniper", "kestrel", "linden", "maple", "nordic", "opal", "pier", "quartz", "raven", "spruce", "tundra", "umber", "violet", "willow", "yarrow", "zephyr"]
LAT0, LON0 = 60.1699, 24.9384  # central Helsinki


def _place_words(p: int) -> str:
    return f"{WORDS[p % len(WORDS)]} {WORDS[(p * 7 + 3) % len(WORDS)]} {p}"


def _png(rgb: tuple[int, int, int], size: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), rgb).save(buf, format="PNG")
    return buf.getvalue()


def build_mock_ugdata(root: str | Path, *, n_places: int = 16, n_query_places: int | None = None,
                      n_candidates: int = 5, seed: int = 0, image_size: int = 8, with_graph: bool = True,
                      broken_image: str | None = None) -> Path:
    """Write a mock UGData directory at `root` and return it.

    n_places places x 2 views (corpus of 2*n_places images); queries for the first n_query_places places;
    splits alternate val/test by place. `broken_image` replaces that image's bytes with garbage.
    """
    import datasets

    root = Path(root)
    rng = np.random.default_rng(seed)
    nq = n_places if n_query_places is None else min(n_query_places, n_places)
    side = int(np.ceil(np.sqrt(n_places)))
    lat = LAT0 + (np.arange(n_places) // side) * 0.0009  # ~100 m grid
    lon = LON0 + (np.arange(n_places) % side) * 0.0018
    split = np.where(np.arange(n_places) % 2 == 0, "test", "val")
    img_ids = [f"img{p:06d}_{k}" for p in range(n_places) for k in range(2)]
    img_place = np.repeat(np.arange(n_places), 2)
    colours = rng.integers(0, 256, size=(n_places, 3))
    images = [_png(tuple(int(c) for c in colours[p]), image_size) for p in range(n_places)]
    graph = [[f"image/{i}", f"street/{p}", f"poi/{p}"] if with_graph else [] for i, p in zip(img_ids, img_place,
                                                                                              strict=True)]
    views = pd.DataFrame({
        "image_id": img_ids,
        "image": [{"bytes": images[p] if i != broken_image else b"not a png", "path": None}
                  for i, p in zip(img_ids, img_place, strict=True)],
        "lat": lat[img_place], "lon": lon[img_place], "split": split[img_place],
        "caption": [f"street view at {_place_words(p)}" for p in img_place],
        "graph_context": graph,
    })
    features = datasets.Features({
        "image_id": datasets.Value("string"), "image": datasets.Image(), "lat": datasets.Value("float64"),
        "lon": datasets.Value("float64"), "split": datasets.Value("string"), "caption": datasets.Value("string"),
        "graph_context": datasets.List(datasets.Value("string")),
    })
    dd = datasets.DatasetDict({
        s: datasets.Dataset.from_pandas(views[views.split == s].reset_index(drop=True), features=features,
                                        preserve_index=False)
        for s in ("val", "test")
    })
    root.mkdir(parents=True, exist_ok=True)
    from ugdata.writer import quiet_datasets

    with quiet_datasets():
        dd.save_to_disk(str(root / "dataset"))
    nodes = pd.DataFrame(
        [{"node_id": f"image/{i}", "type": "image", "name": "", "lat": lat[p], "lon": lon[p]}
         for i, p in zip(img_ids, img_place, strict=True)]
        + [{"node_id": f"street/{p}", "type": "street", "name": _place_words(p), "lat": lat[p], "lon": lon[p]}
           for p in range(n_places)]
        + [{"node_id": f"poi/{p}", "type": "poi", "name": f"cafe {_place_words(p)}", "lat": lat[p] + 1e-4,
            "lon": lon[p]} for p in range(n_places)])
    nodes.insert(1, "idx", np.arange(len(nodes)))
    (root / "graph").mkdir(exist_ok=True)
    nodes.to_parquet(root / "graph" / "nodes.parquet")

    def cands(p: int) -> list[int]:
        others = [q for q in np.argsort(np.hypot(lat - lat[p], (lon - lon[p]) / 2)) if q != p]
        return [p] + [int(q) for q in others[: n_candidates - 1]]

    tasks: dict[str, tuple[dict, dict[str, pd.DataFrame]]] = {}

    def qrow(qid, p, text, image_id, cand_ids, pos_ids, qtype, g, mode=None):
        return {"query_id": qid, "split": str(split[p]), "text": text, "image_id": image_id, "graph_context": g,
                "lat": float(lat[p]), "lon": float(lon[p]), "qtype": qtype, "candidate_ids": sorted(cand_ids),
                "positive_ids": pos_ids, "query_mode": mode or qtype}

    image_corpus = pd.DataFrame({"doc_id": img_ids, "text": None, "image_id": img_ids, "graph_context": graph,
                                 "lat": lat[img_place], "lon": lon[img_place], "kind": "image",
                                 "split": split[img_place]})
    # geolocation: the first view of a place (image), with a caption (fusion) or the caption alone (text)
    # ranks location descriptions
    loc_corpus = pd.DataFrame({"doc_id": [f"loc/{p}" for p in range(n_places)],
                               "text": [f"{_place_words(p)} street, Helsinki" for p in range(n_places)],
                               "image_id": None, "graph_context": [[f"street/{p}"] for p in range(n_places)],
                               "lat": lat, "lon": lon, "kind": "location", "split": split})
    tasks["geoloc_rank"] = (
        {"family": "geolocation", "main_score": "hit@1", "query_modalities": ["image", "text", "graph"],
         "doc_modalities": ["text", "graph"],
         "instructions": {"query": "Where was this taken?", "query:text": "Where is this place?"},
         "extra": {"query_modes": {"image": ["image", "graph"], "fusion": ["image", "text", "graph"],
                                   "text": ["text", "graph"]}}},
        {"queries": pd.DataFrame([qrow(f"geoloc_rank/{p}{suffix}", p, None if mode == "image" else
                                       f"near {_place_words(p)}", None if mode == "text" else f"img{p:06d}_0",
                                       [f"loc/{c}" for c in cands(p)], [f"loc/{p}"], mode, graph[2 * p])
                                  for p in range(nq)
                                  for mode, suffix in (("image", ""), ("fusion", "/fusion"), ("text", "/text"))]),
         "corpus": loc_corpus})
    tasks["retrieval_caption2image"] = (
        {"family": "retrieval", "main_score": "hit@1", "query_modalities": ["image", "text", "graph"],
         "doc_modalities": ["image", "graph"],
         "extra": {"query_modes": {"text": ["text"], "fusion": ["image", "text", "graph"]}}},
        {"queries": pd.DataFrame([qrow(f"t2i/{p}", p, f"street view at {_place_words(p)}", None,
                                       [f"img{c:06d}_0" for c in cands(p)], [f"img{p:06d}_0"], "caption", [], "text")
                                  for p in range(nq)]
                                 + [qrow(f"t2i/{p}/fusion", p, f"street view at {_place_words(p)}", f"img{p:06d}_1",
                                         [f"img{c:06d}_0" for c in cands(p)], [f"img{p:06d}_0"], "fusion",
                                         graph[2 * p + 1]) for p in range(nq)]), "corpus": image_corpus})
    tasks["retrieval_path2image"] = (
        {"family": "retrieval", "main_score": "hit@1", "query_modalities": ["text"],
         "doc_modalities": ["image", "graph"]},
        {"queries": pd.DataFrame([qrow(f"p2i/{p}", p, f"(image, on_same_street, {_place_words(p)}) (20m, N)",
                                       None, [f"img{c:06d}_1" for c in cands(p)], [f"img{p:06d}_1"],
                                       "path1" if p % 3 else "path2", [], "text") for p in range(nq)]),
         "corpus": image_corpus})
    tasks["retrieval_image2image"] = (
        {"family": "retrieval", "main_score": "hit@1", "query_modalities": ["image", "graph"],
         "doc_modalities": ["image", "graph"]},
        {"queries": pd.DataFrame([qrow(f"i2i/{p}", p, None, f"img{p:06d}_0",
                                       [f"img{c:06d}_1" for c in cands(p)], [f"img{p:06d}_1"], "image",
                                       graph[2 * p]) for p in range(nq)]), "corpus": image_corpus})
    poi_corpus = pd.DataFrame({"doc_id": [f"poi/{p}" for p in range(n_places)],
                               "text": [f"cafe {_place_words(p)}" for p in range(n_places)], "image_id": None,
                               "graph_context": [[f"poi/{p}"] for p in range(n_places)], "lat": lat + 1e-4,
                               "lon": lon, "kind": "poi", "split": ""})
    tasks["grounding_nearest_poi"] = (
        {"family": "grounding", "main_score": "hit@1", "query_modalities": ["image", "text", "graph"],
         "doc_modalities": ["text", "graph"]},
        {"queries": pd.DataFrame([qrow(f"gnp/{p}", p, None, f"img{p:06d}_0", [f"poi/{c}" for c in cands(p)],
                                       [f"poi/{p}"], "nearest_poi", graph[2 * p], "image")
                                  for p in range(nq)]), "corpus": poi_corpus})
    dd_rows, ans = [], []
    for p in range(nq):
        ids = [f"gdd/{p}/a{j}" for j in range(n_candidates)]
        for j, d in enumerate(ids):
            ans.append({"doc_id": d, "text": f"about {20 * (j + 1)} m {['N', 'E', 'S', 'W', 'NE'][j % 5]}",
                        "image_id": None, "graph_context": [], "lat": float(lat[p]), "lon": float(lon[p]),
                        "kind": "answer", "split": str(split[p])})
        dd_rows.append(qrow(f"gdd/{p}", p, f"How far is cafe {_place_words(p)}?", f"img{p:06d}_0", ids, [ids[0]],
                            "distance" if p % 2 else "direction", graph[2 * p], "fusion"))
    tasks["grounding_distance_direction"] = (
        {"family": "grounding", "main_score": "hit@1", "query_modalities": ["image", "text", "graph"],
         "doc_modalities": ["text"]},
        {"queries": pd.DataFrame(dd_rows), "corpus": pd.DataFrame(ans)})
    green = (colours[img_place, 1] / 255.0 + rng.normal(0, 0.05, len(img_ids))).astype(float)
    targets = pd.DataFrame({"image_id": img_ids, "split": split[img_place],
                            "fold": (np.arange(n_places)[img_place] // 2) % 4,
                            "lat": lat[img_place], "lon": lon[img_place], "graph_context": graph,
                            "greenery": green, "commercial": rng.random(len(img_ids))})
    pairs = []
    for s in ("val", "test"):
        g = targets[targets.split == s].reset_index(drop=True)
        for i in range(len(g) - 1):
            a, b = g.iloc[i], g.iloc[(i + 3) % len(g)]
            if a.image_id != b.image_id:
                pairs.append({"pair_id": f"pp/{s}/{i}", "split": s, "attribute": "greenery", "image_a": a.image_id,
                              "image_b": b.image_id, "label": float(a.greenery > b.greenery)})
    tasks["perception_osm"] = (
        {"family": "perception", "main_score": "spearman", "query_modalities": ["image", "graph"],
         "doc_modalities": [], "protocol": "probe", "extra": {"attributes": ["greenery", "commercial"]}},
        {"targets": targets, "pairs": pd.DataFrame(pairs)})
    for name, (spec, tables) in tasks.items():
        d = root / "tasks" / name
        d.mkdir(parents=True, exist_ok=True)
        spec = {"name": name, "description": f"mock {name}", "splits": ["val", "test"], "version": "1",
                "protocol": "local", "instructions": {}, **spec}
        (d / "task.json").write_text(json.dumps(spec, indent=2, sort_keys=True))
        for tname, df in tables.items():
            df.to_parquet(d / f"{tname}.parquet")
    from ugdata.fingerprint import manifest_fields

    manifest = {"format": "ugdata", "format_version": 1, "name": "mock", **manifest_fields(root),
                "counts": {"images": len(img_ids), "nodes": len(nodes), "edges": 0, "paths": 0, "rejected": 0},
                "splits": {s: int((views.split == s).sum()) for s in ("val", "test")}, "inputs": {}, "seed": seed,
                "versions": {}}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return root


def build_tiny_dual_encoder(out_dir: str | Path, family: str = "clip", seed: int = 0) -> Path:
    """Save a tiny random-weight CLIP or SigLIP (model, tokenizer, PIL image processor) to `out_dir`.

    The adapter then loads it by path through the same code as a real checkpoint. The tokenizer is a
    word-level one built in code (no download); it appends an end token, which CLIP pools.
    """
    from ugcore.atomic import atomic_dir
    from ugcore.shared import build_lock

    if family not in ("clip", "siglip"):
        raise ValueError(f"family must be clip or siglip, not {family}")
    out = Path(out_dir)
    # Written whole into a temporary folder and renamed into place under a lock, by whichever process calls
    # (transformers would skip the weights on a torch.distributed rank other than 0).
    with build_lock(out), atomic_dir(out, overwrite=True) as tmp:
        _write_dual_encoder(tmp, family, seed)
    return out


def _write_dual_encoder(out: Path, family: str, seed: int) -> None:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<unk>": 1, "<s>": 2, "</s>": 3}
    for w in WORDS + [str(i) for i in range(100)] + ["street", "view", "at", "near", "the", "a", "of", "cafe", "which", "is", "how", "far"]:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 3)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                                   eos_token="</s>", model_max_length=64)
    fast.save_pretrained(out)
    torch.manual_seed(seed)
    text = {"vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 2, "max_position_embeddings": 64, "pad_token_id": 0, "bos_token_id": 2,
            "eos_token_id": 3}
    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
              "image_size": 32, "patch_size": 8}
    if family == "clip":
        from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel

        model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16))
        proc = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    else:
        from transformers import SiglipConfig, SiglipImageProcessorPil, SiglipModel

        model = SiglipModel(SiglipConfig(text_config=text, vision_config=vision))
        proc = SiglipImageProcessorPil(size={"height": 32, "width": 32})
    model.should_save_on_this_rank = lambda is_main_process: True
    with _quiet_transformers():
        model.eval().save_pretrained(out)
    proc.save_pretrained(out)


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """transformers' warnings and progress bars off while saving a tiny test model, then as they were.

    Saving a SigLIP makes transformers build its *default* SiglipTextConfig to diff against, and that
    default fails transformers' own token-id check (bos 49406 >= its vocab 32000): two warnings about a
    config that is not ours (the saved one has bos 2, eos 3). Errors still show.
    """
    from transformers.utils import logging as tlog

    level, bars = tlog.get_verbosity(), tlog.is_progress_bar_enabled()
    tlog.set_verbosity_error()
    tlog.disable_progress_bar()
    try:
        yield
    finally:
        tlog.set_verbosity(level)
        if bars:
            tlog.enable_progress_bar()
