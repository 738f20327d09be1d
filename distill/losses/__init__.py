"""Losses of both papers behind one registry and one call convention (see `distill.losses.base`):
`create_loss("contrastive_plus", margin=0.5)(student, teacher, labels, mode="asym", anchors=...)`."""

from typing import Any

from distill.errors import DistillError
from distill.losses.base import MODES, Pairs, make_pairs
from distill.losses.contrastive import ContrastiveLoss, contrastive_loss
from distill.losses.contrastive_plus import ContrastivePlusLoss, contrastive_plus_loss
from distill.losses.darkrank import DarkRankLoss, darkrank_loss
from distill.losses.infonce import InfoNCELoss, InfoNCEPlusLoss, infonce_loss, infonce_plus_loss
from distill.losses.module import PairLoss
from distill.losses.multi_similarity import MultiSimilarityLoss, multi_similarity_loss
from distill.losses.regression import RegressionLoss, regression_loss
from distill.losses.relaxed_contrastive import RelaxedContrastiveLoss, relaxed_contrastive_loss
from distill.losses.rkd import RKDLoss, rkd_loss
from distill.losses.triplet import TripletLoss, triplet_loss
from distill.registry import Registry

_LOSSES: Registry[type[PairLoss]] = Registry("loss")


def register_loss(cls: type[PairLoss]) -> type[PairLoss]:
    """Add a loss class under its `name`."""
    return _LOSSES.register(cls.name, cls)


def list_losses() -> list[str]:
    """Registered loss names, sorted."""
    return _LOSSES.names()


def get_loss_class(name: str) -> type[PairLoss]:
    """The class of loss `name`; a one-line error lists the known ones."""
    return _LOSSES.get(name)


def create_loss(name: str, **params: Any) -> PairLoss:
    """Build loss `name` with hyper-parameters `params` (unknown ones are a one-line error)."""
    cls = get_loss_class(name)
    try:
        return cls(**params)
    except TypeError as e:
        raise DistillError(f"loss {name!r}: bad parameters {params} ({e})") from None


for _cls in (ContrastiveLoss, ContrastivePlusLoss, RegressionLoss, TripletLoss, MultiSimilarityLoss,
             RKDLoss, DarkRankLoss, RelaxedContrastiveLoss, InfoNCELoss, InfoNCEPlusLoss):
    register_loss(_cls)

__all__ = [
    "MODES",
    "PairLoss",
    "Pairs",
    "contrastive_loss",
    "contrastive_plus_loss",
    "create_loss",
    "darkrank_loss",
    "get_loss_class",
    "infonce_loss",
    "infonce_plus_loss",
    "list_losses",
    "make_pairs",
    "multi_similarity_loss",
    "register_loss",
    "regression_loss",
    "relaxed_contrastive_loss",
    "rkd_loss",
    "triplet_loss",
]
