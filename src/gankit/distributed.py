"""Data-parallel training on PyTorch's own distributed engine (``torch.distributed``).

Started by ``torchrun --nproc_per_node N -m gankit train ...``: NCCL on GPUs, gloo on
CPUs. ``data.batch_size`` is the *global* minibatch m; rank r takes rows
``[r m/N, (r+1) m/N)`` of each real and noise batch drawn from the run's streams, so the
ranks see disjoint shards and a run on N ranks follows the same trajectory as on one
(to float tolerance, for nets without batch norm).

Gradients are averaged with one coalesced all-reduce per update, as StyleGAN2-ADA does,
rather than through the ``DistributedDataParallel`` wrapper: a GAN step runs D forward
several times before one backward and freezes D's parameters during G's update, two
patterns DDP's bucketed hooks do not expect.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

import torch
import torch.distributed as dist
from torch import nn

from .errors import ConfigError


class World:
    """Rank, world size and the collectives the trainer needs; trivial on one process."""

    def __init__(self, rank: int = 0, size: int = 1, local_rank: int = 0):
        self.rank, self.size, self.local_rank = rank, size, local_rank

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device: torch.device) -> "World":
        """Join the process group torchrun describes in the environment, if any."""
        size = int(os.environ.get("WORLD_SIZE", "1"))
        if size == 1:
            return cls()
        rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        if not dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            dist.init_process_group(backend=backend)
        return cls(rank, size, local)

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's rows of a global batch."""
        if self.size == 1:
            return batch
        per = len(batch) // self.size
        return batch[self.rank * per:(self.rank + 1) * per]

    def check_batch(self, m: int) -> None:
        if m % self.size:
            raise ValueError(f"data.batch_size = {m} is not divisible by the {self.size} "
                             "processes; choose a multiple of the world size")

    def average_grads(self, net: nn.Module) -> None:
        if self.size == 1:
            return
        grads = [p.grad for p in net.parameters() if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.size
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def sum_scalar(self, value: torch.Tensor) -> torch.Tensor:
        """Sum over ranks (so a NaN on any rank is seen by all)."""
        if self.size == 1:
            return value
        out = value.detach().clone()
        dist.all_reduce(out)
        return out

    def mean_dict(self, values: Dict[str, float]) -> Dict[str, float]:
        if self.size == 1 or not values:
            return values
        keys = sorted(values)
        t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64)
        dist.all_reduce(t)
        return {k: float(v) / self.size for k, v in zip(keys, t)}

    def sync_batchnorm(self, net: nn.Module, enabled: bool, device: torch.device) -> nn.Module:
        """With ``train.sync_batchnorm``, batch-norm statistics over the global batch.

        One process needs nothing (its batch is the global batch); PyTorch's
        SyncBatchNorm runs on CUDA only, so CPU ranks are refused.
        """
        if not enabled or self.size == 1:
            return net
        if device.type != "cuda":
            raise ValueError("train.sync_batchnorm needs CUDA ranks (PyTorch's SyncBatchNorm "
                             "does not run on the CPU); set it to false")
        return nn.SyncBatchNorm.convert_sync_batchnorm(net)

    def broadcast_params(self, net: nn.Module) -> None:
        if self.size == 1:
            return
        for t in list(net.parameters()) + list(net.buffers()):
            dist.broadcast(t.data, src=0)

    def broadcast_object(self, obj: Any) -> Any:
        if self.size == 1:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather_object(self, obj: Any) -> List[Any]:
        """Every rank's ``obj``, in rank order, on every rank (a collective call)."""
        if self.size == 1:
            return [obj]
        out: List[Any] = [None] * self.size
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()

    def close(self) -> None:
        if self.size > 1 and dist.is_initialized():
            # every rank reaches the end before the group (and rank 0's store, which the
            # others connect to) is torn down
            dist.barrier()
            dist.destroy_process_group()


def device_for(name: str, world_local_rank: Optional[int] = None) -> torch.device:
    """``auto`` -> this rank's GPU when CUDA is present, else the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", world_local_rank or 0)
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device = {name!r} but CUDA is not available; use 'cpu' or 'auto'")
    try:
        return torch.device(name)
    except RuntimeError:  # torch: "Invalid device string"
        raise ConfigError(f"device = {name!r} is not a device; use 'auto', 'cpu', 'cuda' or "
                          "'cuda:N'") from None
