"""Image retrieval, text -> image: a spatial-context caption (text mode) or a caption plus a view of the same
place in another direction (fusion mode) ranks street-view images."""

from .registry import UGBENCH_CITATION, TaskMeta, register_task

register_task(TaskMeta(
    name="retrieval_caption2image",
    # 3: up to the build's n_candidates candidates (25 in the UGBench 2.0 preset; chance Hit@1 = 1/n) and the
    # fusion query mode. Not comparable with version 2.
    # 2: ties scored as the expected value over all orderings of the tied documents (ugcore.ranking).
    version="3",
    family="retrieval",
    data_task="retrieval_caption2image",
    main_score="hit@1",
    query_mode="text",
    aliases=["retrieval_text2image", "t2i"],
    description="A spatial-context caption ranks street-view images (local protocol: its candidate list).",
    citation=UGBENCH_CITATION,
), variants=("graph", "global", "global_graph"), modes=("fusion",))
