"""The audiorep exception tree."""

from __future__ import annotations

__all__ = [
    "AudiorepError",
    "ParameterError",
    "AudioFormatError",
    "ObjFormatError",
    "StoreError",
    "Cancelled",
    "DeviceError",
    "CodecError",
    "TruncatedAudioWarning",
]


class AudiorepError(Exception):
    """Base class of every error raised by audiorep."""


class ParameterError(AudiorepError, ValueError):
    """An argument has a value that audiorep cannot work with."""


class AudioFormatError(AudiorepError, ValueError):
    """A file is not audio that audiorep can read (names the file and the reason)."""


class ObjFormatError(AudiorepError, ValueError):
    """An OBJ file is malformed (names the line)."""


class StoreError(AudiorepError, ValueError):
    """A feature store is malformed or does not match what was asked for."""


class Cancelled(AudiorepError):
    """A long-running operation was cancelled by the caller."""


class DeviceError(AudiorepError, RuntimeError):
    """The requested compute device cannot be used (no CUDA build, no GPU or no driver)."""


class CodecError(AudiorepError, ValueError):
    """An ``.arep`` file is malformed, truncated, corrupt, or was made with a different codec model."""


class TruncatedAudioWarning(UserWarning):
    """A truncated audio file was loaded as far as it goes, because the caller passed ``allow_truncated=True``."""
