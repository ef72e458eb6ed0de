"""Distributed helpers: who am I, how many are we, and exact gathering of Python objects.

Launchers are read from the environment: torchrun and `python -m torch.distributed.launch`
(RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT) and SLURM
(SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_NNODES).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

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
