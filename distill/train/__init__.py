"""Training students against teacher embeddings: config, batches, checkpoints and the loop."""

from distill.train.checkpoint import load_checkpoint, student_from_checkpoint
from distill.train.config import TrainConfig, config_from_sources
from distill.train.loop import Trainer

__all__ = ["TrainConfig", "Trainer", "config_from_sources", "load_checkpoint", "student_from_checkpoint"]
