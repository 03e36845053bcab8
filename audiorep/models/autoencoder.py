"""Sequence-to-sequence recurrent autoencoder (the auDeep design), with richer readouts.

An encoder RNN reads a (batch, time, features) sequence, optionally through a convolutional
front end; its final states, squeezed through a tanh layer, are the bottleneck a decoder RNN
starts from to reconstruct the sequence frame by frame. The representation read out of a
trained encoder is that bottleneck (``readout="final"``, the auDeep design) or statistics over
time of the encoder's outputs at every step (``readout="pooled"``): the whole sequence of
encoder states rather than the last one.
"""

# No "from __future__ import annotations": TorchScript reads the class annotations below.

import logging
from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn

from ..errors import ParameterError

log = logging.getLogger(__name__)

__all__ = ["ConvFrontEnd", "READOUTS", "Seq2SeqAutoencoder", "Standardizer"]

_CELLS = ("lstm", "gru")
READOUTS = ("final", "pooled", "pooled+final")


class Standardizer(nn.Module):
    """Standardisation ``(x - mean) / std`` over the last axis, as buffers.

    :meth:`fit` sets one mean and std per dimension, or (``per_dimension=False``) one shared
    mean and std stored in every dimension.

    The buffers travel with the state dict and with TorchScript exports, so a deployed model
    applies exactly the statistics it was trained with.

    Parameters
    ----------
    n_features : int
        Size of the last axis.

    Examples
    --------
    >>> import numpy as np
    >>> s = Standardizer(2).fit(np.array([[0.0, 10.0], [2.0, 30.0]], dtype=np.float32))
    >>> s(torch.tensor([[1.0, 20.0]])).tolist()
    [[0.0, 0.0]]
    """

    def __init__(self, n_features: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))

    def fit(self, x, *, min_std: float = 1e-6, per_dimension: bool = True) -> "Standardizer":
        """Set mean and std from ``x`` (any shape whose last axis is the feature axis); returns self.

        ``per_dimension=False`` uses one mean and one std over all values (a global affine scaling
        that keeps the relative scale of the dimensions), stored in every dimension.
        """
        t = torch.as_tensor(x, dtype=torch.float64).reshape(-1, self.mean.shape[0])
        if t.shape[0] == 0:
            raise ParameterError("cannot fit a standardiser on zero rows")
        if per_dimension:
            mean = t.mean(0)
            std = t.std(0, unbiased=False)
        else:
            mean = t.mean().expand(t.shape[1])
            std = t.std(unbiased=False).expand(t.shape[1])
        # Constant dimensions keep their scale rather than blowing up to inf.
        std = torch.where(std < min_std, torch.ones_like(std), std)
        self.mean.copy_(mean.to(self.mean.dtype))
        self.std.copy_(std.to(self.std.dtype))
        return self

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std

    def inverse(self, x: Tensor) -> Tensor:
        """Map standardised values back to the original scale."""
        return x * self.std + self.mean


def _pool_over_time(outputs: Tensor, eps: float = 0.0) -> Tensor:
    """The ``pooled`` readout: mean, std and max over time of each output dimension.

    ``eps`` inside the square root keeps the std's gradient finite where an output is constant
    (training through the pooled values); the readout itself uses none.
    """
    if eps > 0.0:
        std = (outputs.var(1, unbiased=False) + eps).sqrt()
    else:
        std = outputs.std(1, unbiased=False)
    return torch.cat([outputs.mean(1), std, outputs.amax(1)], dim=1)


def _flatten_states(h: Tensor) -> Tensor:
    # (layers * directions, batch, units) -> (batch, layers * directions * units)
    return h.transpose(0, 1).reshape(h.shape[1], -1)


def _unflatten_states(flat: Tensor, n_states: int) -> Tensor:
    # inverse of _flatten_states; contiguous because cuDNN insists on it
    return flat.reshape(flat.shape[0], n_states, -1).transpose(0, 1).contiguous()


