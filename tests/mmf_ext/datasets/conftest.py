import json
from pathlib import Path

import numpy as np
import pytest

from mmf_ext.datasets.builders.video2shop.synthetic import generate, write_mp4
from mmf_ext.datasets.video.image_io import write_rgb


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
            manifest[pid] = {"img_path": f"imgs/{pid}.jpg", "video_paths": [f"videos/{pid}.mp4"], "source": 1 if pid != "s2" else 2,
                             "tracklets": [{str(i): b for i, b in enumerate(boxes) if i % 3 == 0}]}
        entries[split] = manifest
    # a test video linked to two products keeps both as correct answers
    entries["test"]["s3"]["video_paths"] = ["videos/s2.mp4"]
    for split, manifest in entries.items():
        (root / f"{split}.json").write_text(json.dumps(manifest))
    return root
