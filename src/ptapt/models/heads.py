"""Small classification heads."""

from torch import nn


def linear_head(dim: int, hidden: int, n_out: int) -> nn.Sequential:
    """Linear - Tanh - Linear, the position-wise head of the frame model and of P-TAPT."""
    return nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, n_out))
