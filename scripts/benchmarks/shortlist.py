"""FAISS shortlist + exact re-ranking on large galleries: latency per query and exact top-20 kept.

    python scripts/benchmark.py shortlist --save-dir save/asymnet [--sizes 10000 100000 1000000]

With --save-dir (a finished mmf_run: its config.yaml and current.ckpt) the queries and shop images
are the test split encoded by that trained model; galleries larger than the test split are filled
with distractor features (--distractors gaussian | mixup, see fill_gallery). Without it, an
untrained model and random inputs are used. The shortlist comes from the per-query linear
surrogate of the scorer (--embedding surrogate, the default) or from pooled IFN features
(--embedding pooled). Latency is per query trajectory, one at a time: surrogate fit, shortlist
search and exact re-ranking, with the index and the gallery projection built before.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import print_result, untrained_asymnet
from mmf_ext.common.registry import registry
from mmf_ext.utils.build import build_model, checkpoint_run_config
from video2shop.retrieval.search import Shortlist, ShortlistSettings, search


def encode_test_split(save_dir: Path, max_queries: int):
    """The test split of a finished run encoded by its model: states, pooled frame features, shop features, model."""
    config = checkpoint_run_config(save_dir / "current.ckpt")
    model = build_model(config, save_dir / "current.ckpt")
    dataset = registry.get_builder_class(config.datasets)().load_dataset(config.dataset_config[config.datasets], "test")
    queries = [dataset[i] for i in range(min(max_queries, len(dataset.queries)))]
    gallery = [dataset[len(dataset.queries) + i] for i in range(len(dataset.gallery))]
    with torch.no_grad():
        frames = model.encode_images(torch.stack([q.video for q in queries]))
        states = model.encode_trajectories(frames)[:, 0]
        shop = model.encode_images(torch.stack([g.image for g in gallery]))
    return states, frames.mean(1), shop, model


def untrained(max_queries: int):
    model = untrained_asymnet().eval()
    with torch.no_grad():
        frames = model.encode_images(torch.randint(0, 255, (max_queries, 8, 3, 64, 64), dtype=torch.uint8))
        states = model.encode_trajectories(frames)[:, 0]
        shop = model.encode_images(torch.randint(0, 255, (100, 3, 64, 64), dtype=torch.uint8))
    return states, frames.mean(1), shop, model


def fill_gallery(real: torch.Tensor, size: int, seed: int = 0, kind: str = "gaussian") -> torch.Tensor:
    """The real features, then distractors up to `size`.

    `gaussian`: drawn from a Gaussian with the real features' mean and covariance (clamped at 0, as
    IFN features are post-ReLU): far from any image, where the scorer extrapolates. `mixup`: a
    random convex mix of two real features with 5% multiplicative noise: near the features real
    shop images produce.
    """
    if size <= len(real):
        return real[:size]
    generator = torch.Generator().manual_seed(seed)
    blocks, remaining = [real], size - len(real)
    if kind == "gaussian":
        mean = real.mean(0)
        centred = real - mean
        covariance = centred.t() @ centred / max(1, len(real) - 1) + 1e-4 * torch.eye(real.shape[1])
        factor = torch.linalg.cholesky(covariance)
    while remaining > 0:
        block = min(remaining, 100_000)
        if kind == "gaussian":
            blocks.append((mean + torch.randn(block, real.shape[1], generator=generator) @ factor.t()).clamp_min(0))
        else:
            first = torch.randint(0, len(real), (block,), generator=generator)
            second = torch.randint(0, len(real), (block,), generator=generator)
            weight = torch.rand(block, 1, generator=generator)
            noise = 1 + 0.05 * torch.randn(block, real.shape[1], generator=generator)
            blocks.append((weight * real[first] + (1 - weight) * real[second]) * noise)
        remaining -= block
    return torch.cat(blocks)


def measure(
    model, states: torch.Tensor, embeddings: torch.Tensor, gallery: torch.Tensor, settings: ShortlistSettings, topk: int
) -> dict[str, float]:
    """Index build time, per-query latency (shortlist and exact re-ranking, one query at a time), exact top-k kept."""
    start = time.perf_counter()
    shortlist = Shortlist.build(model, gallery, settings)  # the gallery projection once, like a feature bank
    build_seconds = time.perf_counter() - start
    latencies, kept = [], []
    for q in range(len(states)):
        begin = time.perf_counter()
        _, found = search(
            model, states[q : q + 1], gallery, shortlist=shortlist, topk=topk, query_embeddings=embeddings[q : q + 1]
        )
        latencies.append(time.perf_counter() - begin)
        truth = set(search(model, states[q : q + 1], gallery, topk=topk, memory_budget_mb=64)[1][0].tolist())
        kept.append(len(truth & set(found[0].tolist())) / topk)
    return {
        "gallery": len(gallery),
        "p50_ms": round(1000 * float(np.percentile(latencies, 50)), 2),
        "p95_ms": round(1000 * float(np.percentile(latencies, 95)), 2),
        "top20_kept": round(float(np.mean(kept)), 4),
        "index_build_s": round(build_seconds, 1),
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="benchmark.py shortlist")
    parser.add_argument("--save-dir", type=Path, default=None, help="a finished mmf_run save dir (trained model)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--index", default="sq8", choices=["flat", "sq8", "ivf", "hnsw"])
    parser.add_argument("--shortlist", type=int, default=5000)
    parser.add_argument("--nprobe", type=int, default=64)
    parser.add_argument("--topk", type=int, default=20)
    parser.add_argument(
        "--embedding",
        default="surrogate",
        choices=["surrogate", "pooled"],
        help="surrogate: per-query linear surrogate of the scorer (inner product); pooled: mean IFN feature (cosine)",
    )
    parser.add_argument("--probe", type=int, default=2048, help="probe sample size of the surrogate")
    parser.add_argument(
        "--clusters", type=int, default=8, help="ReLU feature map centres of the surrogate (0: linear in the features)"
    )
    parser.add_argument("--dim", type=int, default=384, help="the feature map's PCA size")
    parser.add_argument(
        "--refine", type=int, default=1, choices=[0, 1], help="refit the surrogate on the first shortlist"
    )
    parser.add_argument(
        "--distractors",
        default="mixup",
        choices=["gaussian", "mixup"],
        help="how galleries beyond the real shop images are filled (see fill_gallery)",
    )
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    torch.manual_seed(0)
    states, embeddings, shop, model = (
        encode_test_split(args.save_dir, args.queries) if args.save_dir else untrained(args.queries)
    )
    source = f"trained model in {args.save_dir}" if args.save_dir else "untrained model, random inputs"
    surrogate = args.embedding == "surrogate"
    settings = ShortlistSettings(
        size=args.shortlist,
        index=args.index,
        embedding=args.embedding,
        probe=args.probe,
        refine=bool(args.refine),
        clusters=args.clusters,
        dim=args.dim,
        nprobe=args.nprobe,
    )
    results = []
    with torch.no_grad():
        for size in args.sizes:
            gallery = fill_gallery(shop, size, kind=args.distractors)
            row = measure(model, states, embeddings, gallery, settings, args.topk)
            results.append(row)
            print(
                f"gallery {size:>9,}: p50 {row['p50_ms']:8.2f} ms, p95 {row['p95_ms']:8.2f} ms per query; exact "
                f"top-{args.topk} kept {100 * row['top20_kept']:.1f}% ({args.embedding}"
                f"{f' K={args.clusters}' if surrogate else ''}, {args.index}, shortlist {args.shortlist}, "
                f"index built in {row['index_build_s']} s)"
            )
    print_result(
        {
            "benchmark": "shortlist",
            "features": source,
            "embedding": args.embedding,
            "refine": bool(args.refine),
            "distractors": args.distractors,
            "probe": args.probe,
            "clusters": args.clusters if surrogate else None,
            "dim": args.dim if surrogate and args.clusters else None,
            "index": args.index,
            "shortlist": args.shortlist,
            "nprobe": args.nprobe,
            "queries": len(states),
            "results": results,
        }
    )
    return 0
