"""ugbench: score any embedding model on urban tasks, with reproducible results and a leaderboard."""

from ugcore.protocol import EncodeItem, EncoderProtocol, GraphContext, ModelMeta

__all__ = ["EncodeItem", "EncoderProtocol", "GraphContext", "ModelMeta", "evaluate"]


def __getattr__(name: str):
    # `ugbench.evaluate(model, data_dir, tasks=..., output=...)`, imported on first use so that
    # `import ugbench` stays light for model authors who only need the protocol types.
    if name == "evaluate":
        from .evaluation import evaluate

        return evaluate
    raise AttributeError(f"module 'ugbench' has no attribute '{name}'")
__version__ = "0.1.0"
