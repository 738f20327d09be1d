"""Training students against teacher embeddings: config, batches and the loop (checkpoints: `distill.checkpoint`)."""

from distill.train.config import TrainConfig, config_from_sources
from distill.train.loop import Trainer

__all__ = ["TrainConfig", "Trainer", "config_from_sources"]
