"""Crafted .arep files: every header field is bounded before anything is allocated from it.

A CRC guards against accidents, not against a crafted file, so each case here patches a real
encoded file and then fixes its CRC; the decoder must still refuse it with a CodecError that
names the field, or decode it to finite samples.
"""

from __future__ import annotations

import lzma
import math
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from audiorep import codec
from audiorep.errors import CodecError, ParameterError

SR = codec.SR
SEGMENTS_AT = 64  # the first segment header in a version 2 file
PAYLOAD_AT = SEGMENTS_AT + 9


def with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def patched(data: bytes, offset: int, fmt: str, value) -> bytes:
    body = bytearray(data[:-4])
    struct.pack_into(fmt, body, offset, value)
    return with_crc(bytes(body))


def with_payload(data: bytes, method: int, payload: bytes) -> bytes:
    """The file with its single segment's payload replaced (block count kept)."""
    blocks = struct.unpack_from("<I", data, SEGMENTS_AT)[0]
    return with_crc(data[:SEGMENTS_AT] + struct.pack("<IBI", blocks, method, len(payload)) + payload)


@pytest.fixture(scope="module")
def arep_bytes(tmp_path_factory):
    """A real 1.5 s file at 22.05 kHz: one segment of 24 code blocks."""
    rng = np.random.default_rng(4)
    y = (0.1 * rng.standard_normal(33075)).astype(np.float32)
    path = tmp_path_factory.mktemp("arep") / "good.arep"
    codec.encode(y, path, sr=22050, quality=50)
    data = path.read_bytes()
    info = codec.arep_info(path)
    assert info.n_segments == 1 and struct.unpack_from("<I", data, SEGMENTS_AT)[0] == 24
    return data


def write(tmp_path, data: bytes):
    path = tmp_path / "crafted.arep"
    path.write_bytes(data)
    return path


HEADER_CASES = [
    # (field, offset, struct format, value)
    ("sr", 6, "<I", 44100),
    ("n_samples", 10, "<Q", 2**64 - 2),
    ("n_samples", 10, "<Q", 10**9),
    ("n_samples", 10, "<Q", 24000 + 2000),  # two code blocks more than the segment holds
    ("n_samples", 10, "<Q", 10000),  # fewer frames than the segment codes
    ("n_fft", 18, "<H", 1024),
    ("hop_length", 20, "<H", 128),
    ("n_mels", 22, "<H", 0),
    ("stride", 24, "<H", 3),
    ("stride", 24, "<H", 0),
    ("latent_dim", 26, "<H", 0),
    ("step", 44, "<f", 1e6),
    ("step", 44, "<f", 3e38),
    ("step", 44, "<f", math.inf),
    ("step", 44, "<f", math.nan),
    ("step", 44, "<f", 0.0),
    ("step", 44, "<f", -0.5),
    ("n_segments", 48, "<I", 0),
    ("n_segments", 48, "<I", 2**32 - 1),
    ("input_sr", 52, "<I", 0),
    ("input_sr", 52, "<I", 2**31),
    ("input_sr", 52, "<I", 768_001),
    ("input_samples", 56, "<Q", 2**64 - 2),
    ("input_samples", 56, "<Q", 33075 * 2),
    ("code_blocks", SEGMENTS_AT, "<I", 2**32 - 1),
    ("code_blocks", SEGMENTS_AT, "<I", 0),
    ("method", SEGMENTS_AT + 4, "<B", 7),
]


@pytest.mark.parametrize(("field", "offset", "fmt", "value"), HEADER_CASES,
                         ids=[f"{c[0]}={c[3]}" for c in HEADER_CASES])
def test_a_crafted_header_field_is_refused_by_name(arep_bytes, tmp_path, field, offset, fmt, value):
    path = write(tmp_path, patched(arep_bytes, offset, fmt, value))
    with pytest.raises(CodecError, match=rf"\b{field}="):
        codec.arep_info(path)
    with pytest.raises(CodecError, match=rf"\b{field}="):
        codec.decode(path)


def test_the_unpatched_file_passes_the_same_checks(arep_bytes, tmp_path):
    # the cases above fail because of their patch, not because the base file is off
    path = write(tmp_path, patched(arep_bytes, 44, "<f", codec.MAX_STEP))
    y, sr = codec.decode(path)
    assert sr == 22050 and len(y) == 33075 and np.isfinite(y).all()


