"""StreetSem field-of-view prediction: which of the four FoVs (front / right / back / left) a view shows.

Any model: a logistic-regression probe on its frozen view embeddings (the perception runner's classification
probe, spatially blocked folds), scored by accuracy. Reads the UGData task folder `streetsem_fov`
(targets.parquet: image_id, split, fold, lat, lon, fov_index). CSSR's own z_fov head is scored by
`ugbench streetsem evaluate` (fov_accuracy, FoV input hidden).
"""

from .registry import TaskMeta, register_task
from .streetsem_text2view import STREETSEM_CITATION

register_task(TaskMeta(
    name="streetsem_fov",
    family="perception",
    data_task="streetsem_fov",
    protocol="probe",
    main_score="accuracy",
    aliases=["fov_prediction"],
    description="Field-of-view prediction (4-way) from frozen street-view embeddings: logistic probe, spatially "
    "blocked folds; accuracy and macro-F1.",
    citation=STREETSEM_CITATION,
), variants=())
