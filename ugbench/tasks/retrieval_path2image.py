"""Image retrieval, spatial-path text -> image: a reasoning path through the graph ranks images."""

from .registry import UGBENCH_CITATION, TaskMeta, register_task

register_task(TaskMeta(
    name="retrieval_path2image",
    # 2: ties scored as the expected value over all orderings of the tied documents (ugcore.ranking);
    # version 1 broke them by a seeded hash of doc ids (`--seed`)
    version="2",
    family="retrieval",
    data_task="retrieval_path2image",
    main_score="hit@1",
    aliases=["p2i"],
    description="A spatial reasoning path in text ('(src, rel, tgt) (50m, S) -> ...') ranks the street-view "
    "image it starts from (local protocol: its candidate list).",
    citation=UGBENCH_CITATION,
), variants=("graph", "global", "global_graph"))
