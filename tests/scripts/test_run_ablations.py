"""run_ablations.py runs configs through mmf_run and writes a markdown table; every ablation config builds."""

import pytest

from mmf_ext.utils.build import build_model
from mmf_ext.utils.configuration import build_config, load_yaml
from tests.helpers import REPO_ROOT

ABLATIONS = sorted((REPO_ROOT / "projects" / "video2shop" / "configs" / "ablations").glob("*.yaml"))
CONFIGS = [
    REPO_ROOT / "projects" / "video2shop" / "configs" / n
    for n in ("asymnet.yaml", "asymnet_paper.yaml", "category_finetune.yaml")
] + ABLATIONS


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_every_config_composes_and_its_model_builds(config, tmp_path):
    name = load_yaml(config).get("model") or "asymnet"  # baseline overlays name their model
    composed = build_config(
        [f"config={config}", f"model={name}", "dataset=synthetic_video2shop", f"env.data_dir={tmp_path}"]
    )
    if composed.model_config[name].ifn.backbone == "vgg16":
        return  # building VGG16 for every Fig. 4 variant is slow; one build is checked below
    model = build_model(composed)
    assert model.config is composed.model_config[name] and model.config.model == name


def test_the_paper_config_builds_vgg16_with_a_32_leaf_five_level_tree():
    composed = build_config([f"config={CONFIGS[1]}", "model=asymnet", "dataset=synthetic_video2shop"])
    model = build_model(composed)
    assert model.num_leaves == 32 and [g.shape[0] for g in model.tree.gates] == [32, 16, 8, 4, 2]
    assert composed.evaluation.metrics[0].params.within_category is True


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


def test_run_ablations_takes_the_model_a_config_names():
    import sys

    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    import run_ablations

    ablations = REPO_ROOT / "projects/video2shop/configs/ablations"
    assert run_ablations.config_model(str(ablations / "baseline_rc.yaml"), "asymnet") == "contrastive_softmax"
    assert run_ablations.config_model(str(ablations / "baseline_infonce.yaml"), "asymnet") == "infonce_dual_encoder"
    assert run_ablations.config_model(str(ablations / "repr_vlad.yaml"), "asymnet") == "asymnet"
