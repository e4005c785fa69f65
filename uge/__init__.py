"""uge: train UGE embedders (LoRA on vision-language backbones, then a graph encoder)."""

__version__ = "0.1.0"
