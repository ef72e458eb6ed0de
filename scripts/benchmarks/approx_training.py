"""Training-step time with approximate training (Alg. 1) on and off, side by side.

python scripts/benchmark.py approx_training [--positives 8] [--frames 32] [--trajectories 2] [--fixed-threads]

The steps run at the threads `mmf_run` gives training steps: following other processes' load (see
benchmarks.common.TrainingThreads; the first INTERVAL_S of steps settle it and are not timed), or with
--fixed-threads at the configured ones throughout (training.load_aware_threads=false).
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.common import TrainingThreads, print_result, timed, tree_of, untrained_asymnet
from mmf_ext.common.sample import SampleList


def build(approximate: bool, backbone: str, frames: int) -> torch.nn.Module:
    return untrained_asymnet(
        {"ifn": {"backbone": backbone}, "tree": tree_of(frames), "phase": "ssn", "approximate_training": approximate}
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmark.py approx_training")
    parser.add_argument("--positives", type=int, default=8, help="S: S positives and S negatives per trajectory")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--trajectories", type=int, default=2, help="n trajectories per batch")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--backbone", default="tiny")
    parser.add_argument(
        "--fixed-threads", action="store_true", help="keep the configured threads (training.load_aware_threads=false)"
    )
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    n, pairs, size = args.trajectories, 2 * args.positives, args.image_size
    batch = SampleList(
        {
            "video": torch.randint(0, 255, (n, args.frames, 3, size, size), dtype=torch.uint8),
            "images": torch.randint(0, 255, (n, pairs, 3, size, size), dtype=torch.uint8),
            "labels": torch.tensor([[1.0] * args.positives + [0.0] * args.positives] * n),
        }
    )
    seconds = {}
    losses = {}
    reference = build(True, args.backbone, args.frames).state_dict()
    threads = TrainingThreads(follow=not args.fixed_threads)
    for approximate in (True, False):
        model = build(approximate, args.backbone, args.frames)
        model.load_state_dict(reference)  # the same weights on both paths
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)

        def step(model=model, optimizer=optimizer, approximate=approximate):
            optimizer.zero_grad()
            loss = sum(model(batch)["losses"].values())
            loss.backward()
            optimizer.step()
            losses[approximate] = float(loss.detach())

        if approximate:
            threads.settle(step)
        seconds[approximate] = timed(threads.around(step), repeats=3)
    threads.stop()
    ratio = seconds[False] / seconds[True]
    print(f"approximate training (trajectory encoded once):   {seconds[True]:.3f} s/step")
    print(f"per-pair training (trajectory encoded 2S times):  {seconds[False]:.3f} s/step")
    print(
        f"speedup {ratio:.1f}x at S={args.positives}, T={args.frames}, n={n}, backbone={args.backbone}; "
        f"loss {losses[True]:.6f} vs {losses[False]:.6f}"
    )
    print_result(
        {
            "benchmark": "approx_training",
            "approximate_s_per_step": round(seconds[True], 4),
            "per_pair_s_per_step": round(seconds[False], 4),
            "speedup": round(ratio, 2),
            "S": args.positives,
            "T": args.frames,
            "n": n,
            "backbone": args.backbone,
            "loss_approximate": losses[True],
            "loss_per_pair": losses[False],
            **threads.result(),
        }
    )
    return 0
