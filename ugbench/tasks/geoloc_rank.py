"""Geolocation ranking: a street-view image ranks candidate locations (graph nodes / place descriptions)."""

from .registry import UGBENCH_CITATION, TaskMeta, register_task

register_task(TaskMeta(
    name="geoloc_rank",
    # 2: ties scored as the expected value over all orderings of the tied documents (ugcore.ranking);
    # version 1 broke them by a seeded hash of doc ids (`--seed`)
    version="2",
    family="geolocation",
    data_task="geoloc_rank",
    main_score="hit@5",
    geo_metrics=True,
    aliases=["geolocation", "geoloc"],
    description="A street-view image (with an instruction) ranks candidate locations described in text; "
    "Hit@{1,3,5,10}, MRR, and geo metrics of the top-1 choice (median error, accuracy within 50 m..5 km).",
    citation=UGBENCH_CITATION,
))
