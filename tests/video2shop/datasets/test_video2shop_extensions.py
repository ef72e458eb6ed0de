"""The video2shop format's optional extensions, on small hand-made folders.

Distractors, several shop images per product (`img_paths`), a category list of one's own,
`shop_boxes` crops, per-video `tracklets`, and how training negatives are drawn.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmf_ext.common.sample import SampleList
from tests.helpers import BACKGROUND, SQUARE, colour_of, dataset_config, image_name, write_folder
from video2shop.datasets.manifest import ManifestError
from video2shop.modules.retrieval_metrics import TopKRetrievalAccuracy
from video2shop.video.image_io import write_rgb


def product(image: str, videos: list[str], category: str | None = None, **extra) -> dict:
    entry = {"img_path": f"imgs/{image}.png", "video_paths": [f"videos/{v}.mp4" for v in videos], "source": 1, **extra}
    if category is not None:
        entry["category"] = category
    return entry


def evaluation_list(dataset) -> SampleList:
    return SampleList([{**dataset[i], "sample_index": i} for i in range(len(dataset))])


def scores_for(dataset, best: dict[str, int]) -> dict:
    """Per query (by id), the gallery position scored highest; every other item scores 0."""
    queries = list(range(len(dataset.queries)))
    gallery = [len(dataset.queries) + i for i in range(len(dataset.gallery))]
    scores = torch.zeros(len(queries), len(gallery))
    for row, query in enumerate(dataset.queries):
        scores[row, best[query["video"].stem]] = 1.0
        scores[row] += torch.linspace(0.1, 0.0, len(gallery))  # a strict order for the rest
    return {"scores": scores, "query_positions": torch.tensor(queries), "gallery_positions": torch.tensor(gallery)}


# -- distractors ---------------------------------------------------------------------------
@pytest.fixture
def with_distractors(tmp_path):
    train = {f"p{i}": product(f"p{i}", ["train"], "Dress") for i in range(3)}
    test = {"s1": product("s1", ["q1"], "Dress"), "s2": product("s2", ["q2"], "Top")}
    distractors = [
        {"id": "x1", "img_path": "imgs/x1.png", "category": "Dress"},
        {"id": "x2", "img_path": "imgs/x2.png", "category": "Top"},
    ]
    return write_folder(tmp_path / "data", {"train": train, "test": test}, distractors)


def test_distractors_are_gallery_only_never_answers_and_never_training_images(with_distractors, tmp_path):
    builder, config = dataset_config("video2shop", with_distractors, tmp_path / "cache", positives_per_trajectory=3)
    test = builder.load(config, "test")
    gallery_ids = [g[0] for g in test.gallery]
    assert sorted(gallery_ids) == ["s1", "s2", "x1", "x2"]
    assert all(not {"x1", "x2"} & set(q["targets"]) for q in test.queries)

    # a distractor scored first pushes the true answer to rank 2: it is a wrong answer, not a hit
    samples = evaluation_list(test)
    x1 = gallery_ids.index("x1")
    values = TopKRetrievalAccuracy(k=[1, 2]).calculate(
        samples, scores_for(test, {"q1": x1, "q2": gallery_ids.index("s2")})
    )
    assert values["top1_accuracy"].item() == 0.5 and values["top2_accuracy"].item() == 1.0

    train = builder.load(config, "train")
    palette = {name: colour_of(name) for name in ("p0", "p1", "p2", "x1", "x2")}
    torch.manual_seed(0)
    seen = {image_name(image, palette) for i in range(len(train)) for _ in range(5) for image in train[i].images}
    assert seen == {"p0", "p1", "p2"}  # positives and negatives, never a distractor


def test_a_distractor_with_a_product_id_is_rejected(with_distractors, tmp_path):
    (with_distractors / "distractors.json").write_text('[{"id": "s2", "img_path": "imgs/x1.png"}]')
    builder, config = dataset_config("video2shop", with_distractors, tmp_path / "cache")
    with pytest.raises(ManifestError, match=r"distractors.json: distractor id 's2' is also a product id in test.json"):
        builder.load(config, "test")


# -- several shop images per product -------------------------------------------------------
def test_every_shop_image_of_a_product_is_in_the_gallery_and_any_of_them_is_a_hit(tmp_path):
    test = {
        # img_path not among img_paths is added last; shop_boxes follow img_paths
        "s1": product(
            "s1_side",
            ["q1"],
            "Dress",
            img_paths=["imgs/s1_front.png", "imgs/s1_back.png"],
            shop_boxes=[[0, 0, 40, 40], None],
        ),
        "s2": product("s2", ["q2"], "Dress"),
        "s3": product("s3", ["q2"], "Dress"),  # q2 shows two products: both are correct answers
    }
    train = {
        "p0": product("p0", ["train"], "Dress", img_paths=["imgs/p0_a.png", "imgs/p0_b.png"]),
        "p1": product("p1", ["train"], "Dress"),
    }
    root = write_folder(tmp_path / "data", {"train": train, "test": test})
    builder, config = dataset_config("video2shop", root, tmp_path / "cache")
    dataset = builder.load(config, "test")
    rows = [(g[0], g[1].name, g[2]) for g in dataset.gallery]
    assert rows[:3] == [
        ("s1", "s1_front.png", [0.0, 0.0, 40.0, 40.0]),
        ("s1", "s1_back.png", None),
        ("s1", "s1_side.png", None),
    ]
    targets = {q["video"].stem: sorted(q["targets"]) for q in dataset.queries}
    assert targets == {"q1": ["s1"], "q2": ["s2", "s3"]}
    samples = evaluation_list(dataset)
    assert samples.target_ids[0] == ["s1"] and samples.gallery_id[2:5] == ["s1", "s1", "s1"]

    metric = TopKRetrievalAccuracy(k=[1])
    for image in range(3):  # whichever of s1's images is first, q1 hits at 1; so does q2 with s3 first
        values = metric.calculate(samples, scores_for(dataset, {"q1": image, "q2": 4}))
        assert values["top1_accuracy"].item() == 1.0
    values = metric.calculate(samples, scores_for(dataset, {"q1": 3, "q2": 0}))  # s2 first for q1, s1 first for q2
    assert values["top1_accuracy"].item() == 0.0

    train_set = builder.load(config, "train")
    palette = {name: colour_of(name) for name in ("p0_a", "p0_b", "p0", "p1")}
    torch.manual_seed(0)
    positives = {image_name(train_set[0].images[k], palette) for _ in range(12) for k in range(2)}
    assert positives == {"p0_a", "p0_b", "p0"}  # every shop image of the product serves as a positive


def test_more_shop_boxes_than_shop_images_is_a_one_line_error(tmp_path):
    test = {"s1": product("s1", ["q1"], img_paths=["imgs/a.png"], shop_boxes=[[0, 0, 5, 5], None, [1, 1, 4, 4]])}
    root = write_folder(tmp_path / "data", {"train": {}, "test": test})
    builder, config = dataset_config("video2shop", root, tmp_path / "cache")
    with pytest.raises(
        ManifestError, match=r"product 's1': shop_boxes must be a list with at most one box .* \(2 here\)"
    ):
        builder.load(config, "test")


# -- categories ----------------------------------------------------------------------------
def test_a_category_list_of_ones_own_indexes_products_and_drives_within_category_evaluation(tmp_path):
    train = {"p0": product("p0", ["train"], "Sneaker"), "p1": product("p1", ["train"], "Jacket")}
    test = {
        "s1": product("s1", ["q1"], "Jacket"),
        "s2": product("s2", ["q2"], "Sneaker"),
        "s3": product("s3", [], "Sneaker"),
    }
    root = write_folder(tmp_path / "data", {"train": train, "test": test})
    builder, config = dataset_config("video2shop", root, tmp_path / "cache", categories=["Jacket", "Sneaker"])
    assert [builder.load(config, "train")[i].category for i in range(2)] == [1, 0]
    dataset = builder.load(config, "test")
    samples = evaluation_list(dataset)
    assert samples.category.tolist() == [0, 1, 0, 1, 1] and samples.category_name[:2] == ["Jacket", "Sneaker"]
    # q2 (Sneaker): the Jacket s1 scores first, s3 second, s2 third; within the category s1 does not count
    output = scores_for(dataset, {"q1": 0, "q2": 0})
    output["scores"][1] = torch.tensor([0.9, 0.1, 0.5])
    values = TopKRetrievalAccuracy(k=[2]).calculate(samples, output)
    assert values["top2_accuracy"].item() == 0.5 and values["within_category/top2_accuracy"].item() == 1.0

    builder, config = dataset_config("video2shop", root, tmp_path / "cache")  # the paper's 14 have no Jacket
    with pytest.raises(
        ManifestError,
        match=r"product '(s1|p1)' has category 'Jacket', which is not in the paper's 14 "
        r"categories; set dataset_config.video2shop.categories",
    ):
        builder.load(config, "test")


# -- shop boxes and tracklets --------------------------------------------------------------
def test_shop_boxes_crop_the_item_and_null_keeps_the_whole_image(tmp_path):
    image = np.zeros((80, 80, 3), np.uint8)
    image[:] = (20, 20, 220)
    image[40:70, 10:50] = (230, 20, 20)
    root = tmp_path / "data"
    write_rgb(root / "imgs" / "s1.png", image)
    test = {"s1": product("s1", ["q1"], img_paths=["imgs/s1.png", "imgs/s1b.png"], shop_boxes=[[10, 40, 50, 70], None])}
    write_rgb(root / "imgs" / "s1b.png", image)
    write_folder(root, {"train": {}, "test": test})
    builder, config = dataset_config("video2shop", root, tmp_path / "cache", context_margin=0.0)
    dataset = builder.load(config, "test")
    boxed, whole = dataset[1].image.float(), dataset[2].image.float()
    assert boxed[0].mean() > 200 and boxed[2].mean() < 40  # only the red item
    assert whole[2].mean() > 100  # mostly the blue background


def test_each_video_of_a_product_uses_its_own_tracklet(tmp_path):
    videos = ["a", "b", "c"]
    entry = product("p0", videos, "Dress", tracklets=[SQUARE, BACKGROUND, None])
    root = write_folder(
        tmp_path / "data", {"train": {"p0": entry, "p1": product("p1", ["a"], "Dress")}, "test": {"p0": entry}}
    )
    builder, config = dataset_config("video2shop", root, tmp_path / "cache", context_margin=0.0)

    def redness(video: torch.Tensor) -> float:
        return float((video[:, 0].float() - video[:, 1].float()).mean())

    train = builder.load(config, "train")
    assert [(p, v.stem) for p, v, _ in train.items][:3] == [("p0", "a"), ("p0", "b"), ("p0", "c")]
    square, background, whole = (redness(train[i].video) for i in range(3))
    assert square > 120 and background < 20 and 20 < whole < square  # tracked item, noise, whole frame
    test = builder.load(config, "test")
    assert [redness(test[i].video) for i in range(3)] == pytest.approx([square, background, whole], abs=1)


# -- training negatives --------------------------------------------------------------------
@pytest.fixture
def categories_folder(tmp_path):
    train = {
        "d1": product("d1", ["train"], "Dress"),
        "d2": product("d2", ["train"], "Dress"),
        "d3": product("d3", ["train"], "Dress"),
        "t1": product("t1", ["train"], "Top"),
        "h1": product("h1", ["train"], "Hat"),
    }
    return write_folder(tmp_path / "data", {"train": train, "test": {}})


def drawn_negatives(dataset, product_id: str, draws: int = 10) -> list[str]:
    palette = {p: colour_of(p) for p in dataset.products}
    index = next(i for i, item in enumerate(dataset.items) if item[0] == product_id)
    torch.manual_seed(0)
    return [image_name(img, palette) for _ in range(draws) for img in dataset[index].images[dataset.positives :]]


def test_negatives_come_from_the_same_category_first_and_never_from_the_product(categories_folder, tmp_path):
    builder, config = dataset_config(
        "video2shop",
        categories_folder,
        tmp_path / "cache",
        positives_per_trajectory=4,
        same_category_negative_share=1.0,
    )
    train = builder.load(config, "train")
    dress = drawn_negatives(train, "d1")
    assert len(dress) == 40 and set(dress) == {"d2", "d3"}  # same category only, never d1 itself
    top = drawn_negatives(train, "t1")  # no other Top: falls back to the other categories
    assert "t1" not in top and set(top) == {"d1", "d2", "d3", "h1"}

    builder, config = dataset_config(
        "video2shop",
        categories_folder,
        tmp_path / "cache",
        positives_per_trajectory=4,
        same_category_negative_share=0.0,
    )
    mixed = drawn_negatives(builder.load(config, "train"), "d1")
    assert "d1" not in mixed and {"t1", "h1"} & set(mixed)  # the share is configurable
