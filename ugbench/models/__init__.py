"""Model adapters, one per file, each registering itself with `ugbench.models.registry.register`."""
