"""Single similarity network (paper Sec. 4.2, Eq. 2): fc1 (256) -> fc2 (1) -> logistic.

fc1 reads the concatenation [h_t; m]; its weight splits as [A | B], so fc1([h; m]) = A h + B m + b.
That split is what lets the scoring engine compute A h and B m once each.
"""

from __future__ import annotations

import torch
from torch import nn


class SingleSimilarityNetwork(nn.Module):
    def __init__(self, state_dim: int, image_dim: int, hidden: int = 256) -> None:
        super().__init__()
        self.state_dim = state_dim
        self.fc1 = nn.Linear(state_dim + image_dim, hidden)
        self.fc2 = nn.Linear(hidden, 1)

    def state_projection(self, states: torch.Tensor) -> torch.Tensor:
        """A h + b for states [..., D]."""
        return states @ self.fc1.weight[:, : self.state_dim].t() + self.fc1.bias

    def image_projection(self, images: torch.Tensor) -> torch.Tensor:
        """B m for image features [..., E]."""
        return images @ self.fc1.weight[:, self.state_dim :].t()

    def from_preactivation(self, preactivation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """fc1 pre-activations [..., 256] -> (x = fc1 features, z = fc2 logit [...])."""
        x = torch.relu(preactivation)
        return x, self.fc2(x).squeeze(-1)

    def forward(self, states: torch.Tensor, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Naive path on concatenated inputs: returns (x, z) with y_hat = sigmoid(z) (Eq. 2)."""
        return self.from_preactivation(self.fc1(torch.cat([states, images], dim=-1)))
