"""audiorep: learn representations from audio.

A compiled core (our own mixed-radix FFT, autocorrelograms, OBJ meshes)
under a numpy-style API, with PyTorch models on top.
"""

from ._core import build_info as _build_info
from ._device import cuda_available
from .audio import AudioInfo, fix_length, info, load, resample
from .datasets import Dataset, Instance, chunk, fold_indices, load_dataset, split_chunks
from .dsp import (
    Autocorrelogram,
    Correlogram,
    PitchTrack,
    autocorrelate,
    autocorrelogram,
    correlogram,
    fft,
    fundamental_frequency,
    get_window,
    ifft,
    irfft,
    mel_filterbank,
    melspectrogram,
    pitch_track,
    release_fft_memory,
    rfft,
)
from .mesh import ObjMesh, heightfield_from_obj, read_obj, write_obj
from .features import FeatureParams, compute_features
from .store import (
    FeatureTable,
    StoreMetadata,
    StoreWriter,
    check_params,
    read_store,
    read_store_metadata,
    write_store,
)
from .codec import decode, encode
from .pipeline import Recipe, load_model, predict, run
from .errors import (
    CodecError,
    AudioFormatError,
    AudiorepError,
    Cancelled,
    DeviceError,
    ObjFormatError,
    ParameterError,
    StoreError,
    TruncatedAudioWarning,
)

# One source: pyproject.toml's version, compiled into the core by the build.
__version__ = _build_info()["version"]


def build_info() -> dict:
    """Describe what the compiled core was built with (version, SIMD paths, CUDA).

    ``simd_path`` is the SIMD code path in use and ``simd_paths`` those this CPU
    runs; ``cuda`` says whether the CUDA kernels were ``built`` and, if so, their
    ``architectures``, the CUDA ``runtime_version`` and ``driver_version``, and
    ``device_count`` (0 without a GPU or a driver).

    Examples
    --------
    >>> import audiorep
    >>> "simd_path" in audiorep.build_info()
    True
    """
    return dict(_build_info())


__all__ = [
    "__version__",
    "AudioFormatError",
    "AudioInfo",
    "AudiorepError",
    "autocorrelate",
    "Autocorrelogram",
    "autocorrelogram",
    "build_info",
    "Cancelled",
    "check_params",
    "chunk",
    "CodecError",
    "compute_features",
    "correlogram",
    "Correlogram",
    "cuda_available",
    "Dataset",
    "decode",
    "DeviceError",
    "encode",
    "FeatureParams",
    "FeatureTable",
    "fft",
    "fix_length",
    "fold_indices",
    "fundamental_frequency",
    "get_window",
    "heightfield_from_obj",
    "ifft",
    "info",
    "Instance",
    "irfft",
    "load",
    "load_dataset",
    "mel_filterbank",
    "melspectrogram",
    "ObjFormatError",
    "ObjMesh",
    "ParameterError",
    "pitch_track",
    "predict",
    "PitchTrack",
    "read_obj",
    "read_store",
    "Recipe",
    "resample",
    "run",
    "load_model",
    "read_store_metadata",
    "release_fft_memory",
    "rfft",
    "split_chunks",
    "StoreError",
    "StoreMetadata",
    "StoreWriter",
    "TruncatedAudioWarning",
    "write_obj",
    "write_store",
]
