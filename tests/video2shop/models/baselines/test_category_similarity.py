"""category_similarity (Table 1's FT): one two-layer network per category on frozen features, chosen by category."""

import math

import pytest
import torch
from omegaconf import OmegaConf

from mmf_ext.common.registry import registry
from mmf_ext.common.sample import Sample, SampleList
from mmf_ext.utils.configuration import load_yaml
from mmf_ext.utils.errors import ConfigError
from tests.helpers import torchvision_weights_file
from tests.video2shop.models.baselines.test_cosine_baselines import train_batch
from tests.video2shop.models.baselines.test_pretrained_cosine import coloured_split
from video2shop.retrieval.scoring import naive_score_matrix

NAME = "category_similarity"
CATEGORIES = 3


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return torchvision_weights_file(tmp_path_factory.mktemp("weights") / "resnet18.pth")


def build(pretrained, **overrides):
    defaults = load_yaml(registry.get_model_class(NAME).config_path()).model_config[NAME]
    ifn = {"backbone": "resnet18", "feature_dim": 16, "spp_levels": [1, 2], "pretrained": pretrained}
    config = OmegaConf.merge(defaults, {"ifn": ifn, "hidden": 8, "num_categories": CATEGORIES}, overrides)
    torch.manual_seed(0)
    model = registry.get_model_class(NAME)(config)
    model.build()
    return model


def with_categories(batch, query_categories, gallery_category=0):
    samples = []
    queries = iter(query_categories)
    for i in range(len(batch.is_query)):
        if batch.is_query[i]:
            samples.append(Sample(is_query=True, video=batch.video[i], category=next(queries)))
        else:
            samples.append(Sample(is_query=False, image=batch.image[i], category=gallery_category))
    return SampleList(samples)


def coloured_training_batch(n=3, frames=3, size=24):
    """Items whose video and S = 2 positives share a colour, negatives of other colours: learnable from features."""
    generator = torch.Generator().manual_seed(9)
    colours = torch.randint(0, 255, (2 * n, 3, 1, 1), generator=generator).to(torch.uint8)
    video = torch.stack([colours[i].expand(frames, 3, size, size) for i in range(n)])
    images = torch.stack(
        [
            torch.stack([colours[i], colours[i], colours[n + i], colours[(i + 1) % n]]).expand(4, 3, size, size)
            for i in range(n)
        ]
    )
    return SampleList(
        {
            "video": video.clone(),
            "images": images.clone(),
            "labels": torch.tensor([[1.0, 1.0, 0.0, 0.0]] * n),
            "product_id": [f"p{i}" for i in range(n)],
            "category": torch.tensor([0, 1, -1][:n]),
        }
    )


def test_each_query_is_scored_by_its_categorys_network(weights):
    model = build(str(weights))
    model.eval()
    batch = with_categories(coloured_split(queries=3, gallery=5), [0, 2, -1])
    with torch.no_grad():
        output = model(batch)
        scores = model.aggregate_eval_outputs(batch, output)["scores"]
        states = torch.stack(output["query_states"][:3])
        gallery = torch.stack(output["gallery_features"][3:])
        by_network = [naive_score_matrix(network, states, gallery) for network in model.networks]
    assert len(model.networks) == CATEGORIES + 1  # one per category, one for any category
    for query, network in enumerate([0, 2, CATEGORIES]):  # -1: the any-category network
        assert torch.allclose(scores[query], by_network[network][query], atol=1e-5)
        others = [n for n in range(CATEGORIES + 1) if n != network]
        assert all(not torch.allclose(scores[query], by_network[n][query], atol=1e-4) for n in others)
    assert ((scores > 0) & (scores < 1)).all()  # average similarities
    with torch.no_grad():  # no categories to go by (score_gallery): the any-category network for all
        assert torch.allclose(model.score_gallery(states, states.mean(1), gallery), by_network[CATEGORIES], atol=1e-5)


def test_a_training_item_trains_its_categorys_network_and_the_shared_one_only(weights):
    model = build(str(weights))
    batch = train_batch(n=2, pairs=4, frames=3)
    batch["category"] = torch.tensor([2, -1])  # one known category, one unknown
    output = model(batch)
    sum(output["losses"].values()).backward()
    touched = [n for n, network in enumerate(model.networks) if network.fc1.weight.grad is not None]
    assert touched == [2, CATEGORIES]
    assert output["scores"].shape == (2, 4)
    with pytest.raises(ConfigError, match=rf"model_config.{NAME}.num_categories=3 is below the dataset's category"):
        batch["category"] = torch.tensor([3, 0])
        model(batch)


def test_the_networks_learn_on_a_tiny_batch_while_the_ifn_stays_frozen(weights):
    model = build(str(weights), hidden=32)
    model.train()  # what the trainer does: the IFN stays in eval mode, so BatchNorm statistics do not move
    assert not model.ifn.training and model.networks.training
    assert not any(p.requires_grad for p in model.ifn.parameters())
    parameters = model.get_optimizer_parameters(None)
    assert {id(p) for p in parameters} == {id(p) for p in model.networks.parameters()}
    before = {k: v.clone() for k, v in model.ifn.state_dict().items()}
    batch = coloured_training_batch()
    optimizer = torch.optim.Adam(parameters, lr=3e-2)
    losses = []
    for _ in range(40):
        loss = sum(model(batch)["losses"].values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.5 * losses[0]
    assert all(torch.equal(before[k], v) for k, v in model.ifn.state_dict().items())


def test_it_needs_pretrained_features(weights):
    with pytest.raises(ConfigError, match=rf"model_config.{NAME}.ifn.pretrained is null") as error:
        build(None)
    assert "\n" not in str(error.value)
    assert build(str(weights)).weights_source() is None  # its networks still need training or a checkpoint
