"""Running under `torchrun`: which process this is, and the process group (gloo on CPU, nccl on GPU).

Outside torchrun (no WORLD_SIZE in the environment) everything is a single process and nothing here
initialises anything."""

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DistEnv:
    """This process's place among `world` processes."""

    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, n: int) -> tuple[int, int]:
        """This rank's contiguous [start, end) of n items (sizes differ by at most one)."""
        return self.rank * n // self.world, (self.rank + 1) * n // self.world

    def barrier(self) -> None:
        """Wait for every rank (no-op in a single process)."""
        if self.world > 1:
            torch.distributed.barrier()


def init_distributed(device: torch.device) -> DistEnv:
    """The torchrun environment, with its process group initialised (once); single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistEnv()
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistEnv(torch.distributed.get_rank(), torch.distributed.get_world_size())
