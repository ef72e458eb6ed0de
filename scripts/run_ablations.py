"""Run a list of configs and write a markdown table of their test top-k accuracy.

    python scripts/run_ablations.py projects/video2shop/configs/asymnet.yaml \
        projects/video2shop/configs/ablations/*.yaml --dataset synthetic_video2shop \
        [--model asymnet] [--out save/ablations.md] [--save-root save/ablations] [key=value ...]

Each config runs through mmf_run's programmatic entry with its run_type (train, then test; a
baseline that trains nothing, as baseline_al.yaml, tests only); extra key=value
options apply to every run (e.g. training.max_updates=200 for a quick look), except that
`model_config.<model>.*` ones apply to that model's runs only (e.g. the AL and FT baselines'
`ifn.pretrained`). A config that names its model (`model: contrastive_softmax`, as the baseline
overlays do) runs that model; the others run --model. The table gives the whole-gallery figures
and, beside them, the within-category ones (the paper's Table 1 protocol).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from mmf_cli.run import run  # noqa: E402  (the tree's framework, found through the path above)
from mmf_ext.utils.configuration import load_yaml  # noqa: E402
from mmf_ext.utils.file_io import atomic_write_text  # noqa: E402


def table(rows: list[tuple[str, dict[str, float]]], dataset: str, ks: tuple[int, ...] = (1, 5, 10, 20)) -> str:
    """Test top-k (%) and median rank per variant: whole gallery, then within category beside it (Table 1's)."""
    columns = [f"top-{k}" for k in ks] + ["median rank"]
    header = columns + [f"in-category {column}" for column in columns]
    lines = ["| variant | " + " | ".join(header) + " |", "|" + " --- |" * (len(header) + 1)]
    for name, metrics in rows:
        cells = []
        for prefix in ("", "within_category/"):
            cells += [f"{100 * metrics.get(f'test/{dataset}/{prefix}top{k}_accuracy', float('nan')):.2f}" for k in ks]
            cells.append(f"{metrics.get(f'test/{dataset}/{prefix}median_rank', float('nan')):.1f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def config_model(config: str, default: str) -> str:
    """The model a config file names with `model:` (after its includes), else the default."""
    named = load_yaml(config).get("model")
    return str(named) if named else default


def config_run_type(config: str) -> str:
    """The run type a config names (after its includes; `test` for a baseline that trains nothing), else
    train_val_test."""
    named = load_yaml(config).get("run_type")
    return str(named) if named else "train_val_test"


def finished_results(save_dir: Path, dataset: str) -> dict[str, float] | None:
    """The overall test figures of a finished run (both protocols), read back from its retrieval report."""
    report = save_dir / "reports" / "test_retrieval.json"
    if not report.is_file():  # a run that trains nothing (run_type=test) reports under test/<date>_<time>/
        test_runs = sorted(save_dir.glob("test/*/reports/test_retrieval.json"))
        if not test_runs:
            return None
        report = test_runs[-1]
    report = json.loads(report.read_text())
    figures = {}
    for prefix, section in (("", report), ("within_category/", report.get("within_category", {}))):
        for key, value in section.get("overall", {}).items():
            if isinstance(value, (int, float)):
                figures[f"test/{dataset}/{prefix}{key}"] = float(value)
    return figures


def overrides_for(model: str, overrides: list[str], models: set[str]) -> list[str]:
    """The key=value options of one run: all of them, but `model_config.<other model>.*` only in that model's runs.

    So one call can pass, say, the AL and FT baselines their `ifn.pretrained`; an option for a model no
    config runs is a mistake (a typo would otherwise apply nowhere), named in one line.
    """
    kept = []
    for option in overrides:
        key = option.split("=", 1)[0].lstrip("+")
        parts = key.split(".")
        if len(parts) > 1 and parts[0] == "model_config":
            if parts[1] not in models:
                raise SystemExit(f"run_ablations.py: {option}: no config here runs model={parts[1]}")
            if parts[1] != model:
                continue
        kept.append(option)
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run_ablations.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", nargs="+", help="config files, then optional key=value overrides")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--model", default="asymnet", help="model of the configs that do not name one with `model:`")
    parser.add_argument("--out", type=Path, default=Path("save/ablations.md"))
    parser.add_argument("--save-root", type=Path, default=Path("save/ablations"))
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="take a variant's figures from its finished run (<save-root>/<name>/reports/test_retrieval.json) "
        "instead of running it again",
    )
    args = parser.parse_intermixed_args(argv)
    configs = [c for c in args.configs if "=" not in c]
    overrides = [c for c in args.configs if "=" in c]
    models = {config_model(config, args.model) for config in configs}
    overrides_for(args.model, overrides, models)  # a model_config option for no config's model: before any run

    rows = []
    for config in configs:
        name = Path(config).stem
        print(f"== {name}", flush=True)
        finished = finished_results(args.save_root / name, args.dataset) if args.reuse else None
        if finished is not None:
            rows.append((name, finished))
            continue
        model = config_model(config, args.model)
        opts = [
            f"config={config}",
            f"model={model}",
            f"dataset={args.dataset}",
            f"run_type={config_run_type(config)}",
            f"env.save_dir={args.save_root / name}",
            *overrides_for(model, overrides, models),
        ]
        results = run(opts)
        rows.append((name, results.get("test", {})))
        text = table(rows, args.dataset)
        atomic_write_text(
            args.out,
            f"# Ablations on {args.dataset}\n\nTest top-k accuracy (%), whole gallery and within category.\n\n{text}\n",
        )
    print(table(rows, args.dataset))
    print(f"table written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
