"""Multilayer perceptron that classifies fixed-length representations."""

from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn

from ..errors import ParameterError

__all__ = ["MLPClassifier"]


class MLPClassifier(nn.Module):
    """Linear + ReLU + Dropout blocks, then a linear layer to class logits.

    Parameters
    ----------
    n_inputs : int
        Size of the input representation.
    n_classes : int
        Number of classes (logits out).
    hidden : sequence of int
        Width of each hidden block; empty means a linear classifier.
    dropout : float
        Dropout probability after each hidden block.

    Examples
    --------
    >>> import torch
    >>> mlp = MLPClassifier(16, 3, hidden=(8,))
    >>> mlp(torch.zeros(5, 16)).shape
    torch.Size([5, 3])
    """

    def __init__(self, n_inputs: int, n_classes: int, *, hidden: Sequence[int] = (150, 150), dropout: float = 0.4):
        super().__init__()
        for name, value in (("n_inputs", n_inputs), ("n_classes", n_classes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ParameterError(f"{name}={value!r} must be a positive integer")
        hidden = tuple(hidden)
        for width in hidden:
            if isinstance(width, bool) or not isinstance(width, int) or width < 1:
                raise ParameterError(f"hidden={hidden!r} must hold positive integers")
        if not 0.0 <= float(dropout) < 1.0:
            raise ParameterError(f"dropout={dropout!r} must be in [0, 1)")
        self.config = dict(n_inputs=n_inputs, n_classes=n_classes, hidden=list(hidden), dropout=float(dropout))
        blocks: list[nn.Module] = []
        width_in = n_inputs
        for width in hidden:
            blocks += [nn.Linear(width_in, width), nn.ReLU(), nn.Dropout(float(dropout))]
            width_in = width
        blocks.append(nn.Linear(width_in, n_classes))
        self.layers = nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)
