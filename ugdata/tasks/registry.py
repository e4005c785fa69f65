"""The task writers the builder runs, in order (name -> builder)."""

from __future__ import annotations

from ugdata.tasks import geolocation, grounding, perception, retrieval, streetsem, streetsem_fov

TASK_BUILDERS = {
    "geoloc_rank": geolocation.build,
    "retrieval_caption2image": retrieval.build_caption2image,
    "retrieval_path2image": retrieval.build_path2image,
    "retrieval_image2image": retrieval.build_image2image,
    "perception_osm": perception.build,
    "grounding_nearest_poi": grounding.build_nearest_poi,
    "grounding_distance_direction": grounding.build_distance_direction,
    "streetsem": streetsem.build,
    "streetsem_fov": streetsem_fov.build,
}
