"""Trajectories longer than the model's leaves (the paper's sliding window, Sec. 6.1): every frame is kept.

`num_frames` is how many crops a trajectory holds; the model cuts windows of its leaves over them
(tests/video2shop/models/asymnet/test_model.py checks training and scoring per window). Here: a
trajectory as long as its tracklet reads each of its frames once, in order, and the
sliding_window overlay asks for that on the synthetic data.
"""

import json

from mmf_ext.utils.configuration import load_yaml
from tests import helpers
from video2shop.datasets import trajectories

ABLATIONS = helpers.PLUGIN_ROOT / "configs" / "ablations"


def test_a_trajectory_as_long_as_its_tracklet_reads_every_frame_once(synthetic_dir, tmp_path, monkeypatch):
    train = json.loads((synthetic_dir / "train.json").read_text())
    tracklet = next(iter(train.values()))["tracklets"][0]
    span = max(map(int, tracklet)) - min(map(int, tracklet)) + 1
    read = []

    def spy(path, indices=None, count=None):
        frames, wanted = real(path, indices, count)
        read.append(wanted)
        return frames, wanted

    real = trajectories.read_frames
    monkeypatch.setattr(trajectories, "read_frames", spy)
    builder, config = helpers.dataset_config("video2shop", synthetic_dir, tmp_path, num_frames=span, use_cache=False)
    item = builder.load(config, "train")[0]
    assert item.video.shape[0] == span
    assert read[0] == list(range(min(map(int, tracklet)), max(map(int, tracklet)) + 1))


def test_the_sliding_window_overlay_keeps_every_synthetic_frame_over_several_windows():
    overlay = load_yaml(ABLATIONS / "sliding_window.yaml")
    defaults = load_yaml(
        helpers.PLUGIN_ROOT / "video2shop" / "configs" / "datasets" / "synthetic_video2shop" / "defaults.yaml"
    )
    base = load_yaml(helpers.PLUGIN_ROOT / "configs" / "asymnet.yaml")
    frames = overlay.dataset_config.synthetic_video2shop.num_frames
    leaves = 1
    for branches in base.model_config.asymnet.tree:
        leaves *= branches
    assert frames == defaults.dataset_config.synthetic_video2shop.video_frames  # every frame of a video
    assert frames % leaves == 0 and frames // leaves > 1  # whole windows, more than one
    assert overlay.dataset_config.video2shop.num_frames == 32  # the paper's trajectory length
