"""Every ablation and baseline overlay trains two steps and tests through mmf_run's entry on a tiny generated
dataset."""

import math

import pytest

from tests.helpers import REPO_ROOT, load_state

ABLATIONS = REPO_ROOT / "projects" / "video2shop" / "configs" / "ablations"


def _model(path):
    from mmf_ext.utils.configuration import load_yaml

    return load_yaml(path).get("model") or "asymnet"


CONFIGS = [(path.stem, _model(path)) for path in sorted(ABLATIONS.glob("*.yaml"))]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("baseline_runs")  # data and frame cache shared by the runs below


@pytest.mark.parametrize("stem, model", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_overlay_trains_and_tests_end_to_end(stem, model, data_root):
    from mmf_cli.run import run
    from mmf_ext.utils.configuration import load_yaml

    config = ABLATIONS / f"{stem}.yaml"
    save_dir = data_root / "runs" / stem
    results = run(
        [
            f"config={config}",
            f"model={model}",
            "dataset=synthetic_video2shop",
            "run_type=train_val_test",
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
        ]
    )
    test = results["test"]
    for k in (1, 5, 10, 20):
        assert 0.0 <= test[f"test/synthetic_video2shop/top{k}_accuracy"] <= 1.0
    assert math.isfinite(test["test/synthetic_video2shop/median_rank"])
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
