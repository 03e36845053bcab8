"""Training the recurrent autoencoder: seeded, checkpointed, resumable, interruptible.

The same function trains in one process or in several under ``torchrun`` (PyTorch's
DistributedDataParallel: gloo on the CPU, NCCL on GPUs). ``batch_size`` is the global batch:
each of N processes takes a 1/N share of every batch through a DistributedSampler, so N
processes follow the same loss curve as one, up to the order of floating-point sums.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import math
import os
import random
import sys
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from ._util import atomic_path, check_cancel, check_cancel_token, positive_int
from .errors import Cancelled, ParameterError
from .models import READOUTS, Seq2SeqAutoencoder

log = logging.getLogger(__name__)

__all__ = ["corrupt", "load_model", "model_training_info", "process_rank", "represent", "save_model",
           "seed_everything", "train_autoencoder"]

_TRAINING_FORMAT = "audiorep-autoencoder-training/1"
_MODEL_FORMAT = "audiorep-autoencoder/1"


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's, numpy's and torch's global generators; return a torch generator for shuffling.

    Examples
    --------
    >>> g = seed_everything(0)
    >>> a = torch.randperm(5, generator=g); b = torch.randperm(5, generator=seed_everything(0))
    >>> bool((a == b).all())
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"seed={seed!r} must be a non-negative integer")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


@contextlib.contextmanager
def torch_threads(n: int):
    """Run the block with ``n`` torch intra-op threads, then restore the previous count.

    Small models (the MLP classifier) run fastest on one thread: waking more costs more than
    their matrix products save, and on a loaded machine far more (an MLP that trains in 1 s on
    one thread took 5-19 s with two on a busy 2-core machine).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def check_real_array(x, name: str, axes: str) -> np.ndarray:
    """Return ``x`` as a C-contiguous float32 array with the named ``axes`` (e.g. "N, T, F"), or raise."""
    ndim = axes.count(",") + 1
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of shape ({axes}), got {type(x).__name__}")
    if x.ndim != ndim:
        raise ParameterError(f"{name} must have shape ({axes}), got shape {x.shape}")
    if min(x.shape) < 1:
        raise ParameterError(f"{name} must not be empty, got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise ParameterError(f"{name} contains NaN or infinite values")
    return x


def check_features(features, name: str = "features") -> np.ndarray:
    """Return ``features`` as a C-contiguous float32 (N, T, F) array, or raise a clear error."""
    return check_real_array(features, name, "N, T, F")


def resolve_device(device) -> torch.device:
    """``torch.device(device)``, with a clear error for nonsense and for CUDA on a machine without it."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ParameterError(f"device={device!r} is not a valid torch device") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(f"device={device!r} asked for, but CUDA is not available")
    return dev


def _fingerprint(features: np.ndarray) -> str:
    return hashlib.blake2b(features.tobytes(), digest_size=16).hexdigest() + f":{features.shape}"


def _rng_state(device: torch.device, generator: torch.Generator) -> dict:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "loader": generator.get_state(),
        "cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else [],
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": random.getstate(),
    }


def _set_rng_state(state: dict, device: torch.device, generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["loader"])
    if device.type == "cuda" and state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    random.setstate(state["python"])


def _cpu_copy(obj):
    """Deep copy with every tensor on the CPU: an in-memory snapshot that training cannot mutate."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, Mapping):
        return {k: _cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu_copy(v) for v in obj)
    return copy.deepcopy(obj)


def _save(obj, path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def process_rank() -> int:
    """This process's rank among the training processes: 0 unless started by ``torchrun`` (or alike).

    Examples
    --------
    >>> process_rank()
    0
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0"))


def _join_processes(distributed, dev: torch.device) -> tuple[int, int, bool, torch.device]:
    """Join the process group that torchrun describes; return ``(rank, world, started_here, device)``."""
    import torch.distributed as dist

    if distributed is None:
        distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1 or (dist.is_available() and dist.is_initialized())
    if not distributed:
        return 0, 1, False, dev
    if not dist.is_available():
        raise ParameterError("distributed training needs a torch build with torch.distributed")
    started = False
    if dev.type == "cuda" and dev.index is None:  # one GPU per process, in the order torchrun numbers them
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        missing = [k for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
        if missing:
            raise ParameterError(f"distributed training needs the environment torchrun sets ({', '.join(missing)} "
                                 f"missing); start it with 'torchrun --nproc_per_node=N -m audiorep train ...'")
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        started = True
    return dist.get_rank(), dist.get_world_size(), started, dev


def _batches(n: int, batch_size: int, seed: int, epoch: int, rank: int = 0, world: int = 1) -> list[list[int]]:
    """This process's share of every batch of ``epoch``: an epoch-seeded shuffle, dealt out by rank.

    The batches of all ranks together are the batches one process would draw (for ``n`` a
    multiple of ``world``; otherwise a few rows are drawn twice so that every rank gets as many).
    """
    from torch.utils.data.distributed import DistributedSampler

    sampler = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=True, seed=seed)
    sampler.set_epoch(epoch)
    order = list(sampler)
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


class _TrainingLoss(nn.Module):
    """The training loss as a module, so that DistributedDataParallel sees (and syncs) the whole step.

    Reconstruction of the clean sequence from the (possibly corrupted) input, plus, with a
    projection ``head``, ``contrastive`` times the contrastive term of two views of each clip,
    plus, with a ``predictor``, ``predictive`` times the predictive term (each step's encoder
    output predicts the frame ``ahead`` steps later). Under DDP the contrastive term compares
    the clips of each process's share of the batch.
    """

    def __init__(self, model: Seq2SeqAutoencoder, head: nn.Module | None, contrastive: float,
                 every_parameter: bool = False, reconstruction: float = 1.0, predictor: nn.Module | None = None,
                 predictive: float = 0.0, ahead: int = 3):
        super().__init__()
        self.model, self.head, self.contrastive = model, head, contrastive
        self.every_parameter = every_parameter
        self.reconstruction = reconstruction
        self.predictor, self.predictive, self.ahead = predictor, predictive, ahead

    def forward(self, x: Tensor, corruption: dict | None, generator: torch.Generator) -> Tensor:
        z = self.model.scaler(x)
        if self.reconstruction > 0:
            z_in = corrupt(z, generator=generator, **corruption) if corruption else z
            loss = self.reconstruction * nn.functional.mse_loss(self.model.reconstruct_from(z_in, z), z)
        else:  # the decoder takes no part; DDP's static graph still wants every parameter in the step
            loss = 0.0 * sum(p.sum() for p in self.model.parameters())
        if self.head is not None and len(x) > 1:
            loss = loss + self.contrastive * _contrastive_term(self.model, self.head, z, generator)
        elif self.head is not None and self.every_parameter:
            # A batch of one has no contrastive term; DDP (static graph) needs every parameter
            # in every step all the same.
            loss = loss + 0.0 * sum(p.sum() for p in self.head.parameters())
        if self.predictor is not None:
            loss = loss + self.predictive * _predictive_term(self.model, self.predictor, z, self.ahead)
        return loss


def _gather_rng(world: int, state: dict) -> list[dict]:
    if world == 1:
        return [state]
    import torch.distributed as dist

    states = [None] * world
    dist.all_gather_object(states, state)
    return states


def _auxiliary_epoch_loss(model: Seq2SeqAutoencoder, step: "_TrainingLoss", data: torch.Tensor, batch_size: int,
                          device: torch.device) -> float:
    """The weighted contrastive and predictive terms on held-out clips (early stopping without
    reconstruction), with contrastive views drawn the same way every epoch."""
    modules = [m for m in (model, step.head, step.predictor) if m is not None]
    was_training = [m.training for m in modules]
    for m in modules:
        m.eval()
    generator = torch.Generator().manual_seed(0)
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            x = data[start:start + batch_size].to(device)
            z = model.scaler(x)
            loss = 0.0
            if step.head is not None and len(x) > 1:
                loss += step.contrastive * float(_contrastive_term(model, step.head, z, generator))
            if step.predictor is not None:
                loss += step.predictive * float(_predictive_term(model, step.predictor, z, step.ahead))
            total += loss * len(x)
            count += len(x)
    for m, mode in zip(modules, was_training):
        m.train(mode)
    return total / count if count else 0.0


def _epoch_loss(model: Seq2SeqAutoencoder, data: torch.Tensor, batch_size: int, device: torch.device) -> float:
    was_training = model.training
    model.eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            x = data[start:start + batch_size].to(device)
            recon = model.reconstruct_standardized(x)
            total += float(nn.functional.mse_loss(recon, model.scaler(x), reduction="sum"))
    model.train(was_training)
    return total / data.numel()


# Settings added after the first checkpoint format; older checkpoints used these values.
_SETTING_DEFAULTS = {"scaling": "dimension", "augment": None, "mask_time": 0.0, "mask_freq": 0.0, "noise": 0.0,
                     "contrastive": 0.0, "reconstruction": 1.0, "predictive": 0.0, "predict_ahead": 3}


def _span_mask(batch: int, length: int, share: float, generator: torch.Generator) -> Tensor:
    """(batch, length) bool, True where masked: spans of about a tenth of ``length`` covering ``share``."""
    width = max(1, round(length / 10))
    spans = round(share * length / width)
    masked = torch.zeros(batch, length, dtype=torch.bool)
    if spans == 0:
        return masked
    starts = torch.randint(0, max(1, length - width + 1), (batch, spans), generator=generator)
    steps = (starts.unsqueeze(-1) + torch.arange(width)).reshape(batch, -1).clamp_(max=length - 1)
    masked.scatter_(1, steps, True)
    return masked


def corrupt(z: Tensor, *, mask_time: float = 0.0, mask_freq: float = 0.0, noise: float = 0.0,
            generator: torch.Generator | None = None) -> Tensor:
    """A corrupted copy of standardised sequences ``z`` (batch, time, features) for denoising training.

    Spans of frames (``mask_time``) and of feature dimensions (``mask_freq``), each about a tenth
    of the axis, are set to 0 (the mean) until about that share of the axis is covered, per
    sequence; then Gaussian noise of standard deviation ``noise`` is added.

    Examples
    --------
    >>> z = torch.ones(2, 40, 8)
    >>> masked = corrupt(z, mask_time=0.25, generator=torch.Generator().manual_seed(0))
    >>> bool(((masked == 0).all(2).float().mean(1) <= 0.25).all())
    True
    """
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    out = z
    if mask_time > 0:
        keep = ~_span_mask(z.shape[0], z.shape[1], mask_time, generator)
        out = out * keep.unsqueeze(2).to(z.device, z.dtype)
    if mask_freq > 0:
        keep = ~_span_mask(z.shape[0], z.shape[2], mask_freq, generator)
        out = out * keep.unsqueeze(1).to(z.device, z.dtype)
    if noise > 0:
        out = out + noise * torch.randn(z.shape, generator=generator).to(z.device, z.dtype)
    return out


def two_views(z: Tensor, *, crop: float = 0.6, mask_time: float = 0.2, mask_freq: float = 0.2,
              generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Two randomly altered views of every standardised sequence in ``z`` (batch, time, features).

    Each view is a random window of ``crop`` of the frames (a different place per sequence and
    per view), with spans of frames and of feature dimensions masked as :func:`corrupt` does.

    Examples
    --------
    >>> a, b = two_views(torch.randn(4, 50, 8), generator=torch.Generator().manual_seed(0))
    >>> a.shape, bool((a != b).any())
    (torch.Size([4, 30, 8]), True)
    """
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    batch, length, _ = z.shape
    width = max(1, min(length, round(crop * length)))
    views = []
    for _ in range(2):
        starts = torch.randint(0, length - width + 1, (batch,), generator=generator)
        index = (starts.unsqueeze(1) + torch.arange(width)).to(z.device)
        window = torch.gather(z, 1, index.unsqueeze(2).expand(batch, width, z.shape[2]))
        views.append(corrupt(window, mask_time=mask_time, mask_freq=mask_freq, generator=generator))
    return views[0], views[1]


def contrastive_loss(a: Tensor, b: Tensor, temperature: float = 0.1) -> Tensor:
    """NT-Xent: each row of ``a`` must pick its own row of ``b`` (and the reverse) among the batch.

    Examples
    --------
    >>> x = torch.eye(4)
    >>> bool(contrastive_loss(x, x) < contrastive_loss(x, x.roll(1, 0)))
    True
    """
    a = nn.functional.normalize(a, dim=1)
    b = nn.functional.normalize(b, dim=1)
    both = torch.cat([a, b])
    sim = both @ both.T / temperature
    sim.fill_diagonal_(float("-inf"))
    n = len(a)
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(a.device)
    return nn.functional.cross_entropy(sim, target)


class _ProjectionHead(nn.Module):
    """The small MLP the contrastive term compares through (discarded after training)."""

    def __init__(self, size: int, out: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(size, out), nn.ReLU(), nn.Linear(out, out))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def _contrastive_term(model: Seq2SeqAutoencoder, head: nn.Module, z: Tensor, generator: torch.Generator) -> Tensor:
    """NT-Xent between two views of each standardised sequence, through the pooled readout and ``head``."""
    a, b = two_views(z, generator=generator)
    return contrastive_loss(head(model.pooled_standardized(a)), head(model.pooled_standardized(b)))


def _predictive_term(model: Seq2SeqAutoencoder, predictor: nn.Module, z: Tensor, ahead: int) -> Tensor:
    """Autoregressive predictive coding: the mean absolute error of predicting, from the encoder's
    output at each step, the standardised frame ``ahead`` steps later (a sequence no longer than
    ``ahead`` has nothing to predict and adds 0, keeping every parameter in the graph)."""
    outputs = model.encoder_outputs(z)
    if z.shape[1] <= ahead:
        return 0.0 * (predictor(outputs).sum() + outputs.sum())
    return (predictor(outputs[:, :-ahead]) - z[:, ahead:]).abs().mean()


def _check_augment(augment, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(augment, (tuple, list)) or len(augment) != 2:
        raise ParameterError("augment must be a tuple (extra, source)")
    extra = check_features(augment[0], "augment sequences")
    if extra.shape[1:] != features.shape[1:]:
        raise ParameterError(f"augment sequences have shape {extra.shape[1:]}, the features {features.shape[1:]}")
    source = np.asarray(augment[1])
    if source.shape != (len(extra),) or not np.issubdtype(source.dtype, np.integer):
        raise ParameterError(f"augment source must be {len(extra)} integer row numbers, got {source.dtype} "
                             f"{source.shape}")
    if len(source) and (source.min() < 0 or source.max() >= len(features)):
        raise ParameterError(f"augment source rows must lie in [0, {len(features)})")
    return extra, source


def train_autoencoder(features, *, config: Mapping | None = None, seed: int = 0, device="cpu", epochs: int = 50,
                      batch_size: int = 64, lr: float = 1e-3, validation_share: float = 0.1, patience: int = 10,
                      clip_norm: float = 1.0, scaling: str = "dimension", augment=None, mask_time: float = 0.0,
                      mask_freq: float = 0.0, noise: float = 0.0, contrastive: float = 0.0, reconstruction: float = 1.0,
                      predictive: float = 0.0, predict_ahead: int = 3, checkpoint_path=None, resume: bool = False,
                      progress: bool = True, cancel=None,
                      on_epoch: Callable | None = None, distributed: bool | None = None):
    """Train a :class:`Seq2SeqAutoencoder` to reconstruct ``features``.

    The loss is the mean squared error in the standardised feature space; the standardisation is
    fitted on the training share and kept in the model's ``scaler`` buffers.
    Optimisation is Adam with gradient-norm clipping. A seeded share of the clips is held out;
    training stops after ``patience`` epochs without a better held-out loss and the best weights
    are restored.

    Parameters
    ----------
    features : ndarray, shape (N, T, F)
        Training sequences.
    config : mapping, optional
        Keyword arguments for :class:`Seq2SeqAutoencoder` (``n_features`` comes from the data).
    seed : int
        Seeds model initialisation, the held-out split, shuffling, dropout and teacher forcing.
    device : str or torch.device
        Where to train.
    epochs, batch_size, lr, patience : int, int, float, int
        Usual meanings; ``epochs`` is the total including epochs already in a resumed checkpoint.
        ``batch_size`` is the global batch: with N processes, each takes ``batch_size / N`` rows
        of it (it must divide evenly).
    validation_share : float
        Share of clips held out for early stopping, in [0, 1). 0 stops on the training loss.
    clip_norm : float
        Maximum gradient norm.
    augment : tuple (extra, source), optional
        Altered copies of the clips (e.g. played faster or slower) to train on as well: ``extra``
        (M, T, F) and ``source`` (M,), the row of ``features`` each copy was made from. Copies
        follow their clip: those of held-out clips are not used at all, so the early-stopping loss
        stays a loss on clips the model never saw in any form. The standardisation is fitted on
        the training clips and their copies.
    scaling : {"dimension", "global"}
        Standardise each feature dimension on its own, or all of them with one mean and std.
        Per-dimension scaling weights every dimension equally in the loss, which lifts rarely
        active ones (e.g. high mel bands that sit at the clipping floor) to the same weight as
        the busy ones; global scaling keeps the features' own relative scale (auDeep scales its
        spectrograms this way).
    mask_time, mask_freq, noise : float
        Denoising: the encoder reads a corrupted copy of each training sequence (see
        :func:`corrupt`: shares of frames and of feature dimensions masked in spans, Gaussian
        noise), and the decoder reconstructs the clean one. The early-stopping loss is always
        on clean input. 0 (the default) trains a plain autoencoder.
    contrastive : float
        Weight of a contrastive term added to the reconstruction loss (0: none). Two views of
        every clip in a batch (:func:`two_views`: random 60 % windows with masked spans) are
        encoded, their encoder outputs pooled over time (mean, std, max, as the ``pooled``
        readout) and passed through a small projection head, and each view must recognise
        its twin among the batch (:func:`contrastive_loss`, temperature 0.1). The head is
        discarded after training.
    reconstruction : float
        Weight of the reconstruction loss (default 1). 0 trains the encoder on the other terms
        alone (which then needs ``contrastive > 0`` or ``predictive > 0``; the decoder stays
        untrained, and early stopping watches those terms on the held-out clips).
    predictive, predict_ahead : float, int
        Weight of a predictive term (0: none), autoregressive predictive coding: a linear map of
        the encoder's output at each step predicts the standardised input frame
        ``predict_ahead`` steps later (mean absolute error). It trains the per-step outputs that
        the ``pooled`` readout summarises. Needs a one-directional encoder, which cannot see
        the frame it predicts. The map is discarded after training.
    checkpoint_path : path, optional
        Written atomically after every epoch, and on interruption, with model, optimiser, epoch,
        history, config and RNG states.
    resume : bool
        Continue from ``checkpoint_path`` if it exists; the result equals an uninterrupted run.
    progress : bool
        Show a tqdm bar on stderr.
    cancel : threading.Event, optional
        Polled before every batch; once it is set, training saves the checkpoint and raises
        :class:`audiorep.Cancelled`.
    on_epoch : callable, optional
        Called after every epoch as ``on_epoch(epoch, model, history)`` (the model in eval mode,
        with the epoch's weights), e.g. to follow a probe of the representation during training.
    distributed : bool, optional
        Train with DistributedDataParallel in the process group that ``torchrun`` sets up (gloo
        on the CPU, NCCL with ``device="cuda"``, each process on the GPU of its local rank).
        None (the default) does so when the environment says there are several processes.
        Every process passes the same ``features``; each trains on its own share of every batch.
        Only rank 0 writes the checkpoint and shows progress; every process returns the same
        model and history. Dropout, teacher forcing, denoising and the contrastive views draw
        different random numbers in each process, and the contrastive term compares the clips
        of each process's share of a batch, so only runs without them repeat a one-process run
        exactly.

    Returns
    -------
    model : Seq2SeqAutoencoder
        The trained model (best held-out weights) in eval mode.
    history : dict
        ``train_loss`` and ``val_loss`` per epoch, ``best_epoch``, ``best_loss``, ``stopped_early``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal((8, 5, 3)).astype(np.float32)
    >>> model, history = train_autoencoder(x, config={"units": 8, "layers": 1}, epochs=2, progress=False)
    >>> len(history["train_loss"])
    2
    """
    features = check_features(features)
    epochs = positive_int(epochs, "epochs")
    batch_size = positive_int(batch_size, "batch_size")
    patience = positive_int(patience, "patience")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ParameterError(f"lr={lr!r} must be a positive number")
    if not (isinstance(clip_norm, (int, float)) and clip_norm > 0):
        raise ParameterError(f"clip_norm={clip_norm!r} must be a positive number")
    if not (isinstance(validation_share, (int, float)) and 0.0 <= validation_share < 1.0):
        raise ParameterError(f"validation_share={validation_share!r} must be in [0, 1)")
    if scaling not in ("dimension", "global"):
        raise ParameterError(f"scaling={scaling!r} must be 'dimension' or 'global'")
    for name, value, top in (("mask_time", mask_time, 1.0), ("mask_freq", mask_freq, 1.0), ("noise", noise, None),
                             ("contrastive", contrastive, None), ("reconstruction", reconstruction, None),
                             ("predictive", predictive, None)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 \
                or (top is not None and value >= top):
            raise ParameterError(f"{name}={value!r} must be a number in [0, {top})" if top else
                                 f"{name}={value!r} must be a non-negative number")
    if reconstruction == 0 and contrastive == 0 and predictive == 0:
        raise ParameterError("reconstruction=0 leaves nothing to learn without a contrastive or predictive term "
                             "(contrastive > 0 or predictive > 0)")
    predict_ahead = positive_int(predict_ahead, "predict_ahead")
    if predictive > 0 and (config or {}).get("bidirectional_encoder"):
        raise ParameterError("predictive > 0 needs a one-directional encoder: a bidirectional one sees the frames "
                             "it is to predict")
    check_cancel_token(cancel)
    if resume and checkpoint_path is None:
        raise ParameterError("resume=True needs a checkpoint_path")
    config = dict(config or {})
    if "n_features" in config and config["n_features"] != features.shape[2]:
        raise ParameterError(f"config n_features={config['n_features']!r} does not match the features' "
                             f"last axis ({features.shape[2]})")
    config["n_features"] = features.shape[2]
    dev = resolve_device(device)
    rank, world, started_group, dev = _join_processes(distributed, dev)
    if batch_size % world:
        raise ParameterError(f"batch_size={batch_size} must be a multiple of the {world} training processes")
    try:
        return _train(features, config, seed, dev, epochs, batch_size, lr, validation_share, patience, clip_norm,
                      scaling, augment, mask_time, mask_freq, noise, contrastive, checkpoint_path, resume, progress,
                      cancel, on_epoch, rank, world, reconstruction, predictive, predict_ahead)
    finally:
        if started_group:
            import torch.distributed as dist

            dist.destroy_process_group()


def _train(features, config, seed, dev, epochs, batch_size, lr, validation_share, patience, clip_norm, scaling,
           augment, mask_time, mask_freq, noise, contrastive, checkpoint_path, resume, progress, cancel, on_epoch,
           rank, world, reconstruction=1.0, predictive=0.0, predict_ahead=3):
    generator = seed_everything(seed)
    n = len(features)
    n_val = 0
    if validation_share > 0 and n >= 2:
        n_val = min(n - 1, max(1, round(validation_share * n)))
    order = np.random.default_rng(seed).permutation(n)
    train_rows = np.sort(order[n_val:])
    train_x, copies = features[train_rows], None
    if augment is not None:
        extra, source = _check_augment(augment, features)
        copies = extra[np.isin(source, train_rows)]
        train_x = np.concatenate([train_x, copies])
    train_data = torch.from_numpy(train_x)
    val_data = torch.from_numpy(features[np.sort(order[:n_val])])

    model = Seq2SeqAutoencoder(**config)
    model.scaler.fit(train_data.numpy(), per_dimension=scaling == "dimension")
    model.to(dev)
    head = None
    parameters = list(model.parameters())
    if contrastive > 0:
        head = _ProjectionHead(model.pooled_size).to(dev)
        parameters += list(head.parameters())
    predictor = None
    if predictive > 0:
        predictor = nn.Linear(model.pooled_size // 3, model.n_features).to(dev)  # one step's output -> a frame
        parameters += list(predictor.parameters())
    step = _TrainingLoss(model, head, contrastive, every_parameter=world > 1, reconstruction=reconstruction,
                         predictor=predictor, predictive=predictive, ahead=predict_ahead)
    losses = step
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        # Ranks draw their own dropout, teacher-forcing and masking numbers (the weights are
        # broadcast from rank 0 here). static_graph: some readouts leave parameters unused in
        # the reconstruction, always the same ones.
        rank_seed = int(np.random.SeedSequence([seed, rank]).generate_state(1)[0])
        if rank:
            torch.manual_seed(rank_seed)
            generator.manual_seed(rank_seed)
        step = DistributedDataParallel(step, device_ids=[dev.index] if dev.type == "cuda" else None,
                                       static_graph=True)
    optimizer = torch.optim.Adam(parameters, lr=lr)
    settings = {"seed": int(seed), "batch_size": batch_size, "lr": float(lr),
                "validation_share": float(validation_share), "clip_norm": float(clip_norm),
                "scaling": scaling, "data": _fingerprint(features),
                "augment": None if copies is None else _fingerprint(copies), "mask_time": float(mask_time),
                "mask_freq": float(mask_freq), "noise": float(noise), "contrastive": float(contrastive),
                "reconstruction": float(reconstruction), "predictive": float(predictive),
                "predict_ahead": int(predict_ahead)}
    denoising = mask_time > 0 or mask_freq > 0 or noise > 0
    history = {"train_loss": [], "val_loss": [], "best_epoch": 0, "best_loss": math.inf, "stopped_early": False}
    best_state = _cpu_copy(model.state_dict())
    bad_epochs = 0
    epoch = 0

    ckpt = None
    if resume and rank == 0 and Path(checkpoint_path).exists():
        ckpt = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    if resume and world > 1:  # rank 0 reads it: the other ranks need not see its file system
        import torch.distributed as dist

        box = [ckpt]
        dist.broadcast_object_list(box, src=0)
        ckpt = box[0]
    if ckpt is not None:
        if ckpt.get("format") != _TRAINING_FORMAT:
            raise ParameterError(f"{checkpoint_path} is not an autoencoder training checkpoint")
        if ckpt["config"] != model.config:
            raise ParameterError(f"cannot resume {checkpoint_path}: it was trained with config {ckpt['config']}, "
                                 f"not {model.config}")
        for key, value in settings.items():
            there = ckpt["settings"].get(key, _SETTING_DEFAULTS.get(key))
            if there != value:
                raise ParameterError(f"cannot resume {checkpoint_path}: {key}={there!r} there, "
                                     f"{value!r} now")
        model.load_state_dict(ckpt["model"])
        if head is not None:
            head.load_state_dict(ckpt["head"])
        if predictor is not None:
            predictor.load_state_dict(ckpt["predictor"])
        optimizer.load_state_dict(ckpt["optimizer"])
        history, best_state, bad_epochs, epoch = ckpt["history"], ckpt["best_state"], ckpt["bad_epochs"], ckpt["epoch"]
        ranks = ckpt.get("rng_ranks") or [ckpt["rng"]]
        _set_rng_state(ranks[rank] if len(ranks) == world else ckpt["rng"], dev, generator)
        log.info("resuming %s at epoch %d", checkpoint_path, epoch)

    def snapshot() -> dict:
        rng = _gather_rng(world, _rng_state(dev, generator))
        return _cpu_copy({"format": _TRAINING_FORMAT, "config": model.config, "settings": settings, "epoch": epoch,
                          "history": history, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                          "best_state": best_state, "bad_epochs": bad_epochs, "rng": rng[0], "rng_ranks": rng,
                          **({"head": head.state_dict()} if head is not None else {}),
                          **({"predictor": predictor.state_dict()} if predictor is not None else {})})

    from tqdm.auto import tqdm

    last_good = snapshot()
    bar = tqdm(total=epochs, initial=min(epoch, epochs), desc="autoencoder", unit="epoch", file=sys.stderr,
               disable=not progress or rank > 0, dynamic_ncols=True)
    corruption = {"mask_time": mask_time, "mask_freq": mask_freq, "noise": noise} if denoising else None
    local_batch = batch_size // world
    try:
        while epoch < epochs and not history["stopped_early"]:
            model.train()
            for extra in (head, predictor):
                if extra is not None:
                    extra.train()
            total, count = 0.0, 0
            for idx in _batches(len(train_data), local_batch, seed, epoch, rank, world):
                check_cancel(cancel, f"training (in epoch {epoch + 1})")
                x = train_data[idx].to(dev, non_blocking=True)
                optimizer.zero_grad(set_to_none=True)
                loss = step(x, corruption, generator)
                loss.backward()
                nn.utils.clip_grad_norm_(parameters, clip_norm)
                optimizer.step()
                batch_loss = loss.item()
                total += batch_loss * len(idx)
                count += len(idx)
                bar.set_postfix(loss=f"{batch_loss:.4f}", refresh=False)
            # Every rank holds the same weights: rank 0 scores the held-out clips for all.
            if not n_val or rank != 0:
                held_out = 0.0
            elif reconstruction > 0:
                held_out = _epoch_loss(model, val_data, batch_size, dev)
            else:
                held_out = _auxiliary_epoch_loss(model, losses, val_data, batch_size, dev)
            if world > 1:  # the epoch's training loss over every rank's rows
                import torch.distributed as dist

                sums = torch.tensor([total, count], dtype=torch.float64, device=dev)
                dist.all_reduce(sums)
                total, count = float(sums[0]), int(sums[1])
                if n_val:
                    box = torch.tensor([held_out], dtype=torch.float64, device=dev)
                    dist.broadcast(box, src=0)
                    held_out = float(box[0])
            if not math.isfinite(total):
                raise FloatingPointError(f"training loss became {total} in epoch {epoch + 1}; try a lower lr")
            train_loss = total / count
            val_loss = held_out if n_val else train_loss
            epoch += 1
            history["train_loss"].append(train_loss)
            history["val_loss"].append(val_loss)
            if val_loss < history["best_loss"]:
                history["best_loss"], history["best_epoch"], bad_epochs = val_loss, epoch, 0
                best_state = _cpu_copy(model.state_dict())
            else:
                bad_epochs += 1
                if bad_epochs >= patience:
                    history["stopped_early"] = True
                    log.info("stopping early after epoch %d: no better held-out loss for %d epochs", epoch, patience)
            log.debug("epoch %d: train %.5f, held out %.5f", epoch, train_loss, val_loss)
            bar.set_postfix(loss=f"{train_loss:.4f}", val=f"{val_loss:.4f}")
            bar.update(1)
            last_good = snapshot()
            if checkpoint_path is not None and rank == 0:
                _save(last_good, checkpoint_path)
            if on_epoch is not None:
                model.eval()
                on_epoch(epoch, model, history)
    except (KeyboardInterrupt, Cancelled):
        # The state at the last epoch boundary resumes exactly; a mid-epoch state would not.
        if checkpoint_path is not None and rank == 0:
            _save(last_good, checkpoint_path)
            log.warning("interrupted; checkpoint at epoch %d saved to %s", last_good["epoch"], checkpoint_path)
        raise
    finally:
        bar.close()

    model.load_state_dict(best_state)
    model.eval()
    return model, history


def represent(model: Seq2SeqAutoencoder, features, *, batch_size: int = 256, readout: str | None = None) -> np.ndarray:
    """Encode raw features (N, T, F) into representations (N, model.embedding_size), float32.

    ``readout`` reads the same encoder another way (see :class:`Seq2SeqAutoencoder`); None
    uses the model's own.

    Examples
    --------
    >>> import numpy as np
    >>> model = Seq2SeqAutoencoder(3, units=4, layers=1)
    >>> represent(model, np.zeros((5, 7, 3), dtype=np.float32)).shape
    (5, 8)
    """
    features = check_features(features)
    batch_size = positive_int(batch_size, "batch_size")
    readout = model.readout if readout is None else readout
    if readout not in READOUTS:
        raise ParameterError(f"readout={readout!r} must be one of {READOUTS}")
    if features.shape[2] != model.n_features:
        raise ParameterError(f"features have {features.shape[2]} dimensions, the model expects {model.n_features}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(features), batch_size):
            x = torch.from_numpy(features[start:start + batch_size]).to(device)
            out.append(model.encode_as(x, readout).cpu().numpy())
    model.train(was_training)
    return np.concatenate(out).astype(np.float32, copy=False)


def _normalise_params(params) -> dict:
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise TypeError(f"feature_params must be a mapping, got {type(params).__name__}")
    try:
        return json.loads(json.dumps(dict(params), sort_keys=True))
    except TypeError as exc:
        raise ParameterError(f"feature_params must be JSON-serialisable: {exc}") from None


def save_model(path, model: Seq2SeqAutoencoder, *, feature_params: Mapping | None = None,
               training: Mapping | None = None) -> None:
    """Write config, weights (including the input standardisation) and feature parameters, atomically.

    ``training`` is JSON-serialisable provenance kept beside the model, e.g. ``{"excluded_folds":
    [3]}`` for an autoencoder that never saw fold 3; :func:`model_training_info` reads it back.

    Examples
    --------
    >>> import tempfile, os
    >>> model = Seq2SeqAutoencoder(3, units=4, layers=1)
    >>> path = os.path.join(tempfile.mkdtemp(), "ae.pt")
    >>> save_model(path, model, feature_params={"n_mels": 3})
    >>> load_model(path, expected_feature_params={"n_mels": 3})[1]
    {'n_mels': 3}
    """
    if not isinstance(model, Seq2SeqAutoencoder):
        raise TypeError(f"model must be a Seq2SeqAutoencoder, got {type(model).__name__}")
    _save({"format": _MODEL_FORMAT, "config": dict(model.config), "state_dict": _cpu_copy(model.state_dict()),
           "feature_params": json.dumps(_normalise_params(feature_params), sort_keys=True),
           "training": json.dumps(dict(training or {}), sort_keys=True)}, path)


def _read_model_file(path) -> dict:
    """The dict inside a model file or training checkpoint, with its format checked."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ParameterError(f"{path} is not a readable model file: {exc}") from exc
    fmt = ckpt.get("format") if isinstance(ckpt, dict) else None
    if fmt not in (_MODEL_FORMAT, _TRAINING_FORMAT):
        raise ParameterError(f"{path} is not an audiorep autoencoder file (format {fmt!r})")
    return ckpt


def model_training_info(path) -> dict:
    """The ``training`` provenance that :func:`save_model` stored (empty if none was given).

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "ae.pt")
    >>> save_model(path, Seq2SeqAutoencoder(3, units=4, layers=1), training={"excluded_folds": [2]})
    >>> model_training_info(path)
    {'excluded_folds': [2]}
    """
    return json.loads(_read_model_file(path).get("training", "{}"))


def load_model(path, *, device="cpu", expected_feature_params: Mapping | None = None):
    """Load a model written by :func:`save_model` (or the weights of a training checkpoint).

    Parameters
    ----------
    path : path
        The model file.
    device : str or torch.device
        Where to put the model.
    expected_feature_params : mapping, optional
        When given, the stored feature parameters must equal these; a mismatch raises
        ParameterError naming the keys that differ.

    Returns
    -------
    model : Seq2SeqAutoencoder
        In eval mode.
    feature_params : dict
        What the features were made with (empty for training checkpoints).

    Examples
    --------
    See :func:`save_model`.
    """
    ckpt = _read_model_file(path)
    if ckpt["format"] == _MODEL_FORMAT:
        state, params = ckpt["state_dict"], json.loads(ckpt["feature_params"])
    else:  # a training checkpoint: its best weights
        state, params = ckpt["best_state"], {}
    model = Seq2SeqAutoencoder(**ckpt["config"])
    model.load_state_dict(state)
    if expected_feature_params is not None:
        expected = _normalise_params(expected_feature_params)
        differ = sorted(k for k in set(expected) | set(params) if expected.get(k) != params.get(k))
        if differ:
            detail = ", ".join(f"{k}: model {params.get(k)!r}, given {expected.get(k)!r}" for k in differ)
            raise ParameterError(f"{path} was trained on different features ({detail})")
    return model.to(resolve_device(device)).eval(), params
