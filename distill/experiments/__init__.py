"""Reproducible experiments that back the README's tables (`python -m distill.experiments.NAME`)."""
