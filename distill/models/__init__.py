"""Model presets: backbone + GeM + optional projection + L2 normalisation."""

from distill.models.net import ModelInfo, RetrievalNet, l2_normalize
from distill.models.registry import ModelSpec, create_model, get_model_spec, list_models, register_model, same_network
from distill.preprocess import PreprocessConfig

__all__ = [
    "ModelInfo",
    "ModelSpec",
    "PreprocessConfig",
    "RetrievalNet",
    "create_model",
    "get_model_spec",
    "l2_normalize",
    "list_models",
    "register_model",
    "same_network",
]