@pytest.mark.parametrize("method", [0, 1])
def test_a_decompression_bomb_is_stopped_at_the_size_the_header_allows(arep_bytes, tmp_path, method):
    inflated = bytes(8 << 20)  # 8 MiB of zeros; the segment's 24 blocks allow 3 bytes per code at most
    cap = 3 * 24 * codec.load_codec_model().config["latent_dim"]
    payload = (zlib.compress(inflated, 9, -15) if method == 0
               else lzma.compress(inflated, format=lzma.FORMAT_RAW, filters=codec.entropy.LZMA_FILTERS))
    assert len(payload) < 20_000
    path = write(tmp_path, with_payload(arep_bytes, method, payload))
    tracemalloc.start()
    try:
        with pytest.raises(CodecError, match=f"inflates past the {cap} bytes"):
            codec.decode(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < (1 << 20), peak  # the 8 MiB were never materialised


@pytest.mark.parametrize("method", [0, 1])
def test_a_payload_cut_short_is_refused(arep_bytes, tmp_path, method):
    raw = bytes(24 * codec.load_codec_model().config["latent_dim"])
    payload = (zlib.compress(raw, 9, -15) if method == 0
               else lzma.compress(raw, format=lzma.FORMAT_RAW, filters=codec.entropy.LZMA_FILTERS))
    path = write(tmp_path, with_payload(arep_bytes, method, payload[: len(payload) // 2]))
    with pytest.raises(CodecError, match="segment 0: corrupt payload"):
        codec.decode(path)


def test_extreme_codes_at_the_largest_step_decode_to_finite_samples(arep_bytes, tmp_path):
    n = 24 * codec.load_codec_model().config["latent_dim"]
    # every code escapes to the int16 extreme, alternating in sign, at the largest step the header allows
    escapes = np.where(np.arange(n) % 2 == 0, 32767, -32768).astype("<i2")
    raw = b"\x80" * n + escapes.tobytes()
    data = with_payload(arep_bytes, 0, zlib.compress(raw, 9, -15))
    path = write(tmp_path, patched(data, 44, "<f", codec.MAX_STEP))
    y, sr = codec.decode(path)
    assert sr == 22050 and len(y) == 33075
    assert np.isfinite(y).all()
    mel, _ = codec.decode_logmel(path)
    # unclipped, these codes decode to millions of dB, which overflow to inf once made linear
    assert np.isfinite(mel).all() and mel.max() == codec.DB_RANGE[1]


def test_decode_refuses_a_target_rate_out_of_range(arep_bytes, tmp_path):
    path = write(tmp_path, arep_bytes)
    with pytest.raises(ParameterError, match="sr=1000000 is outside the 100..768000 Hz"):
        codec.decode(path, sr=1_000_000)
    with pytest.raises(ParameterError, match="sr=1 is outside"):
        codec.decode(path, sr=1)
    y, sr = codec.decode(path, sr=100)  # low but sane: 1.5 s at 100 Hz
    assert sr == 100 and len(y) == 150


@pytest.mark.parametrize("sr", [0.5, 768_001, 10**9])
def test_encode_refuses_an_input_rate_out_of_range(tmp_path, sr):
    with pytest.raises(ParameterError, match="outside the 1..768000 Hz"):
        codec.encode(np.zeros(1000, np.float32), tmp_path / "x.arep", sr=sr)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- fuzzing

HEADER_SIZE = 64


@settings(max_examples=120, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4),
       in_header=st.booleans())
@example(edits=[(44, 0x49), (45, 0x74), (46, 0x24), (47, 0x49)], in_header=True)  # step = 1e6 (close to it)
@example(edits=[(63, 0xFF), (62, 0xFF)], in_header=True)  # input_samples near 2**64
def test_fuzz_crc_fixed_mutations_give_a_codec_error_or_finite_log_mel(arep_bytes, tmp_path, edits, in_header):
    """Byte replacements in the header or the segments, CRC fixed: a named error or a finite, well-shaped result."""
    body = bytearray(arep_bytes[:-4])
    for pos, value in edits:
        where = pos % HEADER_SIZE if in_header else HEADER_SIZE + pos % (len(body) - HEADER_SIZE)
        body[where] = value
    path = tmp_path / "fuzz.arep"
    path.write_bytes(with_crc(bytes(body)))
    try:
        mel, info = codec.decode_logmel(path)
    except CodecError:
        return
    assert mel.shape == (64, 1 + info.n_samples // codec.HOP)
    assert np.isfinite(mel).all()
