"""Urban perception: linear probes on frozen image embeddings, spatially blocked CV folds."""

from .registry import UGBENCH_CITATION, TaskMeta, register_task

register_task(TaskMeta(
    name="perception_osm",
    # 2: one shared split-mean intercept per probe (version 1 fitted it per fold, which scored uninformative
    # features below chance: Spearman -0.36 for random features, now -0.01). Version-1 scores are not comparable.
    version="2",
    family="perception",
    data_task="perception_osm",
    protocol="probe",
    main_score="spearman",
    aliases=["perception", "urban_perception"],
    description="OSM-derived perception proxies (greenery, commercial, street size, ...). Ridge / logistic probes on frozen embeddings predict perception targets with fixed spatially "
    "blocked folds: R^2, Spearman, accuracy, macro-F1, pairwise-choice accuracy.",
    citation=UGBENCH_CITATION,
))
