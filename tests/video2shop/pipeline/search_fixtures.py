"""A small untrained AsymNet saved as an mmf_run save dir would hold it, and a folder of shop images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from video2shop.video.image_io import write_rgb
from tests.conftest import REPO_ROOT


def save_small_run(save_dir: Path, data_dir: Path) -> Path:
    """config.yaml + current.ckpt of a tiny asymnet (image size 32, 4 frames); returns the checkpoint."""
    from mmf_ext.common.registry import registry
    from mmf_ext.utils.configuration import build_config, save_config

    config = build_config([f"config={REPO_ROOT / 'projects/video2shop/configs/asymnet.yaml'}", "model=asymnet",
                           "dataset=synthetic_video2shop", f"env.data_dir={data_dir}", f"env.save_dir={save_dir}",
                           "model_config.asymnet.ifn.feature_dim=16", "model_config.asymnet.vfn.hidden_dim=16",
                           "model_config.asymnet.ssn.hidden=16", "model_config.asymnet.tree=[2,2]",
                           "dataset_config.synthetic_video2shop.image_size=32", "dataset_config.synthetic_video2shop.num_frames=4"])
    torch.manual_seed(0)
    model = registry.get_model_class("asymnet")(config.model_config.asymnet)
    model.build()
    save_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, save_dir)
    torch.save({"state_dict": model.state_dict()}, save_dir / "current.ckpt")
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
