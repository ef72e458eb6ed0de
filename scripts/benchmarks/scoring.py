"""Exact gallery scoring: naive per-pair network vs. the factorized engine (same scores).

python scripts/benchmark.py scoring [--gallery 10000] [--states 32] [--dim 512] [--queries 4]

Besides pairs/s it reports the machine's memory bandwidth (the sum of a large tensor) and the rate
at which the engine forms pre-activations (T x H per pair) as a fraction of it: above 1 means the
chunks are served from the caches, not from memory.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch

from benchmarks.common import print_result, timed, tree_of, untrained_asymnet
from video2shop.retrieval.scoring import naive_score_matrix
from video2shop.retrieval.search import search


def build_scorer(dim: int, states: int) -> torch.nn.Module:
    model = untrained_asymnet({"ifn": {"feature_dim": dim}, "vfn": {"hidden_dim": dim}, "tree": tree_of(states)})
    for gate in model.tree.gates:
        torch.nn.init.normal_(gate, std=0.1)
    return model.eval()


def memory_bandwidth(megabytes: int = 256) -> float:
    """Bytes per second the CPU reads from memory: the best of a few sums of a tensor far larger than the caches."""
    values = torch.ones(megabytes * 2**20 // 4)
    return values.numel() * 4 / timed(values.sum, repeats=5)


def same_top(exact: torch.Tensor, naive: torch.Tensor, k: int) -> bool:
    """Whether every query's k best items come in the same order (a full ranking of a large gallery holds
    items closer than float rounding, whose order no reordering of the arithmetic keeps)."""
    k = min(k, exact.shape[1])
    return bool(torch.equal(exact.topk(k, dim=1).indices, naive.topk(k, dim=1).indices))


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """The figures of one run: naive and exact pairs/s, their scores' difference, bandwidth use."""
    torch.manual_seed(0)
    scorer = build_scorer(args.dim, args.states)
    queries = torch.randn(args.queries, args.states, args.dim)
    gallery = torch.randn(args.gallery, args.dim)

    naive_gallery = gallery[: max(1, args.naive_pairs // args.queries)]
    naive_seconds = timed(lambda: naive_score_matrix(scorer, queries, naive_gallery), repeats=3)
    naive_rate = args.queries * naive_gallery.shape[0] / naive_seconds
    exact_seconds = timed(lambda: search(scorer, queries, gallery, memory_budget_mb=args.memory_budget_mb), repeats=3)
    exact_rate = args.queries * args.gallery / exact_seconds

    exact = search(scorer, queries, naive_gallery, memory_budget_mb=args.memory_budget_mb)
    naive = naive_score_matrix(scorer, queries, naive_gallery)
    bandwidth = memory_bandwidth()
    preactivation_bytes = exact_rate * args.states * scorer.ssn.fc1.out_features * 4  # per second
    return {
        "naive_pairs_per_s": round(naive_rate),
        "exact_pairs_per_s": round(exact_rate),
        "speedup": round(exact_rate / naive_rate, 2),
        "max_abs_diff": float((exact - naive).abs().max()),
        "same_top20": same_top(exact, naive, 20),
        "memory_gb_per_s": round(bandwidth / 1e9, 2),
        "preactivation_gb_per_s": round(preactivation_bytes / 1e9, 2),
        "bandwidth_fraction": round(preactivation_bytes / bandwidth, 3),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmark.py scoring")
    parser.add_argument("--gallery", type=int, default=10_000)
    parser.add_argument("--states", type=int, default=32)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=4)
    parser.add_argument("--naive-pairs", type=int, default=4_000, help="pairs timed on the naive path")
    parser.add_argument(
        "--memory-budget-mb", type=float, default=None, help="pre-activation block; default: the engine's (2 L2 caches)"
    )
    args = parser.parse_args(argv)
    result = measure(args)
    print(f"naive per-pair network : {result['naive_pairs_per_s']:12,.0f} pairs/s")
    print(
        f"factorized exact engine: {result['exact_pairs_per_s']:12,.0f} pairs/s  "
        f"({args.queries} queries x {args.gallery} gallery, T={args.states}, dim={args.dim})"
    )
    print(
        f"speedup {result['speedup']:.1f}x, max |exact - naive| = {result['max_abs_diff']:.2e}, "
        f"same top 20: {result['same_top20']}"
    )
    print(
        f"pre-activations formed at {result['preactivation_gb_per_s']:.1f} GB/s = "
        f"{result['bandwidth_fraction']:.2f}x the memory bandwidth ({result['memory_gb_per_s']:.1f} GB/s, "
        "sum of 256 MB; above 1: from cache)"
    )
    print_result({"benchmark": "scoring", **result, "gallery": args.gallery, "states": args.states, "dim": args.dim})
    return 0
