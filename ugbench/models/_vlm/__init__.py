"""Private pieces of the shared VLM backbone layer (public API: ugbench.models.vlm_backbone).

Modules starting with "_" are skipped by the model registry, so nothing here registers a model.
"""
