"""best.ckpt follows the criteria, but only over evaluations the model offers as candidates."""

from types import SimpleNamespace

import torch

from mmf_ext.trainers.callbacks import MMFCheckpoint


class _Module:
    def __init__(self) -> None:
        self.candidate = True

    def selectable_as_best(self) -> bool:
        return self.candidate


def _trainer(step: int, value: float, saved: list[tuple[int, str]]) -> SimpleNamespace:
    trainer = SimpleNamespace(
        sanity_checking=False,
        state=SimpleNamespace(fn="fit"),
        global_step=step,
        callback_metrics={"val/d/median_rank": torch.tensor(value)},
    )
    trainer.save_checkpoint = lambda path, weights_only=False: saved.append((trainer.global_step, path))
    return trainer


def test_best_checkpoint_skips_evaluations_the_model_does_not_offer(tmp_path):
    callback = MMFCheckpoint(tmp_path, "val/d/median_rank", minimize=True)
    module, saved = _Module(), []
    module.candidate = False
    callback.on_validation_end(_trainer(400, 5.0, saved), module)  # the better value, but mid-recipe
    assert saved == [] and callback.best_value is None
    module.candidate = True
    callback.on_validation_end(_trainer(800, 6.0, saved), module)
    assert saved == [(800, str(tmp_path / "best.ckpt"))] and callback.best_step == 800
    callback.on_validation_end(_trainer(1200, 7.0, saved), module)  # worse: best.ckpt stays
    assert len(saved) == 1


def test_progress_line_shows_only_the_losses_of_this_update(framework_log):
    """A loss a model stopped returning (an earlier phase's) keeps its last value in Lightning's metrics."""
    from mmf_ext.trainers.callbacks.logistics import IntervalLogger

    metrics = {"train/d/pretrain_loss": torch.tensor(0.5), "train/d/ssn_loss": torch.tensor(0.25)}
    metrics["train/total_loss"] = torch.tensor(0.25)
    trainer = SimpleNamespace(global_step=100, max_steps=200, is_global_zero=True, callback_metrics=metrics)
    trainer.optimizers = [SimpleNamespace(param_groups=[{"lr": 0.001}])]
    module = SimpleNamespace(current_loss_names=frozenset(["train/d/ssn_loss", "train/total_loss"]))
    IntervalLogger(50).on_train_batch_end(trainer, module, None, None, 0)
    (line,) = [r.getMessage() for r in framework_log if r.getMessage().startswith("progress:")]
    assert "ssn_loss: 0.25" in line and "pretrain_loss" not in line
