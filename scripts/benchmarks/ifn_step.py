"""A phase-pretrain training step of the IFN with its convolutions on NHWC (the default on the CPU) and on
NCHW, side by side, from the same weights.

python scripts/benchmark.py ifn_step [--images 128] [--image-size 64] [--backbone tiny] [--fixed-threads]
(the main job's step: 8 trajectories x 8 frames and 8 x 2S=8 shop images, 64 pixels)

The steps run at the threads `mmf_run` gives training steps: following other processes' load (see
benchmarks.common.TrainingThreads), or with --fixed-threads at the configured ones throughout.
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.common import TrainingThreads, print_result, timed
from video2shop.models.asymnet.ifn import ImageFeatureNetwork


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmark.py ifn_step")
    parser.add_argument("--images", type=int, default=128, help="frames and shop images per step")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--backbone", default="tiny")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--fixed-threads", action="store_true", help="keep the configured threads (training.load_aware_threads=false)"
    )
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    images = torch.randint(0, 255, (args.images, 3, args.image_size, args.image_size), dtype=torch.uint8)
    reference = ImageFeatureNetwork(args.backbone).state_dict()
    seconds, features = {}, {}
    threads = TrainingThreads(follow=not args.fixed_threads)
    for nhwc in (True, False):
        ifn = ImageFeatureNetwork(args.backbone)
        ifn.load_state_dict(reference)
        ifn.nhwc_on_cpu = nhwc
        optimizer = torch.optim.AdamW(ifn.parameters(), lr=0.0)  # lr 0: every repeat times the same weights
        with torch.no_grad():
            features[nhwc] = ifn(images)

        def step(ifn=ifn, optimizer=optimizer):
            optimizer.zero_grad()
            ifn(images).square().mean().backward()
            optimizer.step()

        if nhwc:
            threads.settle(step)
        seconds[nhwc] = timed(threads.around(step), repeats=args.repeats)
    threads.stop()
    speedup = seconds[False] / seconds[True]
    difference = float((features[True] - features[False]).abs().max())
    print(f"NHWC (the default on the CPU): {seconds[True]:.3f} s/step")
    print(f"NCHW:                          {seconds[False]:.3f} s/step")
    print(
        f"speedup {speedup:.2f}x, {args.images} images of {args.image_size} px, backbone={args.backbone}; "
        f"features differ by at most {difference:.1e}"
    )
    print_result(
        {
            "benchmark": "ifn_step",
            "nhwc_s_per_step": round(seconds[True], 4),
            "nchw_s_per_step": round(seconds[False], 4),
            "speedup": round(speedup, 2),
            "max_feature_difference": difference,
            "images": args.images,
            "image_size": args.image_size,
            "backbone": args.backbone,
            **threads.result(),
        }
    )
    return 0
