"""pretrained_cosine (Table 1's AL): pretrained features, average cosine over frames, nothing trained or moved."""

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from mmf_ext.common.registry import registry
from mmf_ext.utils.configuration import load_yaml
from mmf_ext.utils.errors import ConfigError
from tests.helpers import torchvision_weights_file
from tests.video2shop.models.baselines.test_cosine_baselines import eval_batch, train_batch

NAME = "pretrained_cosine"


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return torchvision_weights_file(tmp_path_factory.mktemp("weights") / "resnet18.pth")


def build(pretrained, **ifn):
    defaults = load_yaml(registry.get_model_class(NAME).config_path()).model_config[NAME]
    ifn = {"backbone": "resnet18", "feature_dim": 16, "spp_levels": [1, 2], "pretrained": pretrained, **ifn}
    model = registry.get_model_class(NAME)(OmegaConf.merge(defaults, {"ifn": ifn}))
    model.build()
    return model


def coloured_split(queries=3, gallery=5, frames=4, size=24):
    """Queries and shop images of distinct solid colours (random features tell those apart, unlike noise)."""
    from mmf_ext.common.sample import Sample, SampleList

    generator = torch.Generator().manual_seed(5)
    colours = torch.randint(0, 255, (queries + gallery, 3, 1, 1), generator=generator)
    samples = [
        Sample(is_query=True, video=colours[i].expand(frames, 3, size, size).clone().to(torch.uint8))
        for i in range(queries)
    ]
    samples += [
        Sample(is_query=False, image=colours[queries + i].expand(3, size, size).clone().to(torch.uint8))
        for i in range(gallery)
    ]
    for sample in samples[:queries]:  # frames differ a little, so the mean over frames matters
        sample.video[1:] = (
            (sample.video[1:].int() + torch.randint(0, 60, sample.video[1:].shape, generator=generator))
            .clamp(max=255)
            .to(torch.uint8)
        )
    return SampleList(samples)


def split_features(model, batch):
    videos = torch.stack([v for v, q in zip(batch.video, batch.is_query) if q])
    images = torch.stack([i for i, q in zip(batch.image, batch.is_query) if not q])
    with torch.no_grad():
        frames = model.ifn(videos.flatten(0, 1)).view(*videos.shape[:2], -1)
        return frames, model.ifn(images)


def test_scores_are_the_mean_over_frames_of_the_cosine_and_rank_as_the_cosine_of_the_mean(weights):
    model = build(str(weights))
    batch = coloured_split()
    with torch.no_grad():
        scores = model.aggregate_eval_outputs(batch, model(batch))["scores"]
    frames, shop = split_features(model, batch)
    expected = torch.tensor(
        [[float(F.cosine_similarity(f, g[None], dim=-1).mean()) for g in shop] for f in frames]
    )  # the paper's "average similarity", pair by pair
    assert torch.allclose(scores, expected, atol=1e-5)
    assert (scores.max(1).values - scores.min(1).values > 1e-3).all()  # the scores tell the images apart
    # per query, |m| cos(m, g) for m the mean of the normalised frames: ranked as the cosine of the mean
    mean = F.normalize(frames, dim=-1).mean(1)
    cosine_of_mean = F.cosine_similarity(mean[:, None], shop[None], dim=-1)
    assert torch.allclose(scores, mean.norm(dim=-1, keepdim=True) * cosine_of_mean, atol=1e-5)


def test_the_ifn_is_the_pretrained_one_and_stays_frozen(weights):
    model = build(str(weights))
    saved = torch.load(weights, weights_only=True)
    assert torch.equal(model.ifn.backbone[0].weight, saved["conv1.weight"])  # read from the file
    model.train()  # what the trainer does: the IFN stays in eval mode (BatchNorm statistics do not move)
    assert not model.ifn.training and not any(p.requires_grad for p in model.parameters())
    before = {k: v.clone() for k, v in model.ifn.state_dict().items()}
    with torch.no_grad():
        model(eval_batch())
    assert all(torch.equal(before[k], v) for k, v in model.ifn.state_dict().items())
    assert model.weights_source() == f"model_config.{NAME}.ifn.pretrained={weights}"


def test_it_refuses_random_features_and_training_in_one_line(weights, monkeypatch):
    with pytest.raises(ConfigError, match=rf"model_config.{NAME}.ifn.pretrained is null") as error:
        build(None)
    assert "checkpoint.allow_untrained=true" in str(error.value) and "\n" not in str(error.value)
    model = build(str(weights))
    with pytest.raises(ConfigError, match="run it with run_type=test"):
        model.setup("fit")
    with pytest.raises(ConfigError, match="trains nothing"):
        model(train_batch())
    model.setup("test")  # evaluation is what it is for

    from video2shop.models.baselines import pretrained_cosine

    asked = {"checkpoint.allow_untrained": True}
    monkeypatch.setattr(pretrained_cosine, "get_global_config", lambda key=None: asked[key])
    random = build(None)  # asked for on purpose: random features, and no weights to vouch for
    assert random.weights_source() is None
