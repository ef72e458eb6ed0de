"""AsymNet's training signal: phase schedule, IFN pretraining, Alg. 1 alternation, ranking loss, hard negatives."""

import pytest
import torch
from omegaconf import OmegaConf

from mmf_ext.common.sample import SampleList
from mmf_ext.utils.errors import ConfigError
from tests.video2shop.models.asymnet.test_model import DEFAULTS, build, train_batch
from video2shop.models.asymnet.training_signal import PhaseSchedule, hard_negative_positions, pair_loss


def schedule(**overrides) -> PhaseSchedule:
    return PhaseSchedule.from_config(OmegaConf.merge(DEFAULTS, overrides))


def with_products(batch: SampleList, ids: list[str]) -> SampleList:
    batch["product_id"] = ids
    return batch


def test_schedule_runs_pretrain_then_ssn_then_fusion():
    plan = schedule(ifn_pretraining={"until": 0.25}, fusion_start=0.75)
    assert [plan.at(p) for p in (0.0, 0.24, 0.25, 0.74, 0.75, 0.99)] == [
        "pretrain",
        "pretrain",
        "ssn",
        "ssn",
        "fusion",
        "fusion",
    ]
    alternate = schedule(ifn_pretraining={"until": 0.5}, two_step="alternate")
    assert [alternate.at(p) for p in (0.1, 0.6)] == ["pretrain", "alternate"]
    assert schedule(phase="ssn").at(0.9) == "ssn"  # no pretraining: the paper's recipe


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"ifn_pretraining": {"until": 0.8}, "fusion_start": 0.75}, "fusion_start"),
        ({"ifn_pretraining": {"until": 1.0}}, "ifn_pretraining.until"),
        ({"two_step": "interleaved"}, "two_step"),
        ({"ifn_pretraining": {"until": 0.2, "loss": "triplet"}}, "ifn_pretraining.loss"),
        ({"ifn_pretraining": {"afterwards": "thaw"}}, "ifn_pretraining.afterwards"),
        ({"pair_loss": "hinge"}, "pair_loss"),
        ({"hard_negatives": 2, "approximate_training": False}, "hard_negatives"),
    ],
)
def test_bad_training_signal_settings_are_one_line_naming_the_key(overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as error:
        build(**overrides)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("loss", ["contrastive", "infonce"])
def test_pretraining_phase_trains_the_ifn_alone(loss, monkeypatch):
    model = build(ifn_pretraining={"until": 0.5, "loss": loss})
    monkeypatch.setattr(model, "current_phase", lambda: "pretrain")
    output = model(with_products(train_batch(), ["a", "b"]))
    assert set(output["losses"]) == {"ifn_pretraining_loss"}
    sum(output["losses"].values()).backward()
    assert all(p.grad is not None for p in model.ifn.parameters() if p.requires_grad)
    assert all(p.grad is not None for p in model.pretrain_head.parameters())
    assert all(p.grad is None for p in model.ssn.parameters())
    assert all(p.grad is None for p in model.vfn.parameters())
    assert not model.selectable_as_best()  # its similarity network is untrained


def test_pretraining_improves_its_own_objective():
    """A few updates of phase pretrain on one batch lower the loss: the objective is wired to the IFN."""
    torch.manual_seed(0)
    model = build(ifn_pretraining={"until": 0.5})
    model.current_phase = lambda: "pretrain"
    batch = with_products(train_batch(), ["a", "b"])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        loss = model(batch)["losses"]["ifn_pretraining_loss"]
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0]


def test_frozen_ifn_gets_no_gradient_after_pretraining(monkeypatch):
    model = build(ifn_pretraining={"until": 0.5, "afterwards": "freeze"})
    monkeypatch.setattr(model, "current_phase", lambda: "ssn")
    sum(model(train_batch())["losses"].values()).backward()
    assert all(p.grad is None for p in model.ifn.parameters())
    assert all(p.grad is not None for p in model.ssn.parameters())


def test_alternate_trains_ssn_by_eq5_and_gates_by_eq9_in_one_update(monkeypatch):
    model = build(two_step="alternate")
    for gate in model.tree.gates:
        torch.nn.init.normal_(gate, std=0.3)
    assert model.current_phase() == "alternate"
    batch = train_batch()
    output = model(batch)
    assert set(output["losses"]) == {"ssn_log_loss", "fusion_nll"}
    output["losses"]["fusion_nll"].backward(retain_graph=True)  # Eq. 9 moves the gates only
    assert all(g.grad is not None and g.grad.abs().sum() > 0 for g in model.tree.gates)
    assert all(p.grad is None for p in model.ssn.parameters())
    model.zero_grad(set_to_none=True)
    output["losses"]["ssn_log_loss"].backward()  # Eq. 5 never reaches the gates
    assert all(g.grad is None for g in model.tree.gates)
    assert model.selectable_as_best()


def test_ranking_loss_prefers_a_positive_above_the_items_negatives():
    labels = torch.tensor([[1.0, 0.0, 0.0]])
    good = torch.tensor([3.0, -1.0, -2.0]).view(1, 3, 1, 1)
    bad = torch.tensor([-1.0, 3.0, -2.0]).view(1, 3, 1, 1)
    assert (
        pair_loss(good, labels, "ranking")["ssn_ranking_loss"] < pair_loss(bad, labels, "ranking")["ssn_ranking_loss"]
    )
    both = pair_loss(good, labels, "log+ranking")
    assert set(both) == {"ssn_log_loss", "ssn_ranking_loss"}
    # shifting every logit of an item leaves the ranking term unchanged, not the log loss
    shifted = pair_loss(good + 5, labels, "log+ranking")
    assert torch.isclose(shifted["ssn_ranking_loss"], both["ssn_ranking_loss"])
    assert not torch.isclose(shifted["ssn_log_loss"], both["ssn_log_loss"])


def test_hard_negatives_are_the_highest_scored_other_product_positives():
    labels = torch.tensor([[1.0, 0.0]] * 3)
    scores = torch.tensor(
        [
            [[9.0, 9.0], [1.0, 8.0], [2.0, 0.0]],  # item 0: own images and its same-product item 1 excluded
            [[5.0, 0.0], [9.0, 0.0], [3.0, 0.0]],
            [[1.0, 0.0], [4.0, 0.0], [9.0, 0.0]],
        ]
    )
    positions = hard_negative_positions(scores, labels, ["a", "a", "b"], k=2)
    assert positions[0].tolist() == [4, -1]  # only item 2's positive is another product's positive
    assert positions[2].tolist() == [2, 0]  # items 1 and 0, highest first


def test_hard_negatives_extend_every_item_with_k_negative_pairs(monkeypatch):
    model = build(hard_negatives=2, pair_loss="log+ranking", phase="ssn")
    batch = with_products(train_batch(n=3), ["a", "b", "c"])
    logits, features, labels = model._pair_outputs(batch, "ssn")
    assert logits.shape[:2] == (3, 6) and labels.shape == (3, 6)
    assert labels[:, 4:].eq(0).all()
    output = model(batch)
    assert output["scores"].shape == (3, 4)  # scores stay the items' own 2S pairs
