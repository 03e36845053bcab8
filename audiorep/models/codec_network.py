"""The learned codec's network: a convolutional autoencoder over log-mel frames."""

import math

import torch
from torch import nn

from ..errors import ParameterError

__all__ = ["CodecAutoencoder"]


class CodecAutoencoder(nn.Module):
    """Convolutional autoencoder over log-mel frames: (batch, n_mels, T) -> (batch, latent_dim, T / stride).

    The encoder halves the time resolution ``log2(stride)`` times with strided
    convolutions; the decoder mirrors it with transposed convolutions. Inputs are
    dB log-mel frames, standardised per band with the ``mean`` and ``std`` buffers;
    outputs are their reconstruction in dB. The receptive field spans a few
    neighbouring blocks, so the codes carry context without any recurrence.

    Parameters
    ----------
    n_mels : int
        Mel bands per frame.
    latent_dim : int
        Code dimensions per block of ``stride`` frames.
    channels : int
        Width of the hidden convolutions.
    stride : {1, 2, 4, 8}
        Frames per code block.

    Examples
    --------
    >>> import torch
    >>> model = CodecAutoencoder(latent_dim=8, channels=16)
    >>> tuple(model.encode(torch.zeros(1, 64, 32)).shape)
    (1, 8, 8)
    """

    def __init__(self, n_mels=64, latent_dim=48, channels=160, stride=4):
        super().__init__()
        if stride not in (1, 2, 4, 8):
            raise ParameterError(f"stride={stride!r} must be 1, 2, 4 or 8")
        self.config = dict(n_mels=int(n_mels), latent_dim=int(latent_dim), channels=int(channels),
                           stride=int(stride))
        downs = int(round(math.log2(stride)))
        enc = [nn.Conv1d(n_mels, channels, 3, padding=1), nn.GELU()]
        for _ in range(downs):
            enc += [nn.Conv1d(channels, channels, 4, stride=2, padding=1), nn.GELU()]
        enc += [nn.Conv1d(channels, channels, 3, padding=1), nn.GELU(), nn.Conv1d(channels, latent_dim, 1)]
        dec = [nn.Conv1d(latent_dim, channels, 3, padding=1), nn.GELU()]
        for _ in range(downs):
            dec += [nn.ConvTranspose1d(channels, channels, 4, stride=2, padding=1), nn.GELU()]
        dec += [nn.Conv1d(channels, channels, 3, padding=1), nn.GELU(), nn.Conv1d(channels, n_mels, 3, padding=1)]
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)
        self.register_buffer("mean", torch.zeros(n_mels))
        self.register_buffer("std", torch.ones(n_mels))

    def encode(self, logmel):
        """Standardise (batch, n_mels, T) dB frames and return the codes (batch, latent_dim, T / stride)."""
        return self.encoder((logmel - self.mean[:, None]) / self.std[:, None])

    def decode(self, codes):
        """Codes back to dB log-mel frames."""
        return self.decoder(codes) * self.std[:, None] + self.mean[:, None]

    def forward(self, logmel):
        return self.decode(self.encode(logmel))
