"""Negative miners for tuple training, separate from losses: `create_miner("hard", nnum=5)`.

A miner's `mine(qidxs, clusters, rng, embed_queries, embed_pool)` returns Q×nnum image indices; the
training loop decides which model embeds queries and pool (student/student in sym mode, student
queries against the cached teacher pool in asym mode) and how often to refresh."""

from typing import Any

from distill.errors import DistillError
from distill.miners.hard import HardMiner, hard_negatives
from distill.miners.random import RandomMiner, random_negatives

Miner = HardMiner | RandomMiner
_MINERS: dict[str, type[HardMiner] | type[RandomMiner]] = {}


def register_miner(cls: type[HardMiner] | type[RandomMiner]) -> None:
    """Add a miner class under its `name`."""
    if cls.name in _MINERS:
        raise ValueError(f"miner {cls.name!r} is already registered")
    _MINERS[cls.name] = cls


def list_miners() -> list[str]:
    """Registered miner names, sorted."""
    return sorted(_MINERS)


def create_miner(name: str, **params: Any) -> Miner:
    """Build miner `name`; a one-line error for an unknown name."""
    if name not in _MINERS:
        raise DistillError(f"unknown mining {name!r}; expected one of: {', '.join(list_miners())}")
    return _MINERS[name](**params)


register_miner(HardMiner)
register_miner(RandomMiner)

__all__ = [
    "HardMiner",
    "Miner",
    "RandomMiner",
    "create_miner",
    "hard_negatives",
    "list_miners",
    "random_negatives",
    "register_miner",
]
