"""StreetSem-style text-to-street-view retrieval: five query types per view (atmosphere, activity, object,
geography, creativity), global protocol (each query ranks every view of its split, the corpus's `split`
column says which), Recall@{10,20,50}, MRR, per-type recall; `fov_index` is in the corpus for FoV-aware
models. The other headings of the same point are the natural hard negatives.

Documents are street views as in StreetSem: the image and its location (kind "view", so a model may see its
coordinates), with the view's ego graph for the _graph variant, and NEVER text. The queries are written from
the same spatial facts as the captions, so a document carrying its caption let a keyword model win by word
overlap (BM25 Recall@10 .669 against .04-.13 for multimodal models): that measured lexical matching, not
cross-modal retrieval."""

from __future__ import annotations

from ugdata.format import TaskSpec
from ugdata.semantics import QUERY_TYPES
from ugdata.tasks.common import EVAL_SPLITS, TaskInputs, TaskOutput, cap_sample, image_corpus, queries_frame
from ugdata.tasks.registry import register_builder

NAME = "streetsem"


@register_builder(NAME, order=80)
def build(inp: TaskInputs) -> TaskOutput | None:
    v = inp.views[inp.views.split.isin(EVAL_SPLITS)]
    if v.empty:
        return None
    q = cap_sample(v, inp.max_queries, inp.seed)
    rows = []
    for r in q.itertuples(index=False):
        for t in QUERY_TYPES:
            rows.append({"query_id": f"{NAME}/{r.image_id}/{t}", "split": r.split, "text": r.queries[t],
                         "image_id": None, "graph_context": [], "lat": float(r.lat), "lon": float(r.lon),
                         "qtype": t, "candidate_ids": [], "positive_ids": [r.image_id], "query_mode": "text"})
    spec = TaskSpec(name=NAME, description="Text query -> street view over all views of the split (StreetSem query types).",
                    query_modalities=["text"], doc_modalities=["image", "graph"],
                    instructions={"query": "Find the street view that matches this request.",
                                  "document": "Represent this street view for semantic search."},
                    splits=list(EVAL_SPLITS),
                    extra={"query_types": list(QUERY_TYPES), "corpus_split_column": "split",
                           "fov_column": "fov_index"})
    # A StreetSem document is a located street view (a "view": image + location), without text (docstring).
    corpus = image_corpus(v).assign(kind="view")
    return TaskOutput(spec, {"queries": queries_frame(rows), "corpus": corpus})
