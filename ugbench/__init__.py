"""ugbench: score any embedding model on urban tasks, with reproducible results and a leaderboard."""

from .protocol import EncodeItem, EncoderProtocol, GraphContext, ModelMeta

__all__ = ["EncodeItem", "EncoderProtocol", "GraphContext", "ModelMeta"]
__version__ = "0.1.0"
