"""Test fixtures (plain helpers live in tests/helpers.py): the imported always_one plugin and generated data."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import PLUGIN_DIR, moving_video
from video2shop.datasets.synthetic import generate
from video2shop.video.image_io import write_rgb

torch.set_num_threads(1)
# In-process runs apply the thread policy (mmf_ext.utils.threads); the environment variable keeps them at one
# thread too, as cli_env() does for the command-line tests.
os.environ.setdefault("OMP_NUM_THREADS", "1")


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


@pytest.fixture
def two_threads():
    """torch at 2 intra-op threads for the test, the count before restored after (tests run at one)."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def framework_log():
    """Records of the framework's logger at INFO, whatever a run configured before: once mmf_run has set it up it
    stops propagating to the root logger, so pytest's caplog sees nothing. `.text` joins the messages."""
    handler = logging.Handler(logging.INFO)
    framework_logger = logging.getLogger("mmf_ext")
    level = framework_logger.level
    framework_logger.addHandler(handler)
    framework_logger.setLevel(logging.INFO)

    class Captured(list):
        @property
        def text(self) -> str:
            return "\n".join(record.getMessage() for record in self)

    captured = Captured()
    handler.emit = captured.append
    yield captured
    framework_logger.removeHandler(handler)
    framework_logger.setLevel(level)


@pytest.fixture(scope="module")
def torch_home(tmp_path_factory):
    """A module's own TORCH_HOME folder, for stand-ins of torchvision's files (tests/helpers.py)."""
    return tmp_path_factory.mktemp("torch")
