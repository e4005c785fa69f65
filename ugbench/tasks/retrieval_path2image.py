"""Image retrieval, spatial-path text -> image: a reasoning path through the graph ranks images."""

from .registry import UGBENCH_CITATION, TaskMeta, register_task

register_task(TaskMeta(
    name="retrieval_path2image",
    # 3: up to the build's n_candidates candidates (25 in the UGBench 2.0 preset; Hit@1's chance 1/n is at most
    # 5% with >= 20). Not comparable with version 2.
    # 2: ties scored as the expected value over all orderings of the tied documents (ugcore.ranking).
    version="3",
    family="retrieval",
    data_task="retrieval_path2image",
    main_score="hit@1",
    query_mode="text",
    aliases=["p2i"],
    description="A spatial reasoning path in text ('(src, rel, tgt) (50m, S) -> ...') ranks the street-view "
    "image it starts from (local protocol: its candidate list).",
    citation=UGBENCH_CITATION,
), variants=("graph", "global", "global_graph"))