class ConvFrontEnd(nn.Module):
    """2-D convolution blocks over (time, frequency), then one linear map per frame.

    Each block is a 3 x 3 convolution, batch normalisation, ReLU and max-pooling by 2 along
    frequency only, so the sequence keeps one step per input frame. The channels of every
    frame are flattened and mapped to ``out_features`` values (ReLU).

    Parameters
    ----------
    n_features : int
        Values per input frame (e.g. mel bands).
    channels : sequence of int
        Output channels of each block.
    out_features : int
        Values per output frame.

    Examples
    --------
    >>> ConvFrontEnd(16, [4, 8], 10)(torch.zeros(2, 7, 16)).shape
    torch.Size([2, 7, 10])
    """

    def __init__(self, n_features: int, channels: List[int], out_features: int):
        super().__init__()
        blocks: List[nn.Module] = []
        c_in, width = 1, n_features
        for c in channels:
            blocks += [nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(),
                       nn.MaxPool2d((1, 2), ceil_mode=True)]
            c_in, width = c, (width + 1) // 2
        self.blocks = nn.Sequential(*blocks)
        self.project = nn.Linear(c_in * width, out_features)

    def forward(self, x: Tensor) -> Tensor:
        y = self.blocks(x.unsqueeze(1))  # (batch, channels, time, width)
        y = y.permute(0, 2, 1, 3).reshape(y.shape[0], y.shape[2], y.shape[1] * y.shape[3])
        return torch.relu(self.project(y))


class _LSTMEncoder(nn.Module):
    def __init__(self, n_features: int, units: int, layers: int, bidirectional: bool, dropout: float):
        super().__init__()
        self.rnn = nn.LSTM(n_features, units, layers, batch_first=True, bidirectional=bidirectional,
                           dropout=dropout if layers > 1 else 0.0)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        out, (h, c) = self.rnn(x)
        return out, torch.cat([_flatten_states(h), _flatten_states(c)], dim=1)


class _GRUEncoder(nn.Module):
    def __init__(self, n_features: int, units: int, layers: int, bidirectional: bool, dropout: float):
        super().__init__()
        self.rnn = nn.GRU(n_features, units, layers, batch_first=True, bidirectional=bidirectional,
                          dropout=dropout if layers > 1 else 0.0)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        out, h = self.rnn(x)
        return out, _flatten_states(h)


class _LSTMDecoder(nn.Module):
    n_states: int

    def __init__(self, n_features: int, units: int, layers: int, bidirectional: bool, dropout: float):
        super().__init__()
        self.rnn = nn.LSTM(n_features, units, layers, batch_first=True, bidirectional=bidirectional,
                           dropout=dropout if layers > 1 else 0.0)
        self.n_states = layers * (2 if bidirectional else 1)

    def run(self, x: Tensor, state: Tuple[Tensor, Tensor]) -> Tuple[Tensor, Tuple[Tensor, Tensor]]:
        return self.rnn(x, state)

    def initial_state(self, flat: Tensor) -> Tuple[Tensor, Tensor]:
        h, c = flat.chunk(2, dim=1)
        return _unflatten_states(h, self.n_states), _unflatten_states(c, self.n_states)


class _GRUDecoder(nn.Module):
    n_states: int

    def __init__(self, n_features: int, units: int, layers: int, bidirectional: bool, dropout: float):
        super().__init__()
        self.rnn = nn.GRU(n_features, units, layers, batch_first=True, bidirectional=bidirectional,
                          dropout=dropout if layers > 1 else 0.0)
        self.n_states = layers * (2 if bidirectional else 1)

    def run(self, x: Tensor, state: Tensor) -> Tuple[Tensor, Tensor]:
        return self.rnn(x, state)

    def initial_state(self, flat: Tensor) -> Tensor:
        return _unflatten_states(flat, self.n_states)


