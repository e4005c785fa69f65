"""Image retrieval, image -> image: a street view ranks other views of the same place."""

from .registry import UGBENCH_CITATION, TaskMeta, register_task

register_task(TaskMeta(
    name="retrieval_image2image",
    family="retrieval",
    data_task="retrieval_image2image",
    main_score="hit@1",
    query_modalities=["image"],
    doc_modalities=["image"],
    aliases=["i2i"],
    description="A street-view image ranks images of the same place among spatially near distractors "
    "(local protocol: its candidate list).",
    citation=UGBENCH_CITATION,
), variants=("graph", "global", "global_graph"))
