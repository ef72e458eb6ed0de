"""Trajectory loading: raw decord decoding vs. the frame cache, in trajectories per second.

python scripts/benchmark.py loading [--data-dir DIR] [--products 120] [--num-frames 8]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.common import print_result
from video2shop.datasets.manifest import parse_manifest
from video2shop.datasets.synthetic import generate
from video2shop.datasets.trajectories import TrajectoryLoader
from video2shop.video.cache import FrameCache

CACHE_PASS_S = 2.0  # cached loads are timed over whole passes for at least this long (a --contended figure
# over a few milliseconds is the scheduler's time slice, not the loader's speed)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmark.py loading")
    parser.add_argument("--data-dir", type=Path, default=None, help="a video2shop folder (default: generate one)")
    parser.add_argument("--products", type=int, default=120)  # long enough that a --contended run is not noise
    parser.add_argument("--num-frames", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=64)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="v2s_loading_"))
    try:
        data_dir = args.data_dir or generate(work / "data", products=args.products, seed=0)
        items = [(v, p.tracklets[i]) for p in parse_manifest(data_dir, "train") for i, v in enumerate(p.video_paths)]
        raw = TrajectoryLoader(args.num_frames, args.image_size, 0.1, FrameCache(None), strict=True)
        cached = TrajectoryLoader(args.num_frames, args.image_size, 0.1, FrameCache(work / "cache"), strict=True)
        start = time.perf_counter()
        for video, tracklet in items:
            raw.load(video, tracklet)
        raw_rate = len(items) / (time.perf_counter() - start)
        for video, tracklet in items:  # first pass fills the cache
            cached.load(video, tracklet)
        start, loads = time.perf_counter(), 0
        while loads == 0 or time.perf_counter() - start < CACHE_PASS_S:  # one pass is ~20 ms: repeat it
            for video, tracklet in items:
                cached.load(video, tracklet)
            loads += len(items)
        cache_rate = loads / (time.perf_counter() - start)
        print(
            f"raw decoding: {raw_rate:8.1f} trajectories/s ({len(items)} trajectories, {args.num_frames} frames each)"
        )
        print(f"frame cache : {cache_rate:8.1f} trajectories/s ({cache_rate / raw_rate:.1f}x)")
        print_result(
            {
                "benchmark": "loading",
                "raw_trajectories_per_s": round(raw_rate, 1),
                "cache_trajectories_per_s": round(cache_rate, 1),
                "speedup": round(cache_rate / raw_rate, 2),
                "trajectories": len(items),
                "num_frames": args.num_frames,
            }
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0
