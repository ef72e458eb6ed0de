"""Shared test helpers: the repository root, the tiny plugin package, CLI runners, generated data."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from video2shop.datasets.synthetic import generate, write_mp4
from video2shop.video.image_io import write_rgb

REPO_ROOT = Path(__file__).resolve().parents[1]
PLUGIN_ROOT = REPO_ROOT / "projects" / "video2shop"
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
    # The tree under test first, framework and plugin, whatever an editable install points at.
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(PLUGIN_ROOT), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    env.pop("MMF_DEBUG", None)
    return env


def run_cli(module: str, args: list[str], timeout: float = 240, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(),
        cwd=REPO_ROOT,
        **kwargs,
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


# -- generated video2shop data -------------------------------------------------------------
@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic") / "data"
    generate(root, products=12, seed=3, frames=10, video_size=64, image_size=48)
    return root


def moving_video(path: Path, frames: int = 12, size: int = 48) -> list[list[int]]:
    """A square moving right over noise; returns its boxes."""
    rng = np.random.default_rng(0)
    images, boxes = [], []
    for i in range(frames):
        frame = rng.integers(0, 80, (size, size, 3), dtype=np.uint8)
        x = 4 + i * 2
        frame[10:30, x : x + 16] = (200, 30, 30)
        images.append(frame)
        boxes.append([x, 10, x + 16, 30])
    path.parent.mkdir(parents=True, exist_ok=True)
    write_mp4(path, images)
    return boxes


@pytest.fixture
def movingfashion_dir(tmp_path) -> Path:
    """A MovingFashion-shaped folder made by hand: official schema, no categories."""
    root = tmp_path / "movingfashion"
    entries = {}
    for split, ids in (("train", ["t1", "t2", "t3"]), ("test", ["s1", "s2", "s3"])):
        manifest = {}
        for pid in ids:
            boxes = moving_video(root / "videos" / f"{pid}.mp4")
            write_rgb(root / "imgs" / f"{pid}.jpg", np.full((40, 40, 3), hash(pid) % 255, np.uint8))
            manifest[pid] = {
                "img_path": f"imgs/{pid}.jpg",
                "video_paths": [f"videos/{pid}.mp4"],
                "source": 1 if pid != "s2" else 2,
                "tracklets": [{str(i): b for i, b in enumerate(boxes) if i % 3 == 0}],
            }
        entries[split] = manifest
    # a test video linked to two products keeps both as correct answers
    entries["test"]["s3"]["video_paths"] = ["videos/s2.mp4"]
    for split, manifest in entries.items():
        (root / f"{split}.json").write_text(json.dumps(manifest))
    return root
