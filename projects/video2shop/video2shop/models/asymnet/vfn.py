"""Video feature network (paper Sec. 3.2): IFN features of each frame into a stacked LSTM.

Every hidden state of the top level is kept: the similarity network scores each one.
"""

from __future__ import annotations

import torch
from torch import nn


class VideoFeatureNetwork(nn.Module):
    def __init__(self, input_dim: int, hidden_dim: int = 256, levels: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        if not 1 <= levels <= 4:
            raise ValueError(f"vfn.levels={levels}: the paper studies 1 to 4 LSTM levels")
        self.lstm = nn.LSTM(
            input_dim, hidden_dim, num_layers=levels, batch_first=True, dropout=dropout if levels > 1 else 0.0
        )
        self.hidden_dim = hidden_dim

    def forward(self, frame_features: torch.Tensor) -> torch.Tensor:
        """[B, T, E] -> hidden states [B, T, H] of the top LSTM level."""
        states, _ = self.lstm(frame_features)
        return states
