"""StreetSem field-of-view prediction: which of the four headings (front / right / back / left, relative to the
street) a view shows, from its frozen embedding. A probe task: targets.parquet with one row per view of the
evaluation splits, a spatially blocked `fold` (the same blocks as the perception probes, so the four views of
one point always share a fold and a probe cannot memorise the place), and the class label `fov_index`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ugdata.format import TaskSpec
from ugdata.tasks.common import EVAL_SPLITS, TaskInputs, TaskOutput
from ugdata.tasks.perception import N_FOLDS, spatial_folds
from ugdata.tasks.registry import register_builder

NAME = "streetsem_fov"


@register_builder(NAME, order=90)
def build(inp: TaskInputs) -> TaskOutput | None:
    v = inp.views[inp.views.split.isin(EVAL_SPLITS) & (inp.views.fov_index >= 0)].reset_index(drop=True)
    if len(v) < 8 or v.fov_index.nunique() < 2:
        return None
    targets = pd.DataFrame({
        "image_id": v.image_id, "split": v.split, "fold": spatial_folds(v, inp.seed),
        "lat": v.lat.astype(float), "lon": v.lon.astype(float), "graph_context": v.graph_context,
        "fov_index": v.fov_index.to_numpy(np.int64),
    })
    spec = TaskSpec(
        name=NAME, description="Field-of-view prediction (front/right/back/left of the street) from frozen street-view "
                    "embeddings: logistic probe with spatially blocked folds; accuracy and macro-F1.",
        query_modalities=["image"], doc_modalities=[],
        instructions={"query": "Represent this street view, including which way it faces along the street."},
        splits=list(EVAL_SPLITS),
        extra={"targets": {"regression": [], "classification": ["fov_index"]}, "folds": N_FOLDS, "labels": {"0": "front", "1": "right", "2": "back", "3": "left"}},
    )
    return TaskOutput(spec, {"targets": targets})
