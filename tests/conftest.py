"""Shared test helpers: the repository root, the tiny plugin package, and CLI runners."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
PLUGIN_DIR = REPO_ROOT / "tests" / "plugins" / "always_one"
PLUGIN_CONFIG = PLUGIN_DIR / "config.yaml"

torch.set_num_threads(1)


def plugin_opts(save_dir: Path, *extra: str) -> list[str]:
    return [
        f"config={PLUGIN_CONFIG}",
        "model=always_one_model",
        "dataset=always_one",
        f"env.user_dir={PLUGIN_DIR}",
        f"env.save_dir={save_dir}",
        "training.progress_bar=false",
        *extra,
    ]


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    env.pop("MMF_DEBUG", None)
    return env


def run_cli(module: str, args: list[str], timeout: float = 240, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True, text=True, timeout=timeout, env=cli_env(), cwd=REPO_ROOT, **kwargs,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load_state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def max_param_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


@pytest.fixture
def plugin_imported():
    from mmf_ext.utils.env import import_user_module

    import_user_module(PLUGIN_DIR)
    return PLUGIN_DIR
