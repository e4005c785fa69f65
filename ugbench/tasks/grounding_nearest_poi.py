"""Spatial grounding, nearest POI: a street view, asked by its instruction which place is nearest, ranks the
nearest POIs (their names and categories)."""

from .registry import UGBENCH_CITATION, TaskMeta, register_task

register_task(TaskMeta(
    name="grounding_nearest_poi",
    # 3: up to the build's n_candidates candidates (25 in the UGBench 2.0 preset; Hit@1's chance 1/n is at most
    # 5% with >= 20). Not comparable with version 2.
    # 2: ties scored as the expected value over all orderings of the tied documents (ugcore.ranking).
    version="3",
    family="grounding",
    data_task="grounding_nearest_poi",
    main_score="hit@1",
    query_mode="image",
    aliases=["nearest_poi"],
    description="A street view, asked which place is nearest (the instruction; the question is the same for "
    "every query), ranks the nearest POIs around it; Hit@1 (chance 1/candidates), Recall@{1,3,5,10}, MRR.",
    citation=UGBENCH_CITATION,
))
