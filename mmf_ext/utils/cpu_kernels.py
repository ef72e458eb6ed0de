"""Which SIMD kernels torch computes with on the CPU, said once at start.

The kernels decide the order of floating-point sums, so a run on an AVX-512 CPU trains another model than the
same run on an AVX2 one; the usual variables pin them (ATEN_CPU_CAPABILITY for torch's own kernels,
ONEDNN_MAX_CPU_ISA for oneDNN's convolutions, MKL_CBWR for MKL). The log line names the ones that are set.
"""

from __future__ import annotations

import os

import torch

KERNEL_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR")


def describe_cpu_kernels() -> str:
    pinned = [f"{name}={os.environ[name]}" for name in KERNEL_VARIABLES if os.environ.get(name)]
    how = f"pinned by {', '.join(pinned)}" if pinned else "the widest this CPU has; ATEN_CPU_CAPABILITY etc. pin them"
    return f"CPU kernels: torch {torch.backends.cpu.get_cpu_capability()} ({how})"
