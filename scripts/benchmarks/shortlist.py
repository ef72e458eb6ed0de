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

from benchmarks.common import print_result
from video2shop.retrieval.scoring import exact_score_matrix
from video2shop.retrieval.shortlist import ShortlistIndex, rerank, surrogate_candidates
from video2shop.retrieval.surrogate import LinearSurrogate, fit_feature_map


def encode_test_split(save_dir: Path, max_queries: int):
    from mmf_ext.common.registry import registry
    from mmf_ext.utils.checkpoint import load_model_weights
    from mmf_ext.utils.configuration import load_yaml

    config = load_yaml(save_dir / "config.yaml")
    model = registry.get_model_class(config.model)(config.model_config[config.model])
    model.build()
    load_model_weights(model, save_dir / "current.ckpt", strict=True)
    model.eval()
    dataset = registry.get_builder_class(config.datasets)().load(config.dataset_config[config.datasets], "test")
    queries = [dataset[i] for i in range(min(max_queries, len(dataset.queries)))]
    gallery = [dataset[len(dataset.queries) + i] for i in range(len(dataset.gallery))]
    with torch.no_grad():
        frames = model.encode_images(torch.stack([q.video for q in queries]))
        states = model.encode_trajectories(frames)[:, 0]
        shop = model.encode_images(torch.stack([g.image for g in gallery]))
    return states, frames.mean(1), shop, model


def untrained(max_queries: int):
    from mmf_ext.common.registry import registry
    from mmf_ext.utils.configuration import load_yaml

    config = load_yaml(registry.get_model_class("asymnet").config_path()).model_config.asymnet
    model = registry.get_model_class("asymnet")(config)
    model.build()
    model.eval()
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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmark.py shortlist")
    parser.add_argument("--save-dir", type=Path, default=None, help="a finished mmf_run save dir (trained model)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--index", default="sq8", choices=["flat", "sq8", "ivf", "hnsw"])
    parser.add_argument("--shortlist", type=int, default=5000)
    parser.add_argument("--nprobe", type=int, default=64)
    parser.add_argument("--topk", type=int, default=20)
    parser.add_argument("--embedding", default="surrogate", choices=["surrogate", "pooled"],
                        help="surrogate: per-query linear surrogate of the scorer (inner product); pooled: mean IFN feature (cosine)")
    parser.add_argument("--probe", type=int, default=2048, help="probe sample size of the surrogate")
    parser.add_argument("--clusters", type=int, default=8, help="ReLU feature map centres of the surrogate (0: linear in the features)")
    parser.add_argument("--dim", type=int, default=384, help="the feature map's PCA size")
    parser.add_argument("--refine", type=int, default=1, choices=[0, 1], help="refit the surrogate on the first shortlist")
    parser.add_argument("--distractors", default="mixup", choices=["gaussian", "mixup"],
                        help="how galleries beyond the real shop images are filled (see fill_gallery)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    states, embeddings, shop, model = encode_test_split(args.save_dir, args.queries) if args.save_dir else untrained(args.queries)
    source = f"trained model in {args.save_dir}" if args.save_dir else "untrained model, random inputs"
    results = []
    for size in args.sizes:
        gallery = fill_gallery(shop, size, kind=args.distractors)
        start = time.perf_counter()
        surrogate = args.embedding == "surrogate"
        with torch.no_grad():
            gallery_part = model.gallery_projection(gallery)  # computed once, like a feature bank
            feature_map = fit_feature_map(model, gallery, gallery_part, args.clusters, args.dim) if surrogate else None
            fitted = LinearSurrogate(model, gallery, probe_size=args.probe, feature_map=feature_map) if surrogate else None
            vectors = fitted.index_vectors(gallery_part, gallery) if surrogate else gallery
        index = ShortlistIndex(vectors, args.index, nprobe=args.nprobe, metric="inner_product" if surrogate else "cosine")
        build_seconds = time.perf_counter() - start
        latencies, kept = [], []
        with torch.no_grad():
            for q in range(len(states)):
                begin = time.perf_counter()
                query_part = model.query_projection(states[q : q + 1])
                if fitted is None:
                    candidates = index.search(embeddings[q : q + 1], args.shortlist)
                else:
                    candidates = surrogate_candidates(fitted, index, query_part, gallery_part, args.shortlist,
                                                      bool(args.refine))
                _, found = rerank(model, query_part, gallery_part, candidates, args.topk)
                latencies.append(time.perf_counter() - begin)
                exact = exact_score_matrix(model, states[q : q + 1], gallery, memory_budget_mb=64)[0]
                truth = set(exact.topk(args.topk).indices.tolist())
                kept.append(len(truth & set(found[0].tolist())) / args.topk)
        row = {"gallery": size, "p50_ms": round(1000 * float(np.percentile(latencies, 50)), 2),
               "p95_ms": round(1000 * float(np.percentile(latencies, 95)), 2),
               "top20_kept": round(float(np.mean(kept)), 4), "index_build_s": round(build_seconds, 1)}
        results.append(row)
        print(f"gallery {size:>9,}: p50 {row['p50_ms']:8.2f} ms, p95 {row['p95_ms']:8.2f} ms per query; exact top-{args.topk} "
              f"kept {100 * row['top20_kept']:.1f}% ({args.embedding}{f' K={args.clusters}' if surrogate else ''}, {args.index}, shortlist {args.shortlist}, index built in {row['index_build_s']} s)")
    print_result({"benchmark": "shortlist", "features": source, "embedding": args.embedding, "refine": bool(args.refine), "distractors": args.distractors,
                  "probe": args.probe, "clusters": args.clusters if args.embedding == "surrogate" else None,
                  "dim": args.dim if args.embedding == "surrogate" and args.clusters else None, "index": args.index, "shortlist": args.shortlist,
                  "nprobe": args.nprobe, "queries": len(states), "results": results})
    return 0
