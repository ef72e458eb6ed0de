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
