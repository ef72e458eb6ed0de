"""The trainer's callbacks: checkpoints and early stopping, evaluation, logistics, MMF-style callbacks."""

from mmf_ext.trainers.callbacks.base import Callback, MMFCallbackAdapter
from mmf_ext.trainers.callbacks.checkpoint import MMFCheckpoint, criteria_key
from mmf_ext.trainers.callbacks.evaluation import EvaluationLoop
from mmf_ext.trainers.callbacks.logistics import IntervalLogger, NaNLossError, NaNLossStop, UpdateProgressBar
from mmf_ext.trainers.callbacks.threads import LoadAwareThreads

__all__ = [
    "Callback",
    "EvaluationLoop",
    "IntervalLogger",
    "LoadAwareThreads",
    "MMFCallbackAdapter",
    "MMFCheckpoint",
    "NaNLossError",
    "NaNLossStop",
    "UpdateProgressBar",
    "criteria_key",
]
