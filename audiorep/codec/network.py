"""Codec model files: save, load (cached) and identify the weights of a :class:`CodecAutoencoder`.

A model file is an ``.npz`` archive holding the network's config as JSON, free-form
training notes as JSON and every float32 tensor of its state. An ``.arep`` file records
the first 16 bytes of :func:`model_digest`, so decoding with other weights is refused.
PyTorch is imported only when a model is built or loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._util import atomic_path
from ..errors import CodecError

__all__ = ["DEFAULT_MODEL", "LoadedModel", "decode_codes", "encode_codes", "load_codec_model", "model_digest",
           "save_codec_model"]

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "codec_model" / "default.npz"


def _torch():
    import torch

    return torch


def _network_class():
    from ..models.codec_network import CodecAutoencoder

    return CodecAutoencoder


@dataclass(frozen=True)
class LoadedModel:
    """A loaded codec model: the torch ``module`` (eval mode), its ``config``, its 16-byte ``digest`` and ``path``."""

    module: object
    config: dict
    digest: bytes  # 16 bytes
    path: str


_MODEL_CACHE: dict = {}


def model_digest(state: dict, config: dict) -> bytes:
    """The first 16 bytes of SHA-256 over the config and every tensor (name, dtype, shape, bytes), sorted by name."""
    h = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for name in sorted(state):
        arr = np.ascontiguousarray(state[name])
        h.update(name.encode() + b"\0" + str(arr.dtype).encode() + str(arr.shape).encode())
        h.update(arr.tobytes())
    return h.digest()[:16]


def save_codec_model(path, module, *, info=None) -> None:
    """Write a codec model as .npz (config JSON, float32 weights), atomically.

    Examples
    --------
    >>> import os, tempfile
    >>> from audiorep.models import CodecAutoencoder
    >>> path = os.path.join(tempfile.mkdtemp(), "m.npz")
    >>> save_codec_model(path, CodecAutoencoder(latent_dim=4, channels=8))
    >>> load_codec_model(path).config["latent_dim"]
    4
    """
    path = Path(path)
    state = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in module.state_dict().items()}
    payload = {f"w/{k}": v for k, v in state.items()}
    payload["config"] = np.frombuffer(json.dumps(module.config, sort_keys=True).encode(), dtype=np.uint8)
    payload["info"] = np.frombuffer(json.dumps(info or {}, sort_keys=True).encode(), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **payload)


def load_codec_model(path=None):
    """Load a codec model written by :func:`save_codec_model` (default: the one shipped with audiorep).

    Returns a :class:`LoadedModel`: ``module`` (the torch module, in eval mode), ``config``,
    ``digest`` (16 bytes identifying the weights) and ``path``. Loaded models are cached
    per file and reloaded when the file changes.

    Examples
    --------
    >>> load_codec_model().config["n_mels"]
    64
    """
    if path is not None and not isinstance(path, (str, os.PathLike)) and hasattr(path, "module"):
        return path  # already loaded
    path = Path(DEFAULT_MODEL if path is None else path)
    key = str(path.resolve())
    stamp = path.stat().st_mtime_ns if path.exists() else None
    if key in _MODEL_CACHE and _MODEL_CACHE[key][0] == stamp:
        return _MODEL_CACHE[key][1]
    if not path.exists():
        raise FileNotFoundError(2, "no such codec model", str(path))
    torch = _torch()
    try:
        with np.load(path, allow_pickle=False) as z:
            config = json.loads(bytes(z["config"]).decode())
            state = {k[2:]: z[k] for k in z.files if k.startswith("w/")}
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise CodecError(f"{path}: not a codec model file ({exc})") from None
    module = _network_class()(**config)
    try:
        module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    except RuntimeError as exc:
        raise CodecError(f"{path}: weights do not match the config ({exc})") from None
    module.eval()
    loaded = LoadedModel(module, config, model_digest(state, config), str(path))
    _MODEL_CACHE[key] = (stamp, loaded)
    return loaded


def encode_codes(model: LoadedModel, logmel_db: np.ndarray) -> np.ndarray:
    """dB log-mel frames (n_mels, T) -> codes (latent_dim, T / stride), float32."""
    torch = _torch()
    with torch.no_grad():
        z = model.module.encode(torch.from_numpy(np.ascontiguousarray(logmel_db, np.float32))[None])
    return z[0].numpy()


def decode_codes(model: LoadedModel, codes: np.ndarray) -> np.ndarray:
    """Codes (latent_dim, blocks) -> dB log-mel frames (n_mels, blocks * stride), float32."""
    torch = _torch()
    with torch.no_grad():
        return model.module.decode(torch.from_numpy(np.ascontiguousarray(codes, np.float32))[None])[0].numpy()
