"""`video2shop make-synthetic`, `validate` and `prepare`: data sub-commands (exit 2 on bad input)."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from mmf_ext.utils.errors import UserError
from video2shop.cli.main import fail
from video2shop.datasets.synthetic import generate
from video2shop.datasets.validation import prepare_cache, validate_folder
from video2shop.wording import counted


def make_synthetic_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="video2shop make-synthetic", description="Write the synthetic Video2Shop dataset."
    )
    parser.add_argument("out", type=Path, help="new folder to write (must not exist)")
    parser.add_argument("--products", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--frames", type=int, default=24, help="frames per video")
    args = parser.parse_args(argv)
    if args.products < 4:
        error = UserError(f"--products={args.products}: need at least 4 products for train/val/test")
        return fail("make-synthetic", error)
    start = time.perf_counter()
    try:
        generate(args.out, products=args.products, seed=args.seed, frames=args.frames)
    except FileExistsError as error:
        return fail("make-synthetic", error)
    print(f"wrote {counted(args.products, 'product')} to {args.out} in {time.perf_counter() - start:.1f}s")
    return 0


def validate_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="video2shop validate", description="Check a dataset folder in the video2shop format."
    )
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--splits", nargs="+", default=["train", "val", "test"])
    parser.add_argument("--no-media", action="store_true", help="skip opening videos (frame bounds of boxes)")
    args = parser.parse_args(argv)
    try:
        problems, summary = validate_folder(args.data_dir, args.splits, check_media=not args.no_media)
    except UserError as error:
        return fail("validate", error)
    for line in summary:
        print(line)
    for problem in problems:
        print(f"problem: {problem}")
    print(f"{counted(len(problems), 'problem')} found in {args.data_dir}")
    return 1 if problems else 0


def prepare_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="video2shop prepare", description="Decode every video once into the frame cache."
    )
    parser.add_argument("data_dir", type=Path)
    parser.add_argument(
        "--dataset", default="video2shop", help="builder whose settings to use (video2shop, movingfashion, ...)"
    )
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("options", nargs="*", help="extra dataset_config overrides, e.g. num_frames=10")
    args = parser.parse_intermixed_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        summary = prepare_cache(args.data_dir, args.dataset, args.cache_dir, args.options)
    except UserError as error:
        return fail("prepare", error)
    print(summary)
    return 0
