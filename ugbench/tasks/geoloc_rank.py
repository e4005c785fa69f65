"""Geolocation ranking: a street-view image ranks candidate locations (graph nodes / place descriptions)."""

from .registry import UGBENCH_CITATION, TaskMeta, register_task

register_task(TaskMeta(
    name="geoloc_rank",
    family="geolocation",
    data_task="geoloc_rank",
    main_score="hit@5",
    query_modalities=["image"],
    doc_modalities=["text"],
    geo_metrics=True,
    aliases=["geolocation", "geoloc"],
    description="A street-view image (with an instruction) ranks candidate locations described in text; "
    "Hit@{1,3,5,10}, MRR, and geo metrics of the top-1 choice (median error, accuracy within 50 m..5 km).",
    citation=UGBENCH_CITATION,
))
