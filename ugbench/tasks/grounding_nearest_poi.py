"""Spatial grounding, nearest POI: an image + question ranks candidate POI answers."""

from .registry import UGBENCH_CITATION, TaskMeta, register_task

register_task(TaskMeta(
    name="grounding_nearest_poi",
    # 2: ties scored as the expected value over all orderings of the tied documents (ugcore.ranking);
    # version 1 broke them by a seeded hash of doc ids (`--seed`)
    version="2",
    family="grounding",
    data_task="grounding_nearest_poi",
    main_score="hit@1",
    aliases=["nearest_poi"],
    description="A street-view image with a question ('which POI is nearest?') ranks candidate POI answers; "
    "Hit@k with a per-question-type breakdown.",
    citation=UGBENCH_CITATION,
))
