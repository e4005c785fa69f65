"""Spatial grounding, distance and direction: an image + question ranks candidate distance/direction answers."""

from .registry import UGBENCH_CITATION, TaskMeta, register_task

register_task(TaskMeta(
    name="grounding_distance_direction",
    # 3: up to the build's n_candidates candidates (25 in the UGBench 2.0 preset; Hit@1's chance 1/n is at most
    # 5% with >= 20). Not comparable with version 2.
    # 2: ties scored as the expected value over all orderings of the tied documents (ugcore.ranking).
    version="3",
    family="grounding",
    data_task="grounding_distance_direction",
    main_score="hit@1",
    query_mode="fusion",
    aliases=["distance_direction"],
    description="A street view with a question about a named place's distance and compass direction ranks "
    "candidate answers ('about 150 m to the north-east'; distractors change the direction, the distance or "
    "both); Hit@1 (chance 1/answers), Recall@{1,3,5,10}, MRR.",
    citation=UGBENCH_CITATION,
))
