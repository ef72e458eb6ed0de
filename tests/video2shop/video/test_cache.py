"""The frame cache: keyed by the file's identity, and the only thing workers read after `prepare`."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import SQUARE, dataset_config, moving_video, run_config, write_folder
from video2shop.datasets import trajectories as trajectories_module
from video2shop.datasets.trajectories import TrajectoryLoader
from video2shop.video.cache import FrameCache


def test_a_video_replaced_by_another_file_is_decoded_again(tmp_path):
    moving_video(tmp_path / "v.mp4", frames=12)
    loader = TrajectoryLoader(4, 16, 0.1, FrameCache(tmp_path / "cache"), strict=True)
    first = loader.load(tmp_path / "v.mp4", None)
    moving_video(tmp_path / "v.mp4", frames=6, size=40)  # same path, same second, other bytes
    second = loader.load(tmp_path / "v.mp4", None)
    assert loader.cache.misses == 2 and not np.array_equal(first, second)


def test_dataloader_workers_read_only_the_cache_after_prepare(tmp_path, monkeypatch):
    from video2shop.datasets.validation import prepare_cache

    def product(name, videos):
        return {
            "img_path": f"imgs/{name}.png",
            "video_paths": [f"videos/{v}.mp4" for v in videos],
            "source": 1,
            "category": "Dress",
            "tracklets": [SQUARE if k % 2 == 0 else None for k in range(len(videos))],
        }

    train = {f"p{i}": product(f"p{i}", [f"t{i}a", f"t{i}b"]) for i in range(3)}
    test = {f"s{i}": product(f"s{i}", [f"q{i}"]) for i in range(3)}
    root = write_folder(tmp_path / "data", {"train": train, "test": test})
    options = {"num_frames": 4, "image_size": 32}
    summary = prepare_cache(root, "video2shop", tmp_path / "cache", [f"{k}={v}" for k, v in options.items()])
    assert "train: 6 trajectories, test: 3 trajectories" in summary and "0 unreadable" in summary

    def no_decoding(*args, **kwargs):
        raise RuntimeError("a worker decoded a video after prepare")

    # the workers are forked from here, so they inherit the patched decoder
    monkeypatch.setattr(trajectories_module, "frame_count", no_decoding)
    monkeypatch.setattr(trajectories_module, "read_frames", no_decoding)
    builder, config = dataset_config("video2shop", root, tmp_path / "cache", **options)
    builder.configure(config, run_config(workers=2))

    seen = []
    for batch in builder.test_dataloader():
        assert "skipped_videos" not in batch
        seen += batch.sample_index.tolist()
        assert batch.valid.all()
    assert sorted(seen) == list(range(6))  # 3 queries, 3 gallery images
    products = set()
    for batch in builder.train_dataloader():  # 3 steps of 2
        assert "skipped_videos" not in batch and batch.video.shape[1:] == (4, 3, 32, 32)
        products.update(batch.product_id)
    assert len(products) >= 2

    with pytest.raises(RuntimeError, match="decoded a video after prepare"):  # the patch does reach the workers
        builder, config = dataset_config("video2shop", root, tmp_path / "other_cache", **options)
        builder.configure(config, run_config(workers=2))
        next(iter(builder.test_dataloader()))
