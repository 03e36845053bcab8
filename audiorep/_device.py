"""Where a DSP function runs: the ``device=`` argument, the CUDA check and torch interop.

torch is optional and never imported here: a tensor can only reach us when the
caller has imported torch already, so ``sys.modules`` tells us all we need.
"""

from __future__ import annotations

import sys

import numpy as np

from . import _core
from .errors import DeviceError, ParameterError

_DEVICES = ("cpu", "cuda")


def cuda_built() -> bool:
    """True when the compiled core contains the CUDA kernels."""
    return hasattr(_core, "cuda_c2c_ptr")


def cuda_available() -> bool:
    """True when the CUDA kernels were built and at least one CUDA device is usable.

    Examples
    --------
    >>> import audiorep
    >>> isinstance(audiorep.cuda_available(), bool)
    True
    """
    return cuda_built() and _core.cuda_device_count() > 0


def require_cuda() -> None:
    if not cuda_built():
        raise DeviceError(
            "device='cuda' needs audiorep built with the CUDA kernels; this build has none "
            "(rebuild where nvcc is found, without -DAUDIOREP_CUDA=OFF)"
        )
    if _core.cuda_device_count() < 1:
        raise DeviceError("device='cuda' but no CUDA device is usable here (no GPU, or no NVIDIA driver)")


def _torch():
    return sys.modules.get("torch")


def is_tensor(x) -> bool:
    torch = _torch()
    return torch is not None and isinstance(x, torch.Tensor)


def is_cuda_tensor(x) -> bool:
    return is_tensor(x) and x.device.type == "cuda"


def resolve(x, device) -> str:
    """'cpu' or 'cuda' for input ``x`` and a ``device`` argument (None: where ``x`` lives)."""
    if device is None:
        device = "cuda" if is_cuda_tensor(x) else "cpu"
    if not isinstance(device, str) or device not in _DEVICES:
        raise ParameterError(f"device={device!r} must be None, 'cpu' or 'cuda'")
    if device == "cuda":
        require_cuda()
    return device


def to_host(x):
    """A tensor as a numpy array (copied to the host if needed); anything else unchanged."""
    if not is_tensor(x):
        return x
    t = x.detach()
    if t.is_complex():
        t = t.resolve_conj()
    return t.cpu().numpy()


_NUMPY_OF_TORCH = {
    "torch.float16": np.float16,
    "torch.float32": np.float32,
    "torch.float64": np.float64,
    "torch.complex64": np.complex64,
    "torch.complex128": np.complex128,
    "torch.int8": np.int8,
    "torch.int16": np.int16,
    "torch.int32": np.int32,
    "torch.int64": np.int64,
    "torch.uint8": np.uint8,
    "torch.bool": np.bool_,
}


def stand_in(t) -> np.ndarray:
    """A numpy array with the shape and dtype of tensor ``t`` and no memory of its own.

    The numpy argument checks run on it, so GPU input is validated by the same code as host input.
    """
    dtype = _NUMPY_OF_TORCH.get(str(t.dtype))
    if dtype is None:
        raise TypeError(f"unsupported tensor dtype {t.dtype}")
    return np.lib.stride_tricks.as_strided(np.zeros(1, dtype), shape=tuple(t.shape), strides=(0,) * t.dim())


def torch_dtype(dtype: np.dtype):
    return getattr(_torch(), np.dtype(dtype).name)


def launch_args(t) -> tuple[int, int]:
    """(device index, current stream handle) for kernels on tensor ``t``'s device."""
    torch = _torch()
    index = t.device.index if t.device.index is not None else torch.cuda.current_device()
    return index, torch.cuda.current_stream(index).cuda_stream


def torch_rows(t, axis: int, length: int, dtype: np.dtype):
    """``t`` with ``axis`` last, cropped or zero-padded to ``length``, as contiguous rows on its device."""
    torch = _torch()
    moved = t.detach().movedim(axis, -1)
    lead = tuple(moved.shape[:-1])
    have = moved.shape[-1]
    target = torch_dtype(dtype)
    if have >= length:
        rows = moved[..., :length].to(target)
    else:
        rows = torch.zeros(lead + (length,), dtype=target, device=t.device)
        rows[..., :have] = moved.to(target)
    if rows.is_complex():
        rows = rows.resolve_conj()
    return rows.contiguous().reshape(-1, length), lead