class Seq2SeqAutoencoder(nn.Module):
    """Recurrent sequence-to-sequence autoencoder with a fixed-length representation.

    The encoder reads the standardised input; the representation is
    ``tanh(W [h_1, ..., h_L, c_1, ..., c_L] + b)`` over the final hidden (and, for LSTMs, cell)
    states of every layer and direction. A linear map turns the representation into the
    decoder's initial states; the decoder emits one frame per step through a linear projection.
    Its input at each step is the previous target frame (teacher forcing) or its own previous
    output, zeros at the first step.

    Parameters
    ----------
    n_features : int
        Feature dimension F of the (batch, time, F) input.
    units : int
        Hidden units per RNN layer and direction.
    layers : int
        Stacked RNN layers in encoder and decoder.
    cell : {"lstm", "gru"}
        Recurrent cell type.
    bidirectional_encoder, bidirectional_decoder : bool
        Read in both directions. A bidirectional decoder cannot feed back its own outputs, so it
        always reads the time-shifted targets and needs ``teacher_forcing=1.0``; note that its
        backward direction sees later target frames.
    dropout : float
        Dropout between stacked layers and on the decoder output before the projection.
    reverse_targets : bool
        Reconstruct the sequence back to front (the decoder starts at the last frame, the one the
        encoder saw most recently). ``forward`` still returns frames in the original order.
    teacher_forcing : float
        During training, the probability per decoding step of feeding the true previous frame
        rather than the model's own output. In eval mode there is no randomness: 1.0 feeds the true
        frames, anything below feeds the model's own outputs.
    representation_size : int or None
        Size of the bottleneck the decoder starts from; None means the size of the
        concatenated encoder states.
    readout : {"final", "pooled", "pooled+final"}
        What :meth:`encode` returns. ``"final"``: the bottleneck (auDeep). ``"pooled"``: the
        mean, standard deviation and maximum over time of the top encoder layer's outputs at
        every step (``3 x units x directions`` values). ``"pooled+final"``: both, concatenated.
        Training is the same for all three; only the readout differs.
    conv_channels : sequence of int, optional
        Channels of a convolutional front end (:class:`ConvFrontEnd`) that the encoder RNN
        reads instead of the raw frames; it maps each frame to ``units`` values. Empty: none.
    bottleneck_from : {"final", "pooled"}
        What the bottleneck (and so the decoder) starts from: the final encoder states (the
        auDeep design), or the pooled outputs, so that reconstruction trains the very values
        the ``pooled`` readout returns: ``tanh(W [mean, std, max over time] + b)``.

    Examples
    --------
    >>> model = Seq2SeqAutoencoder(8, units=16, layers=1)
    >>> x = torch.zeros(3, 20, 8)
    >>> model.encode(x).shape, model(x).shape
    (torch.Size([3, 32]), torch.Size([3, 20, 8]))
    >>> Seq2SeqAutoencoder(8, units=16, layers=1, readout="pooled").encode(x).shape
    torch.Size([3, 48])
    """

    n_features: int
    representation_size: int
    embedding_size: int
    readout: str
    has_front_end: bool
    bottleneck_from_pooled: bool
    teacher_forcing: float
    reverse_targets: bool
    full_teacher_forcing: bool

    def __init__(self, n_features: int, *, units: int = 256, layers: int = 2, cell: str = "lstm",
                 bidirectional_encoder: bool = False, bidirectional_decoder: bool = False,
                 dropout: float = 0.0, reverse_targets: bool = True, teacher_forcing: float = 0.0,
                 representation_size: Optional[int] = None, readout: str = "final",
                 conv_channels: Optional[List[int]] = None, bottleneck_from: str = "final"):
        super().__init__()
        for name, value in (("n_features", n_features), ("units", units), ("layers", layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ParameterError(f"{name}={value!r} must be a positive integer")
        if cell not in _CELLS:
            raise ParameterError(f"cell={cell!r} must be one of {_CELLS}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ParameterError(f"dropout={dropout!r} must be in [0, 1)")
        if not 0.0 <= float(teacher_forcing) <= 1.0:
            raise ParameterError(f"teacher_forcing={teacher_forcing!r} must be a probability in [0, 1]")
        if bidirectional_decoder and float(teacher_forcing) != 1.0:
            raise ParameterError(
                f"bidirectional_decoder=True needs teacher_forcing=1.0 (got {teacher_forcing!r}): a decoder "
                "that reads the sequence in both directions cannot feed back its own outputs")
        if readout not in READOUTS:
            raise ParameterError(f"readout={readout!r} must be one of {READOUTS}")
        if bottleneck_from not in ("final", "pooled"):
            raise ParameterError(f"bottleneck_from={bottleneck_from!r} must be 'final' or 'pooled'")
        conv_channels = [] if conv_channels is None else list(conv_channels)
        if any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in conv_channels):
            raise ParameterError(f"conv_channels={conv_channels!r} must be positive integers")
        enc_dirs = 2 if bidirectional_encoder else 1
        dec_dirs = 2 if bidirectional_decoder else 1
        n_kinds = 2 if cell == "lstm" else 1
        state_size = n_kinds * layers * enc_dirs * units
        if representation_size is None:
            representation_size = state_size
        if (isinstance(representation_size, bool) or not isinstance(representation_size, int)
                or representation_size < 1):
            raise ParameterError(f"representation_size={representation_size!r} must be a positive integer or None")

        self.config = dict(n_features=n_features, units=units, layers=layers, cell=cell,
                           bidirectional_encoder=bool(bidirectional_encoder),
                           bidirectional_decoder=bool(bidirectional_decoder), dropout=float(dropout),
                           reverse_targets=bool(reverse_targets), teacher_forcing=float(teacher_forcing),
                           representation_size=representation_size)
        # Settings added later are recorded only when they differ from the old behaviour, so the
        # configs of models trained before them stay as they were.
        if readout != "final":
            self.config["readout"] = readout
        if conv_channels:
            self.config["conv_channels"] = conv_channels
        if bottleneck_from != "final":
            self.config["bottleneck_from"] = bottleneck_from
        pooled_size = 3 * units * enc_dirs
        self.n_features = n_features
        self.representation_size = representation_size
        self.readout = readout
        self.pooled_size = pooled_size
        self.embedding_size = {"final": representation_size, "pooled": pooled_size,
                               "pooled+final": pooled_size + representation_size}[readout]
        self.has_front_end = bool(conv_channels)
        self.bottleneck_from_pooled = bottleneck_from == "pooled"
        self.teacher_forcing = float(teacher_forcing)
        self.reverse_targets = bool(reverse_targets)
        self.full_teacher_forcing = bool(bidirectional_decoder) or float(teacher_forcing) == 1.0

        self.scaler = Standardizer(n_features)
        enc_cls, dec_cls = (_LSTMEncoder, _LSTMDecoder) if cell == "lstm" else (_GRUEncoder, _GRUDecoder)
        self.front_end = ConvFrontEnd(n_features, conv_channels, units) if conv_channels else nn.Identity()
        self.encoder = enc_cls(units if conv_channels else n_features, units, layers, bidirectional_encoder, dropout)
        self.to_representation = nn.Linear(pooled_size if self.bottleneck_from_pooled else state_size,
                                           representation_size)
        self.to_decoder_state = nn.Linear(representation_size, n_kinds * layers * dec_dirs * units)
        self.decoder = dec_cls(n_features, units, layers, bidirectional_decoder, dropout)
        self.output_dropout = nn.Dropout(dropout)
        self.projection = nn.Linear(dec_dirs * units, n_features)

    def _check(self, x: Tensor) -> None:
        if x.dim() != 3:
            raise ValueError(f"expected input of shape (batch, time, features), got {x.dim()} dimensions")
        if x.shape[2] != self.n_features:
            raise ValueError(f"expected {self.n_features} features in the last axis, got {x.shape[2]}")
        if x.shape[1] < 1:
            raise ValueError("expected at least one time step")

    def _run_encoder(self, z: Tensor) -> Tuple[Tensor, Tensor]:
        # (outputs at every step, bottleneck)
        outputs, states = self.encoder(self.front_end(z))
        if self.bottleneck_from_pooled:
            return outputs, torch.tanh(self.to_representation(_pool_over_time(outputs, 1e-6)))
        return outputs, torch.tanh(self.to_representation(states))

    def _encode_standardized(self, z: Tensor) -> Tensor:
        return self._run_encoder(z)[1]

    def encoder_outputs(self, z: Tensor) -> Tensor:
        """The top encoder layer's output at every step of standardised sequences ``z``: (batch, time, H)."""
        return self._run_encoder(z)[0]

    def pooled_standardized(self, z: Tensor) -> Tensor:
        """The ``pooled`` readout of already standardised sequences ``z`` (batch, time, features)."""
        return _pool_over_time(self.encoder_outputs(z))

    @torch.jit.export
    def encode(self, x: Tensor) -> Tensor:
        """Map raw features (batch, time, features) to representations (batch, embedding_size)."""
        return self.encode_as(x, self.readout)

    @torch.jit.export
    def encode_as(self, x: Tensor, readout: str) -> Tensor:
        """Like :meth:`encode`, with another readout (see the class docstring) of the same encoder."""
        self._check(x)
        outputs, bottleneck = self._run_encoder(self.scaler(x))
        if readout == "final":
            return bottleneck
        pooled = _pool_over_time(outputs)
        if readout == "pooled":
            return pooled
        if readout == "pooled+final":
            return torch.cat([pooled, bottleneck], dim=1)
        raise ValueError("readout must be 'final', 'pooled' or 'pooled+final'")

    def _decode(self, representation: Tensor, targets: Optional[Tensor], steps: int) -> Tensor:
        # Returns standardised frames in decoding order (reversed when reverse_targets).
        state = self.decoder.initial_state(self.to_decoder_state(representation))
        batch = representation.shape[0]
        first = torch.zeros(batch, 1, self.n_features, dtype=representation.dtype, device=representation.device)
        if self.full_teacher_forcing:
            if targets is None:
                raise ValueError("this decoder reads the true previous frames and cannot decode without them")
            inputs = torch.cat([first, targets[:, :-1]], dim=1)
            out, _ = self.decoder.run(inputs, state)
            return self.projection(self.output_dropout(out))
        frames: List[Tensor] = []
        step_input = first
        use_targets = targets is not None and self.training and self.teacher_forcing > 0.0
        for t in range(steps):
            out, state = self.decoder.run(step_input, state)
            frame = self.projection(self.output_dropout(out))
            frames.append(frame)
            step_input = frame
            if use_targets and targets is not None:
                if float(torch.rand(1).item()) < self.teacher_forcing:
                    step_input = targets[:, t:t + 1]
        return torch.cat(frames, dim=1)

    @torch.jit.export
    def reconstruct_standardized(self, x: Tensor) -> Tensor:
        """Reconstruction of standardised ``x`` in the standardised scale (what training compares)."""
        self._check(x)
        z = self.scaler(x)
        return self.reconstruct_from(z, z)

    @torch.jit.export
    def reconstruct_from(self, z_in: Tensor, z: Tensor) -> Tensor:
        """Reconstruct the standardised sequence ``z`` from ``z_in``, the encoder's input.

        ``z_in`` is ``z`` itself, or a corrupted copy of it (masked or noisy spans) when
        training to denoise; the decoder's teacher-forced inputs are always the clean ``z``.
        """
        targets = z.flip(1) if self.reverse_targets else z
        out = self._decode(self._encode_standardized(z_in), targets, z.shape[1])
        return out.flip(1) if self.reverse_targets else out

    def forward(self, x: Tensor) -> Tensor:
        """Reconstruct raw features (batch, time, features) in their original scale and order."""
        return self.scaler.inverse(self.reconstruct_standardized(x))

    @torch.jit.export
    def decode(self, representation: Tensor, steps: int) -> Tensor:
        """Generate ``steps`` frames (original scale and order) from representations alone.

        Only for decoders that feed back their own outputs (``teacher_forcing < 1``).
        """
        if representation.dim() != 2 or representation.shape[1] != self.representation_size:
            raise ValueError(f"expected representations of shape (batch, {self.representation_size})")
        if steps < 1:
            raise ValueError("steps must be a positive integer")
        out = self._decode(representation, None, steps)
        if self.reverse_targets:
            out = out.flip(1)
        return self.scaler.inverse(out)
