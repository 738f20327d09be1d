"""Negative miners for tuple training, separate from losses: `create_miner("hard", nnum=5)`.

A miner's `mine(qidxs, clusters, rng, embed_queries, embed_pool)` returns Q×nnum image indices; the
training loop decides which model embeds queries and pool (student/student in sym mode, student
queries against the cached teacher pool in asym mode) and how often to refresh."""

from typing import Any

from distill.miners.hard import HardMiner, hard_negatives
from distill.miners.random import RandomMiner, random_negatives
from distill.registry import Registry

Miner = HardMiner | RandomMiner
_MINERS: Registry[type[HardMiner] | type[RandomMiner]] = Registry("mining")


def register_miner(cls: type[HardMiner] | type[RandomMiner]) -> None:
    """Add a miner class under its `name`."""
    _MINERS.register(cls.name, cls)


def list_miners() -> list[str]:
    """Registered miner names, sorted."""
    return _MINERS.names()


def create_miner(name: str, **params: Any) -> Miner:
    """Build miner `name`; a one-line error for an unknown name."""
    return _MINERS.get(name)(**params)


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
