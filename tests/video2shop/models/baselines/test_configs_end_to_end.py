"""Every ablation and baseline overlay trains two steps (or, for one that trains nothing, only tests) through
mmf_run's entry on a tiny generated dataset; both protocols are reported."""

import math

import pytest
import torch

from mmf_ext.utils.errors import ConfigError
from tests.helpers import REPO_ROOT, last_run, load_state, torchvision_weights_file

ABLATIONS = REPO_ROOT / "projects" / "video2shop" / "configs" / "ablations"


def _model(path):
    from mmf_ext.utils.configuration import load_yaml

    return load_yaml(path).get("model") or "asymnet"


# The Fig. 4 tree variants on the paper settings differ only in the tree's shape: one runs end to end here (VGG16,
# 32 leaves), and every shape builds and scores in tests/scripts/test_run_ablations.py.
PAPER_TREE_RUN = "paper_tree_4_8"
CONFIGS = [
    (path.stem, _model(path))
    for path in sorted(ABLATIONS.glob("*.yaml"))
    if not path.stem.startswith("paper_tree") or path.stem == PAPER_TREE_RUN
]
FROZEN_FEATURES = ("pretrained_cosine", "category_similarity")  # Table 1's AL and FT: they need ifn.pretrained


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("baseline_runs")  # data and frame cache shared by the runs below


def pretrained_options(model, data_root):
    """A local weights file for the frozen-feature baselines (the tiny backbone has none to load)."""
    if model not in FROZEN_FEATURES:
        return []
    weights = data_root / "resnet18.pth"
    if not weights.is_file():
        torchvision_weights_file(weights)
    return [f"model_config.{model}.ifn.backbone=resnet18", f"model_config.{model}.ifn.pretrained={weights}"]


@pytest.mark.parametrize("stem, model", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_overlay_trains_and_tests_end_to_end(stem, model, data_root):
    from mmf_cli.run import run
    from mmf_ext.utils.configuration import load_yaml

    config = ABLATIONS / f"{stem}.yaml"
    save_dir = data_root / "runs" / stem
    run_type = load_yaml(config).run_type  # train_val_test, or test for a baseline that trains nothing
    results = run(
        [
            f"config={config}",
            f"model={model}",
            "dataset=synthetic_video2shop",
            f"run_type={run_type}",
            f"env.save_dir={save_dir}",
            f"env.data_dir={data_root / 'data'}",
            f"env.cache_dir={data_root / 'cache'}",
            "dataset_config.synthetic_video2shop.products=8",
            "dataset_config.synthetic_video2shop.video_frames=8",
            "dataset_config.synthetic_video2shop.image_size=32",
            "training.max_updates=2",
            "training.batch_size=2",
            "training.num_workers=0",
            "training.progress_bar=false",
            "training.evaluation_interval=2",
            "training.checkpoint_interval=2",
            "dataset_config.synthetic_video2shop.num_frames=4",
            *(["model_config.asymnet.encoding.fit_samples=64"] if model == "asymnet" else []),
            # the paper's VGG16 fc6 over the whole pyramid is 147M weights (2 GB checkpoints with AdamW's state);
            # one pyramid level keeps the same SPP -> fc6 -> fc7 path at 2M
            *(["model_config.asymnet.ifn.spp_levels=[1]"] if stem.startswith("paper_tree") else []),
            *pretrained_options(model, data_root),
        ]
    )
    test = results["test"]
    for prefix in ("", "within_category/"):  # whole gallery, then within category (never worse)
        for k in (1, 5, 10, 20):
            assert 0.0 <= test[f"test/synthetic_video2shop/{prefix}top{k}_accuracy"] <= 1.0
        assert math.isfinite(test[f"test/synthetic_video2shop/{prefix}median_rank"])
    assert (
        test["test/synthetic_video2shop/within_category/median_rank"] <= test["test/synthetic_video2shop/median_rank"]
    )
    if run_type == "test":  # nothing trained: no checkpoint, the run's folder is test/<date>_<time>/
        run_dir = last_run(save_dir, "test")
        assert load_yaml(run_dir / "config.yaml").model == model
        assert (run_dir / "reports" / "test_retrieval.md").is_file()
        return
    assert load_yaml(save_dir / "config.yaml").model == model
    state = load_state(save_dir / "current.ckpt")
    if stem in (
        "repr_fisher_vector",
        "repr_vlad",
    ):  # PCA and codebooks were fitted when training started, and are saved
        assert bool(state["encoding.fitted"])
        kind = "SoftFisherVector" if stem == "repr_fisher_vector" else "SoftVLAD"
        assert (
            f"encoding: fitted {kind} (PCA 64, 16 clusters) on 64 training regions"
            in (save_dir / "train.log").read_text()
        )
    elif model != "asymnet":
        assert not any(key.startswith(("vfn.", "ssn.", "tree.")) for key in state)
    if model in FROZEN_FEATURES:  # trained on frozen features: the IFN is the pretrained file's
        assert state["ifn.backbone.0.weight"].equal(
            torch.load(data_root / "resnet18.pth", weights_only=True)["conv1.weight"]
        )


@pytest.mark.parametrize("model", FROZEN_FEATURES)
def test_a_frozen_feature_baseline_without_pretrained_weights_stops_in_one_line(model, data_root):
    from mmf_cli.run import run

    stem = "baseline_al" if model == "pretrained_cosine" else "baseline_ft"
    with pytest.raises(ConfigError, match=rf"model_config.{model}.ifn.pretrained is null") as error:
        run(
            [
                f"config={ABLATIONS / stem}.yaml",
                f"model={model}",
                "dataset=synthetic_video2shop",
                f"env.save_dir={data_root / 'refused'}",
                f"env.data_dir={data_root / 'data'}",
            ]
        )
    assert "\n" not in str(error.value)
