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
    if device.type == "cuda":  # one GPU per process: "cuda" then means this rank's own
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistEnv(torch.distributed.get_rank(), torch.distributed.get_world_size())


def gather_rows(local: torch.Tensor, dist: DistEnv, total: int) -> torch.Tensor:
    """Every rank's rows of a `total`-row batch, concatenated in rank order (each rank holds its
    `dist.shard(total)`). Differentiable: the backward pass sums each row's gradient over the ranks'
    (identical) losses, and DDP's averaging divides it again, so the update equals one process's."""
    if dist.world == 1:
        return local
    from torch.distributed.nn.functional import all_gather

    sizes = [DistEnv(r, dist.world).shard(total) for r in range(dist.world)]
    longest = max(b - a for a, b in sizes)
    padded = torch.cat([local, local.new_zeros((longest - len(local), *local.shape[1:]))])
    parts = all_gather(padded)
    return torch.cat([p[: b - a] for p, (a, b) in zip(parts, sizes, strict=True)])
