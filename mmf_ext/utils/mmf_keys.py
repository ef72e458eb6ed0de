"""MMF keys this framework does not implement, and the one line a user sees when setting one.

Each refused key is accepted only at the value that does what MMF does there anyway (MMF's own
default, which a copied config often spells out); any other value stops the run before anything
starts, naming what to use instead. Renamed keys (MMF's old names and this project's earlier
names) are refused with the name to write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

NO_ZOO = "MMF's model and dataset zoo is out of scope (nothing downloads here)"


@dataclass(frozen=True)
class Refusal:
    key: str
    accepted: tuple[Any, ...]
    instead: str


REFUSED: tuple[Refusal, ...] = (
    Refusal("training.fast_read", (False,), "datasets read lazily; remove the key"),
    Refusal(
        "training.evaluate_metrics",
        (False,),
        "metrics run on whole val/test splits, gathered from every rank; remove the key",
    ),
    Refusal("training.verbose_dump", (False,), "not implemented; remove the key"),
    Refusal("training.local_rank", (None,), "the launcher sets LOCAL_RANK; remove the key"),
    Refusal("training.clip_norm_mode", ("all",), "only `all` (clip the norm of all parameters) is implemented"),
    Refusal("distributed.rank", (0, None), "the launcher sets RANK (torchrun, SLURM); remove the key"),
    Refusal("checkpoint.resume_zoo", (None,), f"{NO_ZOO}; use checkpoint.resume_file=PATH"),
    Refusal("checkpoint.zoo_config_override", (False,), f"{NO_ZOO}; remove the key"),
    Refusal("env.dataset_zoo", ("configs/zoo/datasets.yaml",), f"{NO_ZOO}; remove the key"),
    Refusal("env.model_zoo", ("configs/zoo/models.yaml",), f"{NO_ZOO}; remove the key"),
    Refusal("optimizer.enable_state_sharding", (False,), "ZeRO state sharding is not implemented; remove the key"),
    Refusal("evaluation.reporter.type", ("file",), "only the file reporter (json/csv predictions) exists"),
    Refusal(
        "evaluation.reporter.params", ({},), "the file reporter takes no params; use evaluation.predict_file_format"
    ),
    Refusal("trainer.type", ("lightning", "mmf"), "this framework has one trainer; remove the key"),
)

# MMF's Lightning trainer parameters, accepted at MMF's defaults, with the training.* key to set.
TRAINER_PARAMS: dict[str, str] = {
    "gpus": "distributed.world_size or the launcher (torchrun --nproc_per_node)",
    "num_nodes": "the launcher (torchrun --nnodes) or distributed.num_nodes",
    "precision": "training.fp16=true",
    "deterministic": "training.seed (runs are deterministic for a fixed seed on the CPU)",
    "benchmark": "training.cudnn_benchmark",
    "max_steps": "training.max_updates",
    "max_epochs": "training.max_epochs",
    "gradient_clip_val": "training.clip_gradients=true and training.max_grad_l2_norm",
    "num_sanity_val_steps": "nothing: no sanity validation runs",
    "enable_checkpointing": "training.checkpoint_interval",
    "accumulate_grad_batches": "training.update_frequency",
    "val_check_interval": "training.evaluation_interval",
    "log_every_n_steps": "training.log_interval",
    "logger": "training.tensorboard or training.wandb.enabled",
    "limit_val_batches": "nothing: evaluation always covers the whole split",
    "enable_progress_bar": "training.progress_bar",
    "resume_from_checkpoint": "checkpoint.resume_file",
}

# Keys that must be written under another name: MMF's deprecated ones and this project's earlier ones.
RENAMED: dict[str, str] = {
    "training.resume_file": "checkpoint.resume_file",
    "training.resume": "checkpoint.resume",
    "training.resume_best": "checkpoint.resume_best",
    "training.load_pretrained": "checkpoint.resume_pretrained",
    "training.pretrained_state_mapping": "checkpoint.pretrained_state_mapping",
    "training.run_type": "run_type",
    "learning_rate": "optimizer.params.lr",
    "training.gradient_clip_val": "training.clip_gradients=true with training.max_grad_l2_norm",
    "training.accumulate_grad_batches": "training.update_frequency",
    "distributed.devices": "distributed.world_size (or the launcher's --nproc_per_node)",
    "distributed.accelerator": "training.device (cuda or cpu)",
    "evaluation.torchmetrics": "evaluation.metrics",
}


def renamed_message(key: str, where: str) -> str | None:
    """The one line for a key written under an old name, or None."""
    for old, new in RENAMED.items():
        if key == old or key.startswith(old + "."):
            return f"{where}: {old} is not a key here; write {new} instead"
    return None


def refused_message(key: str, value_of: Callable[[str], Any], default: Any, where: str) -> str | None:
    """The one line for a refused key at a refused value, or None when the value is accepted.

    `value_of(key)` reads the run's final value of a key (a refusal may cover a whole subtree).
    """
    for refusal in REFUSED:
        if key == refusal.key or key.startswith(refusal.key + "."):
            value = value_of(refusal.key)
            if value not in refusal.accepted:
                return (
                    f"{where}: {refusal.key}={value!r} is an MMF setting this framework does not implement: "
                    f"{refusal.instead}"
                )
    prefix = "trainer.params."
    if key.startswith(prefix) and value_of(key) != default:
        name = key[len(prefix) :].split(".")[0]
        instead = TRAINER_PARAMS.get(name, "the training.* keys")
        return f"{where}: {key} is an MMF Lightning-trainer parameter this framework sets itself; use {instead}"
    return None
