"""The reconfigurable fusion tree (paper Sec. 4.2-4.3): a hierarchical mixture of experts.

Leaves are the single similarity networks, one per hidden state. Each node below the root has a
gate vector v; its gate logit is v^T x (Eq. 3), where x is the leaf's fc1 feature or, higher up,
the average of its children's x; siblings are normalised by a softmax (Eq. 4). The global
similarity is the gated mixture of leaf similarities (Eq. 6). `branches` lists the branch counts
from the leaves to the root: [2, 2, 2, 2, 2] is the paper's five-level tree over 32 leaves, [32]
the flat one-level tree.

With Bernoulli leaves, the mixture likelihood of Eq. 9 is P(y=1) = Y and P(y=0) = 1 - Y, so its
log-likelihood is the log loss of the fused score; autograd on it gives Eqs. 10-11, which
`closed_form_gate_gradients` writes out for the tests.
"""

from __future__ import annotations

import math

import torch
from torch import nn

PAPER_TREES: dict[str, list[int]] = {
    "5:2-2-2-2-2": [2, 2, 2, 2, 2],
    "1:32": [32],
    "2:4-8": [4, 8],
    "3:2-4-4": [2, 4, 4],
    "4:2-2-2-4": [2, 2, 2, 4],
    "2:8-4": [8, 4],
    "3:4-4-2": [4, 4, 2],
    "4:4-2-2-2": [4, 2, 2, 2],
}


class FusionTree(nn.Module):
    def __init__(self, branches: list[int], feature_dim: int) -> None:
        super().__init__()
        if not branches or any(int(b) < 1 for b in branches):
            raise ValueError(f"fusion tree branches {branches} must be positive counts from leaves to root")
        self.branches = [int(b) for b in branches]
        self.num_leaves = math.prod(self.branches)
        sizes, nodes = [], self.num_leaves
        for branch in self.branches:
            sizes.append(nodes)
            nodes //= branch
        # One gate vector per node below the root, level by level; zeros = uniform mixture at start.
        self.gates = nn.ParameterList([nn.Parameter(torch.zeros(n, feature_dim)) for n in sizes])

    def gate_probabilities(self, leaf_features: torch.Tensor) -> list[torch.Tensor]:
        """Per level, the gates g [..., n_l] (softmax within each sibling group)."""
        gates, features = [], leaf_features
        for weights, branch in zip(self.gates, self.branches):
            logits = (features * weights).sum(-1)
            shape = logits.shape[:-1]
            groups = logits.shape[-1] // branch
            gates.append(torch.softmax(logits.view(*shape, groups, branch), dim=-1).view(*shape, groups * branch))
            features = features.view(*shape, groups, branch, features.shape[-1]).mean(-2)
        return gates

    def path_weights(self) -> torch.Tensor:
        """[L, levels, D]: for each leaf, the gate vector of its ancestor at every level.

        A node's gate logit is v^T mean(x of the leaves below it) = mean(v^T x_leaf), so one
        projection of each leaf's feature onto its path's gate vectors gives every gate logit.
        """
        rows = []
        for level, weights in enumerate(self.gates):
            rows.append(weights.repeat_interleave(math.prod(self.branches[:level]), dim=0))
        return torch.stack(rows, dim=1)

    def fuse_projected(self, leaf_values: torch.Tensor, leaf_projections: torch.Tensor) -> torch.Tensor:
        """Eq. 6 from leaf values [..., L] and path projections [..., L, levels] (see path_weights)."""
        return self.fuse_leaf_major(leaf_values.movedim(-1, 0), leaf_projections.movedim((-1, -2), (0, 1)))

    def fuse_leaf_major(self, leaf_values: torch.Tensor, leaf_projections: torch.Tensor) -> torch.Tensor:
        """Eq. 6 from leaf values [L, ...] and path projections [levels, L, ...] -> [...].

        Leaves lead so that each softmax runs over a short sibling dimension with the pairs
        contiguous inside it (the exact scorer's layout); a softmax over a last dimension of two is
        many times slower.
        """
        if leaf_values.shape[0] != self.num_leaves:
            raise ValueError(f"fusion tree expects {self.num_leaves} leaves, got {leaf_values.shape[0]}")
        values, rest = leaf_values, leaf_values.shape[1:]
        for level, branch in enumerate(self.branches):
            group = math.prod(self.branches[:level])
            logits = leaf_projections[level].reshape(-1, group, *rest).mean(1)  # one per node
            gates = torch.softmax(logits.reshape(-1, branch, *rest), dim=1)
            values = (gates * values.reshape(-1, branch, *rest)).sum(1)
        return values.squeeze(0)

    def forward(self, leaf_values: torch.Tensor, leaf_features: torch.Tensor) -> torch.Tensor:
        """leaf_values [..., L] (similarities or likelihoods), leaf_features [..., L, D] -> [...]."""
        projections = torch.einsum("...ld,lkd->...lk", leaf_features, self.path_weights())
        return self.fuse_projected(leaf_values, projections)


def mixture_log_likelihood(
    tree: FusionTree, leaf_similarity: torch.Tensor, leaf_features: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """Eq. 9: sum over pairs of ln sum_paths gates * P_leaf(y), with P_leaf(1) = y_hat, P_leaf(0) = 1 - y_hat."""
    labels = labels.to(leaf_similarity.dtype).unsqueeze(-1)
    leaf_likelihood = labels * leaf_similarity + (1 - labels) * (1 - leaf_similarity)
    return torch.log(tree(leaf_likelihood, leaf_features).clamp_min(1e-12)).sum()


@torch.no_grad()
def closed_form_gate_gradients(
    tree: FusionTree, leaf_similarity: torch.Tensor, leaf_features: torch.Tensor, labels: torch.Tensor
) -> list[torch.Tensor]:
    """d l / d v for every gate, from the posteriors (Eqs. 7-8) as in Eqs. 10-11.

    For a node c with parent p: grad v_c = sum_t H_p (h_{c|p} - g_{c|p}) x_c, where h_{c|p} is the
    posterior of choosing c at p, H_p the posterior of reaching p, and x_c the node's feature.
    Inputs are [N, L] and [N, L, D]; returns one [n_l, D] tensor per level.
    """
    labels = labels.to(leaf_similarity.dtype).unsqueeze(-1)
    likelihood = labels * leaf_similarity + (1 - labels) * (1 - leaf_similarity)  # [N, L]
    gates = tree.gate_probabilities(leaf_features)
    features, node_features = leaf_features, []
    likelihoods = [likelihood]
    for level_gates, branch in zip(gates, tree.branches):
        node_features.append(features)
        n = level_gates.shape[0]
        likelihoods.append((level_gates * likelihoods[-1]).view(n, -1, branch).sum(-1))
        features = features.view(n, -1, branch, features.shape[-1]).mean(-2)
    # Walk down from the root: H (posterior of reaching a node) and conditional posteriors.
    reach = torch.ones(likelihood.shape[0], 1, dtype=likelihood.dtype)
    gradients: list[torch.Tensor] = [torch.empty(0)] * len(tree.branches)
    for level in reversed(range(len(tree.branches))):
        branch = tree.branches[level]
        g = gates[level]
        child = likelihoods[level]
        parent = likelihoods[level + 1].repeat_interleave(branch, dim=-1)
        posterior = g * child / parent.clamp_min(1e-12)  # h_{c|p}
        parent_reach = reach.repeat_interleave(branch, dim=-1)  # H_p per child
        coefficient = parent_reach * (posterior - g)
        gradients[level] = (coefficient.unsqueeze(-1) * node_features[level]).sum(0)
        reach = parent_reach * posterior
    return gradients
