"""AsymNet after fc1, for the exact scorer: every leaf's fc1 feature read once, the fusion on a few numbers.

fc2, each gate of the fusion tree (an upper gate sees the mean of its leaves, and
v^T mean(x) = mean(v^T x)) and the key-volume logit are all linear in a leaf's fc1 feature
x = relu(pre-activation). So one matrix product of the features with a small stack of vectors
per leaf (`leaf_weights`) gives every number the fusion needs, leaf-major with the pairs
contiguous: [K, L, N], where K is 1 + the tree's levels (tree), 2 (kvm) or 1 (avg, max, last).
The fusion then runs on those K x L numbers per pair instead of the L x 256 features.
"""

from __future__ import annotations

import torch
from torch import nn

from video2shop.models.asymnet.fusion_tree import FusionTree


def leaf_weights(fusion: str, fc2: nn.Linear, tree: FusionTree | None, key_volume: nn.Linear | None) -> torch.Tensor:
    """[L or 1, K, H]: the vectors each leaf's fc1 feature is projected on, fc2's first.

    The tree's rows differ per leaf (the gates on its path); the other fusions share one set.
    """
    if fusion == "tree":
        paths = tree.path_weights()  # [L, levels, H]
        return torch.cat([fc2.weight.expand(paths.shape[0], 1, -1), paths], dim=1)
    if fusion == "kvm":
        return torch.cat([fc2.weight, key_volume.weight])[None]
    return fc2.weight[None]


class LeafProjectionHead:
    """The PairHead (video2shop.retrieval.interfaces) of an AsymNet, its weights taken once."""

    def __init__(
        self, fusion: str, fc2: nn.Linear, tree: FusionTree | None = None, key_volume: nn.Linear | None = None
    ) -> None:
        self.fusion, self.tree = fusion, tree
        self.weights = leaf_weights(fusion, fc2, tree, key_volume).contiguous()
        self.fc2_bias = fc2.bias
        self.key_volume_bias = key_volume.bias if key_volume is not None else None

    def project(self, preactivations: torch.Tensor) -> torch.Tensor:
        """[L, Q, G, H] -> [K, L, Q * G] (`last` keeps the last leaf only: [K, 1, Q * G]); ReLU in place."""
        leaves, queries, gallery, width = preactivations.shape
        if self.fusion == "last":
            preactivations = preactivations[-1:]
        features = torch.relu_(preactivations).reshape(-1, queries * gallery, width)  # [L, N, H]
        weights = self.weights.to(features.dtype)
        if weights.shape[0] == 1:  # shared by every leaf: one product over all of them
            return (weights[0] @ features.reshape(-1, width).t()).view(-1, *features.shape[:2])
        return torch.bmm(weights, features.transpose(1, 2)).transpose(0, 1)  # per leaf [L, K, N] -> [K, L, N]

    def fuse(self, projections: torch.Tensor) -> torch.Tensor:
        """[K, L, N] -> [N] global similarities in (0, 1)."""
        similarity = torch.sigmoid(projections[0] + self.fc2_bias)  # [L, N]
        if self.fusion == "tree":
            return self.tree.fuse_leaf_major(similarity, projections[1:])
        if self.fusion == "avg":
            return similarity.mean(0)
        if self.fusion == "max":
            return similarity.amax(0)
        if self.fusion == "last":
            return similarity[-1]
        attention = torch.softmax(projections[1] + self.key_volume_bias, dim=0)  # kvm
        return (attention * similarity).sum(0)
