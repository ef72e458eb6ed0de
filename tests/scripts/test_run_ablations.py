"""run_ablations.py runs configs through mmf_run and writes a markdown table; every ablation config builds."""

import pytest

from mmf_ext.utils.build import build_model
from mmf_ext.utils.configuration import build_config, load_yaml
from mmf_ext.utils.errors import ConfigError
from tests.helpers import REPO_ROOT, torchvision_weights_file

ABLATIONS = sorted((REPO_ROOT / "projects" / "video2shop" / "configs" / "ablations").glob("*.yaml"))
CONFIGS = [
    REPO_ROOT / "projects" / "video2shop" / "configs" / n
    for n in ("asymnet.yaml", "asymnet_paper.yaml", "category_finetune.yaml")
] + ABLATIONS


FROZEN_FEATURES = ("pretrained_cosine", "category_similarity")  # Table 1's AL and FT need ifn.pretrained


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return torchvision_weights_file(tmp_path_factory.mktemp("weights") / "resnet18.pth")


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_every_config_composes_and_its_model_builds(config, tmp_path, weights):
    name = load_yaml(config).get("model") or "asymnet"  # baseline overlays name their model
    options = [f"config={config}", f"model={name}", "dataset=synthetic_video2shop", f"env.data_dir={tmp_path}"]
    if name in FROZEN_FEATURES:  # without weights it stops in one line; with them it builds
        with pytest.raises(ConfigError, match=rf"model_config.{name}.ifn.pretrained is null"):
            build_model(build_config(options))
        ifn = f"model_config.{name}.ifn"
        options += [f"{ifn}.backbone=resnet18", f"{ifn}.pretrained={weights}"]
    composed = build_config(options)
    if composed.model_config[name].ifn.backbone == "vgg16":
        return  # building VGG16 for every Fig. 4 variant is slow; one build is checked below
    model = build_model(composed)
    assert model.config is composed.model_config[name] and model.config.model == name


def test_the_paper_config_builds_vgg16_with_a_32_leaf_five_level_tree():
    composed = build_config([f"config={CONFIGS[1]}", "model=asymnet", "dataset=synthetic_video2shop"])
    model = build_model(composed)
    assert model.num_leaves == 32 and [g.shape[0] for g in model.tree.gates] == [32, 16, 8, 4, 2]
    assert composed.training.early_stop.criteria == "val/synthetic_video2shop/within_category/median_rank"


@pytest.mark.parametrize("config", [p for p in ABLATIONS if p.stem.startswith("paper_tree")], ids=lambda p: p.stem)
def test_every_paper_tree_variant_builds_its_32_leaf_tree_and_scores(config, tmp_path):
    """The shapes of Fig. 4 on the paper settings, built on the tiny backbone (VGG16 is built once above)."""
    import torch

    options = [f"config={config}", "model=asymnet", "dataset=synthetic_video2shop", f"env.data_dir={tmp_path}"]
    small_ifn = ["model_config.asymnet.ifn.backbone=tiny", "model_config.asymnet.ifn.vgg_fc=false"]
    composed = build_config([*options, *small_ifn])
    branches = list(load_yaml(config).model_config.asymnet.tree)
    model = build_model(composed).eval()
    assert model.num_leaves == 32 and len(model.tree.gates) == len(branches)
    states = torch.randn(3, 1, 32, composed.model_config.asymnet.vfn.hidden_dim)
    with torch.no_grad():
        scores = model.score_pairs(states[:, 0], torch.randn(3, model.ifn.feature_dim))
    assert scores.shape == (3,) and bool(((scores > 0) & (scores < 1)).all())


def test_run_ablations_writes_a_table(tmp_path):
    import sys

    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    import run_ablations

    out = tmp_path / "table.md"
    configs = [str(CONFIGS[0]), str(REPO_ROOT / "projects/video2shop/configs/ablations/fusion_avg.yaml")]
    run_ablations.main(
        [
            *configs,
            "--dataset",
            "synthetic_video2shop",
            "--out",
            str(out),
            "--save-root",
            str(tmp_path / "runs"),
            f"env.data_dir={tmp_path / 'data'}",
            f"env.cache_dir={tmp_path / 'cache'}",
            "dataset_config.synthetic_video2shop.products=8",
            "dataset_config.synthetic_video2shop.video_frames=8",
            "dataset_config.synthetic_video2shop.image_size=32",
            "training.max_updates=4",
            "training.batch_size=2",
            "training.num_workers=0",
            "training.progress_bar=false",
            "training.evaluation_interval=4",
            "training.checkpoint_interval=4",
        ]
    )
    text = out.read_text()
    assert "| asymnet |" in text and "| fusion_avg |" in text and "top-20" in text
    assert "in-category top-1" in text and "in-category median rank" in text  # both protocols, side by side
    row = next(line for line in text.splitlines() if line.startswith("| asymnet |"))
    assert len(row.split("|")) == 2 + 1 + 2 * 5 and "nan" not in row


def test_run_ablations_takes_the_model_a_config_names():
    import sys

    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    import run_ablations

    ablations = REPO_ROOT / "projects/video2shop/configs/ablations"
    assert run_ablations.config_model(str(ablations / "baseline_rc.yaml"), "asymnet") == "contrastive_softmax"
    assert run_ablations.config_model(str(ablations / "baseline_infonce.yaml"), "asymnet") == "infonce_dual_encoder"
    assert run_ablations.config_model(str(ablations / "repr_vlad.yaml"), "asymnet") == "asymnet"


def test_a_reused_run_gives_both_protocols_and_a_test_only_baseline_is_found_and_run_as_a_test(tmp_path):
    import json
    import sys

    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    import run_ablations

    ablations = REPO_ROOT / "projects/video2shop/configs/ablations"
    assert run_ablations.config_run_type(str(ablations / "baseline_al.yaml")) == "test"
    assert run_ablations.config_run_type(str(ablations / "baseline_ft.yaml")) == "train_val_test"
    report = {
        "overall": {"top1_accuracy": 0.25, "median_rank": 3.0},
        "within_category": {"overall": {"top1_accuracy": 0.5}},
    }
    folder = tmp_path / "baseline_al" / "test" / "2026-01-01_00-00-00" / "reports"  # a run_type=test save dir
    folder.mkdir(parents=True)
    (folder / "test_retrieval.json").write_text(json.dumps(report))
    assert run_ablations.finished_results(tmp_path / "baseline_al", "d") == {
        "test/d/top1_accuracy": 0.25,
        "test/d/median_rank": 3.0,
        "test/d/within_category/top1_accuracy": 0.5,
    }


def test_a_model_config_option_goes_to_that_models_runs_only():
    import sys

    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    import run_ablations

    options = [
        "training.max_updates=5",
        "model_config.pretrained_cosine.ifn.pretrained=w.pth",
        "+model_config.asymnet.x=1",
    ]
    models = {"asymnet", "pretrained_cosine"}
    assert run_ablations.overrides_for("asymnet", options, models) == [options[0], options[2]]
    assert run_ablations.overrides_for("pretrained_cosine", options, models) == options[:2]
    with pytest.raises(SystemExit, match="no config here runs model=category_similarity"):
        run_ablations.overrides_for("asymnet", ["model_config.category_similarity.hidden=8"], models)
