"""audiorep: learn representations from audio.

A compiled core (our own radix-2/Bluestein FFT, autocorrelograms, OBJ meshes)
under a numpy-style API, with PyTorch models on top.
"""

from ._core import build_info as _build_info
from .dsp import fft, ifft, irfft, rfft
from .errors import (
    AudioFormatError,
    AudiorepError,
    Cancelled,
    ObjFormatError,
    ParameterError,
    StoreError,
)

__version__ = "0.1.0"


def build_info() -> dict:
    """Describe what the compiled core was built with (version, SIMD path, CUDA).

    Examples
    --------
    >>> import audiorep
    >>> "simd_path" in audiorep.build_info()
    True
    """
    return dict(_build_info())


__all__ = [
    "AudioFormatError",
    "AudiorepError",
    "Cancelled",
    "ObjFormatError",
    "ParameterError",
    "StoreError",
    "__version__",
    "build_info",
    "fft",
    "ifft",
    "irfft",
    "rfft",
]
