"""Distributed helpers: who am I, how many are we, and exact gathering of Python objects.

Launchers are read from the environment: torchrun and `python -m torch.distributed.launch`
(RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT) and SLURM
(SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_NNODES).
"""

from __future__ import annotations

import contextlib
import os
import pickle
from dataclasses import dataclass
from typing import IO, Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class LaunchInfo:
    """What the launcher told this process."""

    launcher: str  # "torchrun", "slurm" or "none"
    world_size: int
    rank: int
    local_rank: int
    devices_per_node: int
    num_nodes: int


def detect_launch(environ: dict[str, str] | None = None) -> LaunchInfo:
    env = os.environ if environ is None else environ
    if "WORLD_SIZE" in env and ("RANK" in env or "LOCAL_RANK" in env):
        world = int(env["WORLD_SIZE"])
        local_world = int(env.get("LOCAL_WORLD_SIZE", world))
        return LaunchInfo(
            "torchrun",
            world,
            int(env.get("RANK", env.get("LOCAL_RANK", 0))),
            int(env.get("LOCAL_RANK", 0)),
            local_world,
            max(1, world // max(1, local_world)),
        )
    if "SLURM_NTASKS" in env and "SLURM_PROCID" in env and env.get("SLURM_JOB_NAME") not in ("bash", "interactive"):
        world = int(env["SLURM_NTASKS"])
        nodes = int(env.get("SLURM_NNODES", env.get("SLURM_JOB_NUM_NODES", 1)))
        per_node = env.get("SLURM_NTASKS_PER_NODE", "").split("(")[0]
        devices = int(per_node) if per_node.isdigit() else max(1, world // max(1, nodes))
        return LaunchInfo("slurm", world, int(env["SLURM_PROCID"]), int(env.get("SLURM_LOCALID", 0)), devices, nodes)
    return LaunchInfo("none", 1, 0, 0, 1, 1)


def is_dist_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def shutdown_process_group() -> None:
    """Destroy the default group after a successful run.

    Without it, gloo's worker threads can outlive the interpreter and abort the process at exit
    ("terminate called without an active exception"), which fails a job that did its work.
    Only called on success: destroying while a peer still waits in a collective would hang.
    """
    if is_dist_initialized():
        dist.destroy_process_group()


def get_rank() -> int:
    if is_dist_initialized():
        return dist.get_rank()
    return detect_launch().rank


def get_world_size() -> int:
    if is_dist_initialized():
        return dist.get_world_size()
    return detect_launch().world_size


def is_main_process() -> bool:
    return get_rank() == 0


# MMF's names for the same question.
def is_main() -> bool:
    return is_main_process()


def is_master() -> bool:
    return is_main_process()


def is_xla() -> bool:
    """MMF's TPU switch; TPUs are not supported here."""
    return False


def all_gather_objects(obj: Any) -> list[Any]:
    """Every rank's object, in rank order (just [obj] without a process group)."""
    if not is_dist_initialized() or dist.get_world_size() == 1:
        return [obj]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def synchronize() -> None:
    if is_dist_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def default_backend() -> str:
    return "nccl" if torch.cuda.is_available() else "gloo"


# -- MMF's tensor collectives (no-ops in a single process) -------------------------------------
def _multi_process() -> bool:
    return is_dist_initialized() and dist.get_world_size() > 1


def broadcast_tensor(tensor: torch.Tensor, src: int = 0) -> torch.Tensor:
    """Every rank gets rank `src`'s tensor (in place)."""
    if _multi_process():
        with torch.no_grad():
            dist.broadcast(tensor, src=src)
    return tensor


def broadcast_scalar(scalar: Any, src: int = 0, device: str | torch.device = "cpu") -> Any:
    """Every rank gets rank `src`'s number (as an int, as in MMF)."""
    if not _multi_process():
        return scalar
    return broadcast_tensor(torch.tensor(scalar).long().to(device), src).item()


def reduce_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """The mean over ranks, on rank 0 (other ranks keep a partial sum, as in MMF)."""
    if not _multi_process():
        return tensor
    with torch.no_grad():
        dist.reduce(tensor, dst=0)
        if dist.get_rank() == 0:
            tensor = tensor.div(dist.get_world_size())
    return tensor


def gather_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """All ranks' tensors stacked on a new dim 0 ([world, ...]); the tensor itself in one process."""
    if not _multi_process():
        return tensor
    with torch.no_grad():
        parts = [torch.zeros_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor)
        return torch.stack(parts, dim=0)


def gather_tensor_along_batch(tensor: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """All ranks' tensors concatenated along `dim`, without gradients."""
    if not _multi_process():
        return tensor
    with torch.no_grad():
        parts = [torch.zeros_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor)
        return torch.cat(parts, dim=dim)


class GatherLayer(torch.autograd.Function):
    """all_gather that lets gradients flow back to each rank's own slice."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        parts = [torch.zeros_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x)
        return tuple(parts)

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> torch.Tensor:
        stacked = torch.stack(grads)
        dist.all_reduce(stacked)
        return stacked[dist.get_rank()]


def gather_tensor_along_batch_with_backward(tensor: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """All ranks' tensors concatenated along `dim`, differentiable (for in-batch contrastive losses)."""
    if not _multi_process():
        return tensor
    return torch.cat(GatherLayer.apply(tensor), dim=dim)


def reduce_dict(dictionary: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Mean over ranks of each (same-shaped) value, on rank 0; keys sorted, as in MMF."""
    if not _multi_process() or not dictionary:
        return dictionary
    with torch.no_grad():
        keys, values = zip(*sorted(dictionary.items()))
        stacked = torch.stack(values, dim=0)
        dist.reduce(stacked, dst=0)
        if dist.get_rank() == 0:
            stacked /= dist.get_world_size()
        return dict(zip(keys, stacked))


MAX_SIZE_LIMIT = 65533


def object_to_byte_tensor(obj: Any, max_size: int = 4094) -> torch.Tensor:
    """A picklable object as a fixed-size uint8 tensor (2 length bytes, then the pickle)."""
    if max_size > MAX_SIZE_LIMIT:
        raise ValueError(f"max_size {max_size} is above {MAX_SIZE_LIMIT}")
    encoded = pickle.dumps(obj)
    if len(encoded) > max_size - 2:
        raise ValueError(f"objects too large: object size {len(encoded)}, max size {max_size}")
    tensor = torch.zeros(max_size, dtype=torch.uint8)
    tensor[0], tensor[1] = len(encoded) // 256, len(encoded) % 256
    tensor[2 : 2 + len(encoded)] = torch.tensor(list(encoded), dtype=torch.uint8)
    return tensor


def byte_tensor_to_object(byte_tensor: torch.Tensor, max_size: int = MAX_SIZE_LIMIT) -> Any:
    size = int(byte_tensor[0]) * 256 + int(byte_tensor[1])
    return pickle.loads(bytes(byte_tensor[2 : 2 + size].tolist()))


def open_if_main(path: str | os.PathLike, mode: str) -> IO | contextlib.nullcontext:
    """An open file on the main process, a do-nothing context elsewhere."""
    return open(path, mode) if is_main_process() else contextlib.nullcontext()


open_if_master = open_if_main
