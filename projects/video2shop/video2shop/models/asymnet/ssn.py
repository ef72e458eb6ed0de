"""Single similarity network (paper Sec. 4.2, Eq. 2): fc1 (256) -> fc2 (1) -> logistic.

fc1 reads the concatenation [h_t; m]; its weight splits as [A | B], so fc1([h; m]) = A h + B m + b.
That split is what lets the scoring engine compute A h and B m once each.

The paper gives no initialisation. PyTorch's default (uniform weights) starts the score as a random
function of h and m, and the pair loss must find a similarity from there. `init: correlation` starts
it as one, in the same two layers: with p = P h and q = Q m (P, Q random orthogonal projections to
hidden/4 dimensions), fc1's four units per dimension hold p+q, -(p+q), p-q and q-p, and fc2 weighs them
+1, +1, -1, -1 (over sqrt(hidden/4), to keep the first logits moderate), so after the ReLU the logit
is sum_i |p_i + q_i| - |p_i - q_i| = 2 sum_i sign(p_i q_i) min(|p_i|, |q_i|), so scaled: a correlation
of the two projections, bounded by the smaller side (h is an LSTM state in [-1, 1], m an IFN feature
of any scale). Training then changes every weight, as from any start.
"""

from __future__ import annotations

import torch
from torch import nn

from mmf_ext.utils.errors import ConfigError

INITS = ("torch", "correlation")


def correlation_(ssn: SingleSimilarityNetwork, generator: torch.Generator | None = None) -> None:
    """Set fc1 and fc2 so the logit is sum_i |p_i + q_i| - |p_i - q_i| for p = P h, q = Q m, scaled (see the module)."""
    hidden, inputs = ssn.fc1.weight.shape
    if hidden % 4:
        raise ConfigError(f"model_config.asymnet.ssn.hidden={hidden}: init correlation needs a multiple of 4")
    dims = hidden // 4
    state_dim, image_dim = ssn.state_dim, inputs - ssn.state_dim
    if dims > min(state_dim, image_dim):
        raise ConfigError(
            f"model_config.asymnet.ssn.hidden={hidden}: init correlation projects h ({state_dim}) and m "
            f"({image_dim}) to hidden/4 = {dims} dimensions; give hidden <= {4 * min(state_dim, image_dim)}"
        )
    state_rows = _orthonormal_rows(dims, state_dim, generator)
    image_rows = _orthonormal_rows(dims, image_dim, generator)
    signs = torch.tensor([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])  # p+q, -(p+q), p-q, q-p
    with torch.no_grad():
        weight = torch.cat([torch.cat([s * state_rows, t * image_rows], dim=1) for s, t in signs.tolist()], dim=0)
        ssn.fc1.weight.copy_(weight)
        ssn.fc1.bias.zero_()
        ssn.fc2.weight.copy_(torch.tensor([1.0, 1.0, -1.0, -1.0]).repeat_interleave(dims)[None] / dims**0.5)
        ssn.fc2.bias.zero_()


def _orthonormal_rows(rows: int, columns: int, generator: torch.Generator | None) -> torch.Tensor:
    """A [rows, columns] matrix with orthonormal rows, drawn at random (QR of a Gaussian matrix)."""
    q, r = torch.linalg.qr(torch.randn(columns, rows, generator=generator))
    return (q * torch.sign(torch.diagonal(r))).t().contiguous()


class SingleSimilarityNetwork(nn.Module):
    def __init__(self, state_dim: int, image_dim: int, hidden: int = 256, init: str = "torch") -> None:
        super().__init__()
        if init not in INITS:
            raise ConfigError(f"model_config.asymnet.ssn.init={init!r}; choose {' or '.join(INITS)}")
        self.state_dim = state_dim
        self.fc1 = nn.Linear(state_dim + image_dim, hidden)
        self.fc2 = nn.Linear(hidden, 1)
        if init == "correlation":
            correlation_(self)

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
