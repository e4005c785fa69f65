"""StreetSem text -> street-view retrieval (Recall@10/20/50, MRR, top-1 within 1 km / 5 km, per query type).

Reads the UGData `streetsem` task folder: one query per (view, query type) with qtype in {atmosphere,
activity, object, geography, creativity}; its single positive is the view it was written for. Documents are
street views as in StreetSem: image and location (graph context in the _graph variant), never the caption
text (with it, a keyword model won by word overlap with the templated queries). The paper
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
    # 3: documents are street views only (image, location, graph in _graph), never caption text: with the
    # caption in the document, BM25 won by word overlap (.669 vs .04-.13 for multimodal models). Plus
    # acc@25m..500m and geoscore@1km. Not comparable with version 2.
    # 2: ties scored as the expected value over all orderings of the tied documents (ugcore.ranking).
    version="3",
    family="streetsem",
    data_task="streetsem",
    protocol="global",
    main_score="recall@10",
    query_mode="text",
    geo_metrics=True,
    aliases=["streetsem", "streetsem_retrieval"],
    options={"ks": [10, 20, 50]},
    description="StreetSem-style experiential text queries (atmosphere, activity, object, geography, creativity) "
    "rank every street view of the split (global protocol; documents are views: image and location, never "
    "text); Recall@10/20/50 (chance 10/views), MRR, top-1 within 1 km / 5 km, per query type.",
    citation=STREETSEM_CITATION,
), variants=("graph",))
