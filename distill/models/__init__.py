"""Model presets: backbone + GeM + optional projection + L2 normalisation."""

from distill.models.net import ModelInfo, PreprocessConfig, RetrievalNet, l2_normalize
from distill.models.registry import ModelSpec, create_model, get_model_spec, list_models, register_model, same_network

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
