"""Exact gallery scoring: naive per-pair network vs. the factorized engine (same scores).

python scripts/benchmark.py scoring [--gallery 10000] [--states 32] [--dim 512] [--queries 4]
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.common import print_result, timed, tree_of, untrained_asymnet
from video2shop.retrieval.scoring import naive_score_matrix
from video2shop.retrieval.search import search


def build_scorer(dim: int, states: int) -> torch.nn.Module:
    model = untrained_asymnet({"ifn": {"feature_dim": dim}, "vfn": {"hidden_dim": dim}, "tree": tree_of(states)})
    for gate in model.tree.gates:
        torch.nn.init.normal_(gate, std=0.1)
    return model.eval()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmark.py scoring")
    parser.add_argument("--gallery", type=int, default=10_000)
    parser.add_argument("--states", type=int, default=32)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=4)
    parser.add_argument("--naive-pairs", type=int, default=4_000, help="pairs timed on the naive path")
    parser.add_argument("--memory-budget-mb", type=float, default=None, help="default: the engine's (16 MB on CPU)")
    args = parser.parse_args(argv)
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
    diff = float((exact - naive).abs().max())
    print(f"naive per-pair network : {naive_rate:12,.0f} pairs/s")
    print(
        f"factorized exact engine: {exact_rate:12,.0f} pairs/s  "
        f"({args.queries} queries x {args.gallery} gallery, T={args.states}, dim={args.dim})"
    )
    print(f"speedup {exact_rate / naive_rate:.1f}x, max |exact - naive| = {diff:.2e}")
    print_result(
        {
            "benchmark": "scoring",
            "naive_pairs_per_s": round(naive_rate),
            "exact_pairs_per_s": round(exact_rate),
            "speedup": round(exact_rate / naive_rate, 2),
            "max_abs_diff": diff,
            "gallery": args.gallery,
            "states": args.states,
            "dim": args.dim,
        }
    )
    return 0
