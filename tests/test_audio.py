"""Tests for audiorep.audio: decoding, mixdown, resampling, offsets and every kind of unusable file."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf

from audiorep.audio import AudioInfo, available_formats, fix_length, info, load
from audiorep.errors import AudioFormatError, ParameterError

SR = 44100


def _sine(freq, n, sr=SR, amp=0.5):
    return (amp * np.sin(2 * np.pi * freq * np.arange(n) / sr)).astype(np.float64)


def _peak_frequency(y, sr):
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return np.argmax(spectrum) * sr / len(y)


@pytest.fixture
def stereo(rng):
    return rng.uniform(-0.9, 0.9, size=(SR // 2, 2)).astype(np.float32)


@pytest.fixture
def stereo_wav(tmp_path, stereo):
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo, SR, subtype="FLOAT")
    return path


# ---------------------------------------------------------------- real files


@pytest.mark.data
def test_esc10_clips_load(esc10_dir):
    clips = sorted(esc10_dir.glob("*/*.ogg"))
    assert len(clips) == 400
    for path in clips[::57]:
        y, sr = load(path)
        reference, ref_sr = sf.read(path, dtype="float32", always_2d=True)
        assert sr == ref_sr == 44100
        assert y.dtype == np.float32 and y.ndim == 1
        # Most clips decode to 220544 frames (5.0 s plus Vorbis padding); a few are shorter or longer.
        assert y.shape[0] == reference.shape[0] > 150000
        np.testing.assert_array_equal(y, reference.mean(axis=1, dtype=np.float64).astype(np.float32))
        meta = info(path)
        assert (meta.samplerate, meta.frames, meta.format, meta.subtype) == (44100, y.shape[0], "OGG", "VORBIS")
        assert meta.duration == pytest.approx(y.shape[0] / 44100)


@pytest.mark.data
def test_esc10_clip_resampled_and_offset(esc10_dir):
    path = sorted(esc10_dir.glob("001 - Dog bark/*.ogg"))[0]
    full, _ = load(path)
    y, sr = load(path, sr=22050, offset=1.0, duration=2.0)
    assert sr == 22050 and y.shape == (44100,)
    part, _ = load(path, offset=1.0, duration=2.0)
    np.testing.assert_array_equal(part, full[44100 : 44100 + 88200])


# ---------------------------------------------------------------- formats written here


@pytest.mark.parametrize(
    ("fmt", "subtype", "ext", "tol"),
    [("WAV", "FLOAT", "wav", 0.0), ("WAV", "PCM_24", "wav", 2**-23), ("FLAC", "PCM_16", "flac", 2**-15),
     ("OGG", "VORBIS", "ogg", None)],
)
def test_formats_round_trip(tmp_path, stereo, fmt, subtype, ext, tol):
    path = tmp_path / f"clip.{ext}"
    sf.write(path, stereo, SR, format=fmt, subtype=subtype)
    y, sr = load(path, mono=False)
    assert sr == SR and y.shape == (2, stereo.shape[0]) and y.dtype == np.float32
    if tol is None:  # lossy: noise does not survive, so check a tone's waveform instead
        path = tmp_path / "tone.ogg"
        tone = np.stack([_sine(440.0, SR), _sine(1000.0, SR)], axis=1)
        sf.write(path, tone, SR, format=fmt, subtype=subtype)
        y, _ = load(path, mono=False)
        assert y.shape == (2, SR)
        for channel in range(2):
            assert np.corrcoef(y[channel], tone[:, channel])[0, 1] > 0.99
    else:
        np.testing.assert_allclose(y, stereo.T, atol=tol, rtol=0)


def test_opus_and_mp3_when_available(tmp_path):
    formats = available_formats()
    tone = _sine(440.0, 48000, sr=48000).astype(np.float32)
    written = 0
    for fmt, subtype, ext in [("OGG", "OPUS", "opus"), ("MP3", "MPEG_LAYER_III", "mp3")]:
        if fmt not in formats or subtype not in sf.available_subtypes(fmt):
            continue
        path = tmp_path / f"tone.{ext}"
        sf.write(path, tone, 48000, format=fmt, subtype=subtype)
        y, sr = load(path)
        assert sr == 48000
        assert abs(_peak_frequency(y, sr) - 440.0) < 2.0
        written += 1
    if written == 0:
        pytest.skip("libsndfile here writes neither Opus nor MP3")


def test_dtype_spellings(stereo_wav):
    assert load(stereo_wav, dtype=np.float64)[0].dtype == np.float64
    assert load(stereo_wav, dtype=np.dtype("float32"))[0].dtype == np.float32


def test_stereo_mixdown_is_the_channel_mean(stereo_wav, stereo):
    y, _ = load(stereo_wav)
    np.testing.assert_array_equal(y, stereo.mean(axis=1, dtype=np.float64).astype(np.float32))
    y64, _ = load(stereo_wav, dtype="float64")
    assert y64.dtype == np.float64
    np.testing.assert_array_equal(y64, stereo.astype(np.float64).mean(axis=1))


def test_mono_false_keeps_channels_first(stereo_wav, stereo):
    y, _ = load(stereo_wav, mono=False)
    assert y.shape == (2, stereo.shape[0]) and y.flags.c_contiguous
    np.testing.assert_array_equal(y, stereo.T)


def test_mono_file_with_mono_false_has_a_channel_axis(tmp_path):
    path = tmp_path / "m.wav"
    sf.write(path, np.linspace(-0.5, 0.5, 100), 8000, subtype="FLOAT")
    y, _ = load(path, mono=False)
    assert y.shape == (1, 100)


def test_int16_wav_is_scaled_by_32768(tmp_path):
    samples = np.array([0, 1, -1, 16384, -16384, 32767, -32768], dtype=np.int16)
    path = tmp_path / "int16.wav"
    sf.write(path, samples, 16000, subtype="PCM_16")
    y, sr = load(path, dtype="float64")
    assert sr == 16000
    np.testing.assert_array_equal(y, samples / 32768.0)
    assert info(path).subtype == "PCM_16"


@pytest.mark.parametrize("n", [44100, 44099, 12345, 1001])
def test_resample_keeps_frequency_and_length(tmp_path, n):
    path = tmp_path / "sine.wav"
    sf.write(path, _sine(1000.0, n), SR, subtype="FLOAT")
    y, sr = load(path, sr=16000)
    assert sr == 16000
    assert y.shape == (round(n * 16000 / 44100),)
    resolution = 16000 / y.shape[0]
    assert abs(_peak_frequency(y, sr) - 1000.0) <= resolution
    # Amplitude survives the HQ filter (1 kHz is far below the new Nyquist).
    edge = y.shape[0] // 8
    assert np.max(np.abs(y[edge:-edge])) == pytest.approx(0.5, abs=0.02)


def test_resample_stereo_keeps_channel_axis(stereo_wav, stereo):
    y, sr = load(stereo_wav, sr=22050, mono=False)
    assert sr == 22050 and y.shape == (2, round(stereo.shape[0] / 2))


def test_same_rate_does_not_resample(stereo_wav, stereo):
    y, sr = load(stereo_wav, sr=SR, mono=False)
    np.testing.assert_array_equal(y, stereo.T)


def test_offset_and_duration_read_the_right_samples(tmp_path):
    ramp = (np.arange(8000) / 8000).astype(np.float32)
    path = tmp_path / "ramp.flac"
    sf.write(path, ramp, 8000, format="FLAC", subtype="PCM_24")
    y, _ = load(path, offset=0.25, duration=0.5, dtype="float64")
    np.testing.assert_allclose(y, ramp[2000:6000], atol=2**-23)
    tail, _ = load(path, offset=0.75, duration=10.0)
    assert tail.shape == (2000,)


def test_info_fields(stereo_wav, stereo):
    meta = info(stereo_wav)
    assert isinstance(meta, AudioInfo)
    assert (meta.samplerate, meta.channels, meta.frames) == (SR, 2, stereo.shape[0])
    assert (meta.format, meta.subtype) == ("WAV", "FLOAT")
    assert meta.duration == pytest.approx(stereo.shape[0] / SR)


@pytest.mark.parametrize(("size", "expected"), [(0, []), (2, [1, 2]), (3, [1, 2, 3]), (5, [1, 2, 3, 0, 0])])
def test_fix_length(size, expected):
    np.testing.assert_array_equal(fix_length(np.array([1, 2, 3]), size), expected)


def test_fix_length_axis():
    y = np.ones((2, 3))
    assert fix_length(y, 4, axis=0).shape == (4, 3)
    np.testing.assert_array_equal(fix_length(y, 4, axis=0)[2:], 0)
    assert fix_length(y, 1, axis=1).shape == (2, 1)


@pytest.mark.parametrize(("size", "axis"), [(-1, -1), (2.5, -1), (True, -1), (2, 2), (2, 1.0)])
def test_fix_length_bad_arguments(size, axis):
    with pytest.raises(ParameterError):
        fix_length(np.ones((2, 3)), size, axis=axis)


def test_fix_length_scalar():
    with pytest.raises(ParameterError, match="scalar"):
        fix_length(np.float64(1.0), 3)


# ---------------------------------------------------------------- files audiorep cannot use


def _cut(path, fraction, tmp_path):
    data = path.read_bytes()
    cut = tmp_path / f"cut{path.suffix}"
    cut.write_bytes(data[: int(len(data) * fraction)])
    return cut


def test_text_renamed_wav(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is a text file, not audio\n" * 20)
    with pytest.raises(AudioFormatError, match="notes.wav.*not an audio file"):
        load(path)
    with pytest.raises(AudioFormatError, match="notes.wav"):
        info(path)


def test_png_renamed_wav(tmp_path):
    path = tmp_path / "picture.wav"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(AudioFormatError, match="picture.wav"):
        load(path)


def test_truncated_wav(tmp_path, stereo_wav):
    cut = _cut(stereo_wav, 0.5, tmp_path)
    with pytest.raises(AudioFormatError, match=r"cut\.wav.*truncated"):
        load(cut)
    with pytest.raises(AudioFormatError, match="truncated"):
        info(cut)


def test_truncated_flac(tmp_path, stereo):
    path = tmp_path / "full.flac"
    sf.write(path, stereo, SR, format="FLAC")
    cut = _cut(path, 0.5, tmp_path)
    with pytest.raises(AudioFormatError, match=r"cut\.flac"):
        load(cut)


@pytest.mark.parametrize("fraction", [0.1, 0.5])
def test_truncated_ogg(tmp_path, stereo, fraction):
    path = tmp_path / "full.ogg"
    sf.write(path, stereo, SR, format="OGG", subtype="VORBIS")
    cut = _cut(path, fraction, tmp_path)
    with pytest.raises(AudioFormatError, match=r"cut\.ogg"):
        load(cut)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioFormatError, match=r"empty\.wav.*0 bytes"):
        load(path)
    with pytest.raises(AudioFormatError, match="0 bytes"):
        info(path)


def test_header_only_wav_has_no_samples(tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros((0, 1)), SR)
    assert path.stat().st_size > 0
    with pytest.raises(AudioFormatError, match=r"silence\.wav.*no samples"):
        load(path)
    with pytest.raises(AudioFormatError, match="no samples"):
        info(path)


def test_nan_samples_are_rejected(tmp_path):
    y = np.zeros(100, dtype=np.float32)
    y[[3, 50]] = np.nan
    y[60] = np.inf
    path = tmp_path / "nan.wav"
    sf.write(path, y, 8000, subtype="FLOAT")
    with pytest.raises(AudioFormatError, match=r"nan\.wav.*3 NaN or infinite"):
        load(path)


def test_directory(tmp_path):
    with pytest.raises(IsADirectoryError, match="directory"):
        load(tmp_path)
    with pytest.raises(IsADirectoryError):
        info(tmp_path)


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.wav"
    with pytest.raises(FileNotFoundError, match="nowhere.wav"):
        load(path)
    with pytest.raises(FileNotFoundError):
        info(path)


def test_soundfile_errors_do_not_leak(tmp_path):
    path = tmp_path / "junk.flac"
    path.write_bytes(b"fLaC" + b"\xff" * 200)
    with pytest.raises(AudioFormatError) as excinfo:
        load(path)
    assert "junk.flac" in str(excinfo.value)
    assert not isinstance(excinfo.value, sf.LibsndfileError)


# ---------------------------------------------------------------- bad parameters


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sr": 0}, "sr=0"),
        ({"sr": -16000}, "sr=-16000"),
        ({"sr": math.nan}, "sr=nan"),
        ({"offset": -0.5}, "offset=-0.5"),
        ({"offset": 0.5}, "offset=0.5 s is at or past the end"),
        ({"offset": 10.0}, "past the end"),
        ({"duration": 0}, "duration=0"),
        ({"duration": -1.0}, "duration=-1.0"),
        ({"duration": 1e-9}, "shorter than one sample"),
        ({"dtype": "int16"}, "dtype='int16'"),
        ({"dtype": np.int32}, "dtype="),
        ({"dtype": object()}, "dtype="),
    ],
)
def test_bad_parameters(stereo_wav, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        load(stereo_wav, **kwargs)


@pytest.mark.parametrize("kwargs", [{"offset": "1"}, {"duration": [1]}])
def test_wrong_types(stereo_wav, kwargs):
    with pytest.raises(TypeError):
        load(stereo_wav, **kwargs)


@pytest.mark.parametrize("sr", ["16k", "44100", True, float("nan"), -8000, 0])
def test_a_sample_rate_is_a_positive_number_everywhere(stereo_wav, sr):
    import audiorep
    from audiorep.datasets import split_chunks
    from audiorep.features import FeatureParams

    y = np.zeros(4096, np.float32)
    calls = [lambda: load(stereo_wav, sr=sr), lambda: audiorep.melspectrogram(y, sr),
             lambda: audiorep.autocorrelogram(y, sr), lambda: split_chunks(y, sr, chunk_seconds=1.0),
             lambda: FeatureParams(sr=sr)]
    for call in calls:
        with pytest.raises(ParameterError, match=f"sr={sr!r} must be a positive sampling rate"):
            call()


def test_path_type():
    with pytest.raises(TypeError, match="path"):
        load(42)
