"""Geolocation ranking: a street view ranks candidate locations (place descriptions), in three query modes."""

from .registry import UGBENCH_CITATION, TaskMeta, register_task

register_task(TaskMeta(
    name="geoloc_rank",
    # 3: up to the build's n_candidates candidates (25 in the UGBench 2.0 preset) and Hit@1 as the main score
    # (chance 1/n, at most 5% with >= 20 candidates; version 2's Hit@5 over 10 had chance .5), fusion and text
    # query modes, acc@25m/250m and the city-scale geoscore@1km. Not comparable with version 2.
    # 2: ties scored as the expected value over all orderings of the tied documents (ugcore.ranking).
    version="3",
    family="geolocation",
    data_task="geoloc_rank",
    main_score="hit@1",
    geo_metrics=True,
    query_mode="image",
    aliases=["geolocation", "geoloc"],
    description="A street view (with an instruction) ranks candidate locations described in text: the true "
    "point and the nearest other points; Hit@1 (chance 1/candidates), Recall@{1,3,5,10}, MRR, and geo metrics "
    "of the top-1 choice (median and mean error, accuracy within 25 m..5 km, city-scale geoscore@1km).",
    citation=UGBENCH_CITATION,
), variants=("graph",), modes=("fusion", "text"))
