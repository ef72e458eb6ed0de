"""Test helpers, in one module: paths, the always_one plugin's options, CLI runners, state comparisons,
generated videos, and the video2shop plugin's hand-made dataset folders and small run stand-ins.

Dataset folders are in the video2shop format with every optional extension in play: shop images
are solid colours (one per image), so a loaded shop image tells which file it came from; videos are
a red square moving over noise (`moving_video`). `save_small_run` writes a tiny untrained AsymNet
as an mmf_run save dir would hold it; `write_shop_folder` a folder of shop images;
`torchvision_weights_file` a local backbone weights file for `ifn.pretrained`.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from mmf_ext.common.registry import registry
from mmf_ext.utils.build import build_model
from mmf_ext.utils.configuration import build_config, default_config, load_yaml, save_config
from video2shop.datasets.synthetic import write_mp4
from video2shop.video.image_io import write_rgb

REPO_ROOT = Path(__file__).resolve().parents[1]
PLUGIN_ROOT = REPO_ROOT / "projects" / "video2shop"
PLUGIN_DIR = REPO_ROOT / "tests" / "plugins" / "always_one"
PLUGIN_CONFIG = PLUGIN_DIR / "config.yaml"


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


def torchvision_weights_file(path: Path, backbone: str = "resnet18") -> Path:
    """A local torchvision weights file (seeded random weights: ImageNet's cannot be downloaded here), as
    `ifn.pretrained` reads one."""
    import torchvision.models as tvm

    torch.manual_seed(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(getattr(tvm, backbone)(weights=None).state_dict(), path)
    return path


def max_param_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


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


SQUARE = {i: [4 + 2 * i, 10, 20 + 2 * i, 30] for i in range(12)}  # the red square of moving_video
BACKGROUND = {i: [2, 34, 30, 47] for i in range(12)}  # a strip of noise below it


def colour_of(name: str) -> tuple[int, int, int]:
    """A colour per image name, far apart for different names (a shop image's fingerprint)."""
    rng = np.random.default_rng(sum(ord(c) * 131**k for k, c in enumerate(name)) % 2**32)
    return tuple(int(v) for v in rng.integers(0, 16, 3) * 16 + 8)


def write_folder(root: Path, splits: dict[str, dict[str, Any]], distractors: list[dict] | None = None) -> Path:
    """Write the manifests, and a solid image / moving-square video for every path they name."""
    root.mkdir(parents=True, exist_ok=True)
    entries = [e for manifest in splits.values() for e in manifest.values()] + list(distractors or [])
    master = root / "videos" / ".master.mp4"
    for entry in entries:
        for image in [entry.get("img_path"), *entry.get("img_paths", [])]:
            if image and not (root / image).exists():
                write_rgb(root / image, np.full((40, 40, 3), colour_of(Path(image).stem), np.uint8))
        for video in entry.get("video_paths", []):
            if not (root / video).exists():
                if not master.exists():
                    moving_video(master, frames=12)
                (root / video).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(master, root / video)
    for split, manifest in splits.items():
        (root / f"{split}.json").write_text(json.dumps(manifest))
    if distractors is not None:
        (root / "distractors.json").write_text(json.dumps(distractors))
    return root


def dataset_config(name: str, data_dir: Path, cache_dir: Path, **overrides: Any) -> tuple[Any, DictConfig]:
    builder = registry.get_builder_class(name)()
    raw = load_yaml(builder.config_path()).dataset_config[name]
    raw = OmegaConf.merge(
        raw,
        {
            "data_dir": str(data_dir),
            "cache_dir": str(cache_dir),
            "num_frames": 4,
            "image_size": 32,
            "positives_per_trajectory": 2,
            "augment": False,
            **overrides,
        },
    )
    return builder, raw


def image_name(image: Any, palette: dict[str, tuple[int, int, int]]) -> str:
    """Which named solid image a loaded [3, H, W] shop image is."""
    pixel = tuple(int(v) for v in np.asarray(image)[:, 0, 0])
    return min(palette, key=lambda name: sum((a - b) ** 2 for a, b in zip(palette[name], pixel)))


def run_config(workers: int) -> DictConfig:
    """The framework defaults with the run-level keys a builder's dataloaders read (3 training steps of 2)."""
    overrides = {
        "training": {"num_workers": workers, "batch_size": 2, "max_updates": 3, "checkpoint_interval": 3, "seed": 0},
        "evaluation": {"batch_size": 2},
    }
    return OmegaConf.merge(default_config(), overrides)


def save_small_run(save_dir: Path, data_dir: Path) -> Path:
    """config.yaml + current.ckpt of a tiny asymnet (image size 32, 4 frames, untrained weights recorded as
    one update); returns the checkpoint."""
    config = build_config(
        [
            f"config={REPO_ROOT / 'projects/video2shop/configs/asymnet.yaml'}",
            "model=asymnet",
            "dataset=synthetic_video2shop",
            f"env.data_dir={data_dir}",
            f"env.save_dir={save_dir}",
            "model_config.asymnet.ifn.feature_dim=16",
            "model_config.asymnet.vfn.hidden_dim=16",
            "model_config.asymnet.ssn.hidden=16",
            "model_config.asymnet.tree=[2,2]",
            "dataset_config.synthetic_video2shop.image_size=32",
            "dataset_config.synthetic_video2shop.num_frames=4",
        ]
    )
    torch.manual_seed(0)
    model = build_model(config)
    save_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, save_dir)
    # global_step 1: a trained checkpoint to video2shop index/search (they refuse ones saved before training)
    torch.save({"state_dict": model.state_dict(), "global_step": 1}, save_dir / "current.ckpt")
    return save_dir / "current.ckpt"


def write_shop_folder(folder: Path, count: int, size: int = 40, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        image = np.full((size, size, 3), 230, np.uint8)
        image[8:32, 10:30] = rng.integers(0, 255, 3, dtype=np.uint8)
        path = folder / ("shirts" if i % 2 else "dresses") / f"item{i:03d}.png"
        write_rgb(path, image)
        paths.append(path)
    return paths


def last_run(save_dir: Path, run_type: str) -> Path:
    """The newest `<save_dir>/<run_type>/<time>/` folder: where a run that does not train writes."""
    runs = sorted((Path(save_dir) / run_type).iterdir(), key=lambda p: p.stat().st_mtime)
    assert runs, f"no {run_type} run under {save_dir}"
    return runs[-1]


# -- torchvision's weight files, as stand-ins ----------------------------------------------
def write_torchvision_file(torch_home: Path, weights: Any, builder: Any) -> Path:
    """A stand-in for torchvision's file of `weights` under its own name in `torch_home`/hub/checkpoints.

    It holds exactly the keys and shapes of the network torchvision builds to load those weights
    (`builder(weights=weights)`, frozen BatchNorm and all: built with torchvision's own loading
    turned into a no-op), with random values; so the real loading code reads it as it would read the
    downloaded file.
    """
    from unittest import mock

    from torchvision.models._api import WeightsEnum

    path = torch_home / "hub" / "checkpoints" / Path(weights.url).name
    if path.is_file():
        return path
    with (
        mock.patch.object(WeightsEnum, "get_state_dict", lambda self, *args, **kwargs: {}),
        mock.patch.object(torch.nn.Module, "load_state_dict", lambda self, *args, **kwargs: None),
    ):
        torch.manual_seed(0)
        model = builder(weights=weights)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path


# -- people in a room ------------------------------------------------------------------------
def draw_person(frame: np.ndarray, centre: float, top: float, height: float, step: float, shirt, trousers) -> list:
    """A walking figure OpenCV's HOG people detector finds (from about 150 pixels tall); returns its box.

    The body is 8 head-units tall: head, a shirt from 1.2 to 4.1 units, trousers from 3.9 down to
    the feet; `step` is the walking phase (radians) that swings legs and arms.
    """
    import cv2

    unit = height / 8.0

    def point(x: float, y: float) -> tuple[int, int]:
        return int(round(centre + x * unit)), int(round(top + y * unit))

    swing, width = 0.55 * np.sin(step), max(2, int(0.55 * unit))
    for side in (1, -1):
        cv2.line(frame, point(0.15 * side, 4.2), point(swing * side, 7.8), trousers, width + 2)
    cv2.rectangle(frame, point(-0.75, 3.9), point(0.75, 4.7), trousers, -1)
    torso = np.array([point(-0.8, 1.2), point(0.8, 1.2), point(0.7, 4.1), point(-0.7, 4.1)], np.int32)
    cv2.fillPoly(frame, [torso], shirt)
    for side in (1, -1):
        cv2.line(frame, point(0.85 * side, 1.4), point((0.95 - 0.5 * swing) * side, 3.9), shirt, width)
    cv2.ellipse(frame, point(0, 0.6), (int(0.42 * unit), int(0.55 * unit)), 0, 0, 360, (205, 165, 135), -1)
    return [centre - 1.3 * unit, top, centre + 1.3 * unit, top + 8.0 * unit]


def room(height: int, width: int, wall, seed: int) -> np.ndarray:
    """A wall over a floor, with a little noise (no two frames alike, as in real footage)."""
    rng = np.random.default_rng(seed)
    frame = np.empty((height, width, 3), np.int16)
    frame[:] = wall
    frame[int(height * 0.75) :] = (100, 90, 80)
    return np.clip(frame + rng.integers(-12, 12, frame.shape), 0, 255).astype(np.uint8)


def people_video(path: Path, first: int = 30, empty: int = 6, second: int = 24, size=(360, 640)) -> dict[str, Any]:
    """Two shots and a black stretch: shot 0 (`first` frames, a beige room) with two people walking
    apart, `empty` black frames, shot 1 (`second` frames, a blue room) with one person. Returns
    {"shots": [(first frame, last frame), ...], "people": {shot: [boxes by frame, per person]}}."""
    height, width = size
    frames, people = [], {0: [{}, {}], 1: [{}]}
    for i in range(first):
        frame = room(height, width, (150, 140, 120), i)
        people[0][0][i] = draw_person(frame, 180 + 2 * i, 50, 150, 0.5 * i, (200, 40, 40), (40, 40, 150))
        people[0][1][i] = draw_person(frame, 460 - 2 * i, 70, 150, 0.5 * i + 1, (40, 150, 40), (70, 70, 70))
        frames.append(frame)
    frames += [np.zeros((height, width, 3), np.uint8) for _ in range(empty)]
    start = first + empty
    for i in range(second):
        frame = room(height, width, (60, 90, 170), 100 + i)
        people[1][0][start + i] = draw_person(frame, 300 + 3 * i, 60, 160, 0.5 * i, (230, 200, 40), (30, 30, 30))
        frames.append(frame)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_mp4(path, frames, fps=10.0)
    return {"shots": [(0, first - 1), (start, start + second - 1)], "people": people}
