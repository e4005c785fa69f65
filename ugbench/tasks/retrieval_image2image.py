"""Image retrieval, image -> image: a street view ranks other views of the same place."""

from .registry import UGBENCH_CITATION, TaskMeta, register_task

register_task(TaskMeta(
    name="retrieval_image2image",
    # 2: ties scored as the expected value over all orderings of the tied documents (ugcore.ranking);
    # version 1 broke them by a seeded hash of doc ids (`--seed`)
    version="2",
    family="retrieval",
    data_task="retrieval_image2image",
    main_score="hit@1",
    aliases=["i2i"],
    description="A street-view image ranks images of the same place among spatially near distractors "
    "(local protocol: its candidate list).",
    citation=UGBENCH_CITATION,
), variants=("graph", "global", "global_graph"))
