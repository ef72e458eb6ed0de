"""End-to-end search accuracy: how often `video2shop search` puts a video's exact product in its top k.

    python scripts/benchmark.py search_accuracy --data DATA_DIR --checkpoint ASYMNET_CKPT
                                                [--detector DETECTOR_CKPT] [--split test] [--videos 0]
                                                [pipeline.tracker.min_length=4 ...]

The retrieval metric of `mmf_run` scores ground-truth tracklet crops. This one runs what a user
runs: index the split's shop images (every image of every product, as `video2shop index` does
with the manifest), then search each of the split's videos from the raw file (decode, detect,
track, crop, score) with the default pipeline settings or the overrides given. A video's rank is
the exact product's best rank over the trajectories found (what its report shows); a video where
nothing is found is a miss. Each mode reports the whole gallery and, under `within_category`, the
paper's Table 1 protocol: the rank among the products of the correct product's category (known in
advance; all products when it has none). Without `--detector` only the whole-frame mode runs;
with it, both modes run side by side.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import print_result
from video2shop.datasets.manifest import parse_manifest
from video2shop.pipeline.catalog import list_catalog
from video2shop.pipeline.config import load_pipeline_config, shot_settings, tracker_config
from video2shop.pipeline.detection import ClothingDetector
from video2shop.pipeline.gallery import Gallery, build_gallery
from video2shop.pipeline.trained_model import load_trained_model
from video2shop.pipeline.video_search import find_trajectories, rank_products

KS = (1, 5, 10, 20)


def _videos(data_dir: Path, split: str, limit: int) -> list[tuple[Path, set[str]]]:
    """(video path, its correct product ids) for every video of the split, in manifest order."""
    correct: dict[Path, set[str]] = {}
    for product in parse_manifest(data_dir, split):
        for video in product.video_paths:
            correct.setdefault(video, set()).add(product.product_id)
    videos = list(correct.items())
    return videos[:limit] if limit > 0 else videos


def _within_category_rank(results: list[dict], correct: set[str], category_of: dict[str, str | None]) -> float:
    """The best rank of a correct product among the products of its own category (all products when it has none)."""
    best = float("inf")
    for product in correct:
        category = category_of.get(product)
        seen = 0
        for hit in results:  # products in rank order
            if category is None or category_of.get(hit["product_id"]) == category:
                seen += 1
            if hit["product_id"] == product:
                best = min(best, seen)
                break
    return best


def _figures(ranks: list[float]) -> dict[str, float]:
    figures: dict[str, float] = {f"top{k}": round(100.0 * sum(r <= k for r in ranks) / len(ranks), 1) for k in KS}
    figures["median_rank"] = statistics.median(ranks)
    return figures


def _mode(
    name: str, videos: list[tuple[Path, set[str]]], trained, gallery, detector, settings, category_of
) -> dict[str, Any]:
    ranks, within, trajectories_per_video, start = [], [], [], time.perf_counter()
    search = settings.pipeline.search
    for video, correct in videos:
        _, trajectories = find_trajectories(
            str(video),
            trained,
            detector,
            tracker_config(settings),
            int(search.frame_stride),
            int(search.crop_capacity),
            length=settings.pipeline.trajectories.get("length"),
            shots=shot_settings(settings),
        )
        rank_products(
            trained, gallery, trajectories, topk=len(gallery.product_ids), shortlist_size=int(search.shortlist_size)
        )
        found = [hit["rank"] for t in trajectories for hit in t.results if hit["product_id"] in correct]
        ranks.append(min(found) if found else float("inf"))
        within.append(
            min((_within_category_rank(t.results, correct, category_of) for t in trajectories), default=float("inf"))
        )
        trajectories_per_video.append(len(trajectories))
    result: dict[str, Any] = _figures(ranks)
    result["within_category"] = _figures(within)
    result["no_trajectory_share"] = round(100.0 * sum(n == 0 for n in trajectories_per_video) / len(videos), 1)
    result["trajectories_per_video"] = round(sum(trajectories_per_video) / len(videos), 2)
    result["seconds_per_video"] = round((time.perf_counter() - start) / len(videos), 3)
    for label, figures in (("", result), (" in-category", result["within_category"])):
        print(
            f"{name + label:24s} "
            + "  ".join(f"top-{k} {figures[f'top{k}']:5.1f}%" for k in KS)
            + f"  median rank {figures['median_rank']}"
        )
    print(
        f"{name:24s} no trajectory {result['no_trajectory_share']}%"
        + f"  trajectories/video {result['trajectories_per_video']}  {result['seconds_per_video']} s/video"
    )
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmark.py search_accuracy", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, required=True, help="a video2shop-format folder (e.g. the synthetic dataset)"
    )
    parser.add_argument("--checkpoint", type=Path, required=True, help="an asymnet checkpoint (mmf_run's current.ckpt)")
    parser.add_argument("--detector", type=Path, default=None, help="a clothing_detector checkpoint")
    parser.add_argument("--split", default="test")
    parser.add_argument("--videos", type=int, default=0, help="search only the first N videos (0: all)")
    parser.add_argument("settings", nargs="*", help="pipeline overrides, e.g. pipeline.tracker.min_length=4")
    args = parser.parse_intermixed_args(argv)
    settings = load_pipeline_config(None, args.settings)
    videos = _videos(args.data, args.split, args.videos)
    trained = load_trained_model(args.checkpoint, "cpu")
    catalog = list_catalog(args.data / f"{args.split}.json")
    category_of = {item.product_id: item.category for item in catalog}
    with tempfile.TemporaryDirectory() as folder:
        gallery_dir = build_gallery(catalog, trained, Path(folder) / "gallery")
        gallery = Gallery(gallery_dir, args.checkpoint)
        print(
            f"{len(videos)} {args.split} videos against {len(set(gallery.product_ids))} products "
            f"({len(gallery.ids)} shop images)"
        )
        results = {
            "videos": len(videos),
            "products": len(set(gallery.product_ids)),
            "whole_frame": _mode("whole frame", videos, trained, gallery, None, settings, category_of),
        }
        if args.detector is not None:
            detector = ClothingDetector(args.detector, device="cpu")
            results["detector"] = _mode("detector", videos, trained, gallery, detector, settings, category_of)
    print_result(results)
    return 0
