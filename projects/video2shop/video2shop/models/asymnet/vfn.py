"""Video feature network (paper Sec. 3.2): IFN features of each frame into a stacked LSTM.

Every hidden state of the top level is kept: the similarity network scores each one.

The paper gives no initialisation. PyTorch's default (every weight and bias uniform in
+-1/sqrt(H)) shrinks the signal at each level: with four levels the top hidden states hardly
depend on the trajectory (their spread across trajectories is 4% of their size, against 55% after
one level) and the first level's input weights get 1/100 of the gradient they get in a one-level
LSTM, so `lstm_4` stayed at chance. `init: glorot_orthogonal` is the usual LSTM initialisation
(Glorot-uniform input weights and orthogonal recurrent weights per gate, zero biases, forget-gate
bias 1 as in Jozefowicz et al. 2015): the top level then follows its input at every depth.
"""

from __future__ import annotations

import torch
from torch import nn

from mmf_ext.utils.errors import ConfigError

INITS = ("glorot_orthogonal", "torch")


def glorot_orthogonal_(lstm: nn.LSTM) -> None:
    """Glorot-uniform W_ih and orthogonal W_hh for each gate's block, zero biases, forget-gate bias 1."""
    hidden = lstm.hidden_size
    for name, parameter in lstm.named_parameters():
        blocks = parameter.data.split(hidden)  # PyTorch's gate order: input, forget, cell, output
        if name.startswith("weight_ih"):
            for block in blocks:
                nn.init.xavier_uniform_(block)
        elif name.startswith("weight_hh"):
            for block in blocks:
                nn.init.orthogonal_(block)
        else:
            nn.init.zeros_(parameter)
            if name.startswith("bias_ih"):  # b_ih + b_hh is the gate's bias: set it once
                nn.init.ones_(blocks[1])


class VideoFeatureNetwork(nn.Module):
    def __init__(
        self, input_dim: int, hidden_dim: int = 256, levels: int = 2, dropout: float = 0.0, init: str = "torch"
    ) -> None:
        super().__init__()
        if not 1 <= levels <= 4:
            raise ValueError(f"vfn.levels={levels}: the paper studies 1 to 4 LSTM levels")
        if init not in INITS:
            raise ConfigError(f"model_config.asymnet.vfn.init={init!r}; choose {' or '.join(INITS)}")
        self.lstm = nn.LSTM(
            input_dim, hidden_dim, num_layers=levels, batch_first=True, dropout=dropout if levels > 1 else 0.0
        )
        if init == "glorot_orthogonal":
            glorot_orthogonal_(self.lstm)
        self.hidden_dim = hidden_dim

    def forward(self, frame_features: torch.Tensor) -> torch.Tensor:
        """[B, T, E] -> hidden states [B, T, H] of the top LSTM level."""
        states, _ = self.lstm(frame_features)
        return states
