"""Truncated audio in every format whose header declares its length, and resampling bounds.

libsndfile shortens a file whose header promises more audio than the file holds and reports the
shortened length, so without these checks a file cut short by an interrupted copy loads as a
shorter clip without a word.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import audiorep
from audiorep import audio
from audiorep.errors import AudioFormatError, ParameterError, TruncatedAudioWarning

SR = 8000
N = 8000

# (container, subtype, channels): every format libsndfile writes whose header declares a length.
# IRCAM, PAF, PVF and XI headers hold no length, so a cut at a frame boundary leaves no trace.
DECLARING = [
    ("AIFF", "PCM_16", 2),
    ("AIFF", "FLOAT", 1),
    ("AU", "PCM_16", 2),
    ("AU", "ULAW", 1),
    ("AVR", "PCM_16", 1),
    ("MAT4", "DOUBLE", 1),
    ("MAT5", "DOUBLE", 2),
    ("MPC2K", "PCM_16", 1),
    ("NIST", "PCM_16", 2),
    ("RF64", "PCM_16", 2),
    ("VOC", "PCM_16", 1),
    ("W64", "PCM_16", 2),
    ("W64", "FLOAT", 1),
    ("WAV", "PCM_24", 2),
    ("WAVEX", "PCM_16", 2),
    ("WVE", "ALAW", 1),
]


def tone(channels):
    t = np.arange(N) / SR
    y = np.stack([0.3 * np.sin(2 * np.pi * (220 + 110 * c) * t) for c in range(channels)], axis=1)
    return y.astype(np.float32)


def write_and_cut(tmp_path, fmt, subtype, channels, keep):
    full = tmp_path / f"full.{fmt.lower()}"
    sf.write(full, tone(channels), SR, format=fmt, subtype=subtype)
    data = full.read_bytes()
    cut = tmp_path / f"cut.{fmt.lower()}"
    cut.write_bytes(data[: int(len(data) * keep)])
    return full, cut


@pytest.mark.parametrize("keep", [0.5, 0.8])
@pytest.mark.parametrize(("fmt", "subtype", "channels"), DECLARING, ids=[f"{f}-{s}" for f, s, _ in DECLARING])
def test_a_truncated_file_is_refused_by_name(tmp_path, fmt, subtype, channels, keep):
    full, cut = write_and_cut(tmp_path, fmt, subtype, channels, keep)
    whole, _ = audio.load(full, mono=False)  # the complete file loads, and without a warning
    assert whole.shape == (channels, N)
    with pytest.raises(AudioFormatError, match=rf"cut\.{fmt.lower()}: truncated"):
        audio.load(cut)
    with pytest.raises(AudioFormatError, match="truncated"):
        audio.info(cut)


@pytest.mark.parametrize(("fmt", "subtype", "channels"), DECLARING, ids=[f"{f}-{s}" for f, s, _ in DECLARING])
def test_allow_truncated_loads_what_is_there_with_a_warning(tmp_path, fmt, subtype, channels):
    full, cut = write_and_cut(tmp_path, fmt, subtype, channels, 0.8)
    whole, _ = audio.load(full, mono=False)
    with pytest.warns(TruncatedAudioWarning, match=rf"cut\.{fmt.lower()}: truncated"):
        part, sr = audio.load(cut, mono=False, allow_truncated=True)
    assert sr == SR and part.shape[0] == channels
    assert 0 < part.shape[1] < N
    # what is there is the start of the clip, decoded as it was
    np.testing.assert_array_equal(part, whole[:, : part.shape[1]])
    with pytest.warns(TruncatedAudioWarning):
        assert audio.info(cut, allow_truncated=True).frames == part.shape[1]


@pytest.mark.parametrize("keep", [0.5, 0.95])
def test_a_truncated_caf_is_refused_by_name(tmp_path, keep):
    # libsndfile itself refuses a CAF cut well before its end; either way the file is named
    _, cut = write_and_cut(tmp_path, "CAF", "PCM_16", 2, keep)
    with pytest.raises(AudioFormatError, match=r"cut\.caf: (truncated|cannot decode)"):
        audio.load(cut)


def test_a_file_cut_inside_its_last_frame_is_refused(tmp_path):
    full, cut = write_and_cut(tmp_path, "AIFF", "PCM_16", 2, 1.0)
    cut.write_bytes(full.read_bytes()[:-3])
    with pytest.raises(AudioFormatError, match="truncated"):
        audio.load(cut)


def test_the_codec_refuses_a_truncated_input(tmp_path):
    _, cut = write_and_cut(tmp_path, "W64", "PCM_16", 1, 0.5)
    with pytest.raises(AudioFormatError, match="truncated"):
        audiorep.encode(cut, tmp_path / "x.arep")
    assert not (tmp_path / "x.arep").exists()


def test_reading_in_blocks_gives_the_same_samples(tmp_path, monkeypatch):
    path = tmp_path / "s.w64"
    sf.write(path, tone(2), SR, format="W64", subtype="FLOAT")
    whole, _ = audio.load(path, mono=False)
    monkeypatch.setattr(audio, "READ_BLOCK_FRAMES", 777)
    blocked, _ = audio.load(path, mono=False, offset=0.01)
    np.testing.assert_array_equal(blocked, whole[:, 80:])


# ---------------------------------------------------------------- target rates

@pytest.fixture
def short_wav(tmp_path):
    path = tmp_path / "short.wav"
    sf.write(path, tone(1)[:40], SR)  # 5 ms
    return path


@pytest.mark.parametrize("sr", [1, 50, 99.9, 768_001, 2**31])
def test_load_refuses_a_target_rate_out_of_range(short_wav, sr):
    with pytest.raises(ParameterError, match=rf"sr={sr!r} is outside the 100..768000 Hz"):
        audio.load(short_wav, sr=sr)


def test_load_refuses_a_target_rate_that_leaves_no_samples(short_wav):
    with pytest.raises(ParameterError, match="sr=100 leaves no samples of the 40 read at 8000 Hz"):
        audio.load(short_wav, sr=100)
    y, sr = audio.load(short_wav, sr=200)  # one sample is still a signal
    assert (sr, y.shape) == (200, (1,))


def test_resample_refuses_rates_out_of_range_and_empty_results():
    y = np.zeros(40, np.float32)
    with pytest.raises(ParameterError, match="target_sr=1 is outside"):
        audio.resample(y, SR, 1)
    with pytest.raises(ParameterError, match="target_sr=2147483648 is outside"):
        audio.resample(y, SR, 2**31)
    with pytest.raises(ParameterError, match="sr=2147483648 is above"):
        audio.resample(y, 2**31, 16000)
    with pytest.raises(ParameterError, match="target_sr=100 leaves no samples of the 40"):
        audio.resample(y, SR, 100)
    with pytest.raises(ParameterError, match="1-D or"):
        audio.resample(np.zeros((2, 2, 40)), SR, 16000)
    assert audio.resample(np.zeros(0, np.float32), SR, 16000).shape == (0,)


def test_no_warning_for_complete_files(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for fmt, subtype, channels in DECLARING:
            path = tmp_path / f"ok.{fmt.lower()}"
            sf.write(path, tone(channels), SR, format=fmt, subtype=subtype)
            assert audio.info(path).frames == N


# ---------------------------------------------------------------- fuzzing

FUZZ_FORMATS = [("WAV", "PCM_16"), ("AIFF", "PCM_16"), ("AU", "ULAW"), ("W64", "FLOAT"), ("CAF", "PCM_24"),
                ("RF64", "PCM_16"), ("NIST", "PCM_16"), ("VOC", "PCM_U8"), ("FLAC", "PCM_16"), ("OGG", "VORBIS"),
                ("MAT5", "DOUBLE"), ("IRCAM", "PCM_16"), ("MP3", "MPEG_LAYER_III")]


@pytest.fixture(scope="module")
def fuzz_sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    out = {}
    for fmt, subtype in FUZZ_FORMATS:
        path = root / f"src.{fmt.lower()}"
        sf.write(path, tone(2)[:2000] if fmt != "MP3" else np.tile(tone(2), (3, 1)), SR, format=fmt,
                 subtype=subtype)
        out[fmt] = path.read_bytes()
    return out


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fmt=st.sampled_from([f for f, _ in FUZZ_FORMATS]), keep=st.floats(0.0, 1.0),
       flips=st.lists(st.tuples(st.integers(0, 127), st.integers(1, 255)), max_size=3))
def test_fuzz_cut_and_flipped_files_give_a_named_error_or_finite_audio(fuzz_sources, tmp_path, fmt, keep, flips):
    """Truncations and header byte flips: AudioFormatError, or finite samples no longer than the header allows."""
    data = bytearray(fuzz_sources[fmt][: max(1, int(len(fuzz_sources[fmt]) * keep))])
    for pos, mask in flips:
        if pos < len(data):
            data[pos] ^= mask
    path = tmp_path / f"fuzz.{fmt.lower()}"
    path.write_bytes(bytes(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # libsndfile's own chatter about odd headers is not under test
        try:
            y, sr = audio.load(path, mono=False)
        except AudioFormatError as exc:
            assert str(path) in str(exc)
            return
    assert np.isfinite(y).all() and y.ndim == 2 and y.shape[1] > 0 and sr > 0


def test_a_header_that_sends_the_decoder_before_the_file_start_is_refused_quietly(tmp_path):
    # A damaged chunk id in an AIFF makes libsndfile seek to a negative offset through soundfile's
    # callbacks, where an exception can only be printed and dropped (pytest turns it into an error).
    path = tmp_path / "seek.aiff"
    sf.write(path, tone(2), SR, format="AIFF", subtype="PCM_24")
    data = bytearray(path.read_bytes())
    at = data.index(b"SSND")
    data[at + 2] = 0xD2
    path.write_bytes(bytes(data))
    with pytest.raises(AudioFormatError, match="seek.aiff"):
        audio.load(path)
