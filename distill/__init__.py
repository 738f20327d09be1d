"""Asymmetric distillation toolkit: students that embed queries into a teacher's space."""

__version__ = "0.1.0"
