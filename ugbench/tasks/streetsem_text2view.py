"""StreetSem text -> street-view retrieval (Recall@10/20/50, MRR, top-1 within 1 km / 5 km, per query type).

Reads the UGData `streetsem` task folder: one query per (view, query type) with qtype in {atmosphere,
activity, object, geography, creativity}; its single positive is the view it was written for. The paper
ranks the whole test corpus, hence the global protocol (exact inner products over the corpus, in blocks). Geo metrics come from
the top-1 view (acc@1000m / acc@5000m are the paper's within-1 km / 5 km shares).
"""

from .registry import TaskMeta, register_task

STREETSEM_CITATION = (
    "@inproceedings{streetsem2026, title={Text-Vision-Geography: Cross-modal Spatial Semantic Understanding "
    "and Retrieval}, booktitle={SIGIR (under review)}, year={2026}}"
)

register_task(TaskMeta(
    name="streetsem_text2view",
    # 2: ties scored as the expected value over all orderings of the tied documents (ugcore.ranking);
    # version 1 broke them by a seeded hash of doc ids (`--seed`)
    version="2",
    family="streetsem",
    data_task="streetsem",
    protocol="global",
    main_score="recall@10",
    geo_metrics=True,
    aliases=["streetsem", "streetsem_retrieval"],
    options={"ks": [10, 20, 50]},
    description="StreetSem-style experiential text queries (atmosphere, activity, object, geography, creativity) "
    "rank every street view of the split (global protocol); Recall@10/20/50, MRR, top-1 within 1 km / 5 km, "
    "per query type.",
    citation=STREETSEM_CITATION,
), variants=("graph",))
