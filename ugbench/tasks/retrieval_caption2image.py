"""Image retrieval, text -> image: a spatial-context caption ranks street-view images."""

from .registry import UGBENCH_CITATION, TaskMeta, register_task

register_task(TaskMeta(
    name="retrieval_caption2image",
    # 2: ties scored as the expected value over all orderings of the tied documents (ugcore.ranking);
    # version 1 broke them by a seeded hash of doc ids (`--seed`)
    version="2",
    family="retrieval",
    data_task="retrieval_caption2image",
    main_score="hit@1",
    aliases=["retrieval_text2image", "t2i"],
    description="A spatial-context caption ranks street-view images (local protocol: its candidate list).",
    citation=UGBENCH_CITATION,
), variants=("graph", "global", "global_graph"))
