"""Spatial grounding, distance and direction: an image + question ranks candidate distance/direction answers."""

from .registry import UGBENCH_CITATION, TaskMeta, register_task

register_task(TaskMeta(
    name="grounding_distance_direction",
    # 2: ties scored as the expected value over all orderings of the tied documents (ugcore.ranking);
    # version 1 broke them by a seeded hash of doc ids (`--seed`)
    version="2",
    family="grounding",
    data_task="grounding_distance_direction",
    main_score="hit@1",
    aliases=["distance_direction"],
    description="A street-view image with a question about a place's distance and compass direction ranks "
    "candidate answers ('about 150 m, NE'); Hit@k with a per-question-type breakdown.",
    citation=UGBENCH_CITATION,
))
