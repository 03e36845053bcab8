"""The learned codec: round trips, the .arep header, damaged files, cancellation, bounded memory."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import audiorep
from audiorep import codec
from audiorep.cli import main
from audiorep.errors import AudioFormatError, Cancelled, CodecError, ParameterError

SR = codec.SR


def mel_snr(ref, est):
    a = audiorep.dsp.melspectrogram(ref.astype(np.float64), SR, n_fft=512, hop_length=256, n_mels=64, power=1.0,
                                    log=False)
    b = audiorep.dsp.melspectrogram(est.astype(np.float64), SR, n_fft=512, hop_length=256, n_mels=64, power=1.0,
                                    log=False)
    return 10 * np.log10(np.sum(a ** 2) / np.sum((a - b) ** 2))


def lsd(ref, est):
    """Log-spectral distance in dB (both spectra floored 80 dB below the reference's peak), as the benchmark has it."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(512) / 512)

    def power_db(x):
        frames = np.lib.stride_tricks.sliding_window_view(np.pad(x.astype(np.float64), 256), 512)[::256]
        return 10 * np.log10(np.maximum(np.abs(np.fft.rfft(frames * window, axis=1)) ** 2, 1e-10))

    a, b = power_db(ref), power_db(est)
    floor = a.max() - 80
    return np.mean(np.sqrt(np.mean((np.maximum(a, floor) - np.maximum(b, floor)) ** 2, axis=1)))


def rms_matched_noise(y, rng):
    noise = rng.standard_normal(len(y))
    return noise * np.sqrt(np.mean(y.astype(np.float64) ** 2) / np.mean(noise ** 2))


def synthetic(seconds, sr=SR, seed=0):
    """Environmental-sound-like test signal: a pulsing pink-noise bed, a rumble, and a hiss that starts later.

    The codec is trained on environmental sounds and reproduces spectral envelopes, not
    the sharp lines of pure tones, so the synthetic input is of the kind it is made for.
    """
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / sr)

    def shaped(gain, rms):
        x = np.fft.irfft(spectrum * gain, n)
        return x * rms / x.std()

    bed = shaped(1 / np.sqrt(np.maximum(freqs, 20.0)), 0.05) * (0.3 + np.abs(np.sin(2 * np.pi * 1.3 * t)))
    rumble = shaped(np.exp(-((freqs - 400) / 250) ** 2), 0.2) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.7 * t))
    hiss = shaped((freqs > 2500) & (freqs < 5000), 0.08) * (t > seconds / 3)
    return (bed + rumble + hiss).astype(np.float32)


@pytest.fixture(scope="module")
def long_wav(tmp_path_factory):
    """Five minutes of 16 kHz 16-bit audio, written in blocks (9.6 MB on disk, 19 MB as float32)."""
    path = tmp_path_factory.mktemp("long") / "long.wav"
    rng = np.random.default_rng(1)
    with sf.SoundFile(path, "w", SR, 1, subtype="PCM_16") as f:
        for i in range(30):
            t = (np.arange(10 * SR) + i * 10 * SR) / SR
            f.write(0.2 * np.sin(2 * np.pi * (300 + 5 * i) * t) + 0.02 * rng.standard_normal(len(t)))
    return path


# ---------------------------------------------------------------- round trips

@pytest.mark.data
def test_round_trip_on_a_real_clip(esc10_dir, tmp_path, rng):
    clip = sorted((esc10_dir / "001 - Dog bark").glob("5-*.ogg"))[0]
    ref, _ = audiorep.load(clip, sr=SR)
    out = tmp_path / "clip.arep"
    info = codec.encode(clip, out, quality=60)
    y, sr = codec.decode(out, tmp_path / "clip.wav", sr=SR)
    assert sr == SR and len(y) == len(ref) == info.n_samples
    written, wsr = sf.read(tmp_path / "clip.wav", dtype="float32")
    assert wsr == SR and np.array_equal(written, y)
    # Griffin-Lim phase cannot match the waveform; the spectral envelope must. White noise of the same
    # power scores a mel SNR near 0 dB and an LSD above 30 dB; Opus at 6 kbit/s averages 15 dB LSD on fold 5.
    noise = rms_matched_noise(ref, rng)
    assert mel_snr(ref, noise) < 1.0 and lsd(ref, noise) > 20.0
    assert mel_snr(ref, y) > 2.0
    assert lsd(ref, y) < 8.0
    assert info.kbps < 6.0


def test_round_trip_on_a_synthetic_signal_at_another_rate(tmp_path, rng):
    sr_in = 44100
    y_in = synthetic(3.0, sr=sr_in)
    out = tmp_path / "s.arep"
    info = codec.encode(y_in, out, sr=sr_in, quality=80)
    assert (info.input_sr, info.input_samples) == (sr_in, len(y_in))
    back, back_sr = codec.decode(out)  # by default at the input's rate and length
    assert back_sr == sr_in and len(back) == len(y_in)
    y, sr = codec.decode(out, sr=SR)  # the codec's own rate
    ref = audiorep.audio.soxr.resample(y_in, sr_in, SR)
    assert sr == SR
    assert info.n_samples == len(y) == round(len(y_in) * SR / sr_in)
    # the input-rate result is the 16 kHz one resampled
    again = audiorep.audio.soxr.resample(y, SR, sr_in)
    assert abs(len(again) - len(back)) <= 2
    m = min(len(again), len(back))
    np.testing.assert_allclose(back[:m], again[:m], atol=1e-5)
    assert abs(len(ref) - len(y)) <= 1
    n = min(len(ref), len(y))
    noise = rms_matched_noise(ref, rng)
    assert mel_snr(ref, noise) < 2.5 and lsd(ref, noise) > 14.0
    assert mel_snr(ref[:n], y[:n]) > 4.0
    assert lsd(ref[:n], y[:n]) < 11.0
    # the hiss starts after the first third: the 2.5-5 kHz share of energy rises there, as in the input
    def hiss_share(x):
        spec = np.abs(np.fft.rfft(x)) ** 2
        f = np.fft.rfftfreq(len(x), 1 / SR)
        return spec[(f > 2500) & (f < 5000)].sum() / spec.sum()

    assert hiss_share(y[: SR // 2]) < 0.5 * hiss_share(y[2 * SR:])


def test_streaming_features_equal_whole_signal_features(rng):
    y = rng.standard_normal(SR * 3 + 123).astype(np.float32)
    framer = codec.stream.Framer(codec.N_MELS)
    parts = [framer.push(y[i: i + 1000]) for i in range(0, len(y), 1000)] + [framer.finish()]
    streamed = np.concatenate(parts, axis=1)
    whole = audiorep.dsp.melspectrogram(y, SR, n_fft=512, hop_length=256, n_mels=64, top_db=None)
    assert streamed.shape == whole.shape == (64, 1 + len(y) // 256)
    np.testing.assert_allclose(streamed, whole, atol=1e-3)


def test_quality_trades_bits_for_fidelity(tmp_path):
    y = synthetic(2.0)
    sizes, snrs, lsds = [], [], []
    for q in (0, 50, 100):
        info = codec.encode(y, tmp_path / f"q{q}.arep", sr=SR, quality=q)
        z, _ = codec.decode(tmp_path / f"q{q}.arep")
        sizes.append(info.n_bytes)
        snrs.append(mel_snr(y, z))
        lsds.append(lsd(y, z))
    assert sizes[0] < sizes[1] < sizes[2]
    # the step shrinks 40-fold from quality 0 to 100; the autoencoder, not the quantiser, bounds the best quality
    assert snrs[2] > snrs[0] + 0.25, snrs
    assert lsds[2] < lsds[0], lsds


@pytest.mark.parametrize("kbps", [1.5, 4.0])
def test_bitrate_target_is_met(tmp_path, kbps):
    y = synthetic(5.0, seed=3) + 0.05 * np.random.default_rng(3).standard_normal(5 * SR).astype(np.float32)
    info = codec.encode(y, tmp_path / "b.arep", sr=SR, bitrate=kbps)
    real = os.path.getsize(tmp_path / "b.arep") * 8 / 5.0 / 1000
    assert real == pytest.approx(info.kbps)
    assert 0.8 * kbps < real <= 1.02 * kbps, real


# ---------------------------------------------------------------- the header

def test_header_fields(tmp_path):
    y = synthetic(2.0)
    out = tmp_path / "h.arep"
    returned = codec.encode(y, out, sr=SR, quality=30)
    data = out.read_bytes()
    assert data[:4] == b"AREP"
    assert struct.unpack_from("<H", data, 4)[0] == codec.FORMAT_VERSION
    info = codec.arep_info(out)
    assert info == returned
    model = codec.load_codec_model()
    assert (info.sr, info.n_samples, info.n_fft, info.hop_length, info.n_mels) == (SR, len(y), 512, 256, 64)
    assert (info.stride, info.latent_dim) == (model.config["stride"], model.config["latent_dim"])
    assert info.model_digest == model.digest and len(info.model_digest) == 16
    assert info.step == pytest.approx(codec.quality_to_step(30), rel=1e-6)
    assert info.n_bytes == len(data) and info.n_segments == 1
    assert struct.unpack_from("<I", data, len(data) - 4)[0] == __import__("zlib").crc32(data[:-4])


def test_long_input_is_cut_into_segments_without_seams(tmp_path):
    y = synthetic(40.0, seed=5)
    info = codec.encode(y, tmp_path / "long.arep", sr=SR, quality=60)
    n_frames = 1 + len(y) // 256
    assert info.n_samples == len(y)
    assert info.n_segments == -(-n_frames // codec.SEGMENT_FRAMES) == 3
    mel, _ = codec.decode_logmel(tmp_path / "long.arep")
    assert mel.shape == (64, n_frames)
    # Each segment is encoded with context from its neighbours, so frames at a join are no worse than the rest.
    ref = codec.logmel(y)
    err = np.abs(np.maximum(mel, -80) - np.maximum(ref, -80)).mean(axis=0)
    for join in (codec.SEGMENT_FRAMES, 2 * codec.SEGMENT_FRAMES):
        assert err[join - 4: join + 4].mean() < 2 * err.mean() + 1.0, (err[join - 4: join + 4], err.mean())


# ---------------------------------------------------------------- damaged files

@pytest.fixture
def good_arep(tmp_path):
    out = tmp_path / "good.arep"
    codec.encode(synthetic(1.5), out, sr=SR, quality=50)
    return out


def test_decoding_a_corrupt_payload_raises(good_arep):
    data = bytearray(good_arep.read_bytes())
    data[len(data) // 2 + 20] ^= 0x5A
    good_arep.write_bytes(bytes(data))
    with pytest.raises(CodecError, match="CRC mismatch"):
        codec.decode(good_arep)


@pytest.mark.parametrize("keep", [0, 3, 10, 40, -1])
def test_decoding_a_truncated_file_raises(good_arep, keep):
    data = good_arep.read_bytes()
    good_arep.write_bytes(data[:keep] if keep >= 0 else data[:-1])
    with pytest.raises(CodecError, match="truncated|CRC|magic"):
        codec.decode(good_arep)


def test_decoding_bad_magic_and_bad_version_raise(good_arep, tmp_path):
    data = good_arep.read_bytes()
    (tmp_path / "magic.arep").write_bytes(b"RIFF" + data[4:])
    with pytest.raises(CodecError, match="bad magic"):
        codec.decode(tmp_path / "magic.arep")
    (tmp_path / "version.arep").write_bytes(data[:4] + struct.pack("<H", 7) + data[6:])
    with pytest.raises(CodecError, match="version 7 is not supported"):
        codec.decode(tmp_path / "version.arep")


def test_version_1_files_still_decode(tmp_path):
    sr_in = 22050
    y = synthetic(1.0, sr=sr_in)
    out = tmp_path / "v2.arep"
    info = codec.encode(y, out, sr=sr_in, quality=60)
    data = out.read_bytes()
    assert struct.unpack_from("<IQ", data, 52) == (sr_in, len(y))
    # the same file as version 1 wrote it: no input fields, its own CRC
    body = data[:4] + struct.pack("<H", 1) + data[6:52] + data[64:-4]
    old = tmp_path / "v1.arep"
    old.write_bytes(body + struct.pack("<I", __import__("zlib").crc32(body)))
    old_info = codec.arep_info(old)
    assert old_info.version == 1 and (old_info.input_sr, old_info.input_samples) == (None, None)
    assert old_info.n_samples == info.n_samples and old_info.step == info.step
    y1, sr1 = codec.decode(old)  # no recorded input rate: the codec's 16 kHz
    y2, sr2 = codec.decode(out, sr=SR)
    assert sr1 == sr2 == SR
    np.testing.assert_array_equal(y1, y2)
    # a version 2 header with a zero input rate is refused
    bad = bytearray(data[:-4])
    struct.pack_into("<I", bad, 52, 0)
    (tmp_path / "zero.arep").write_bytes(bytes(bad) + struct.pack("<I", __import__("zlib").crc32(bytes(bad))))
    with pytest.raises(CodecError, match="input_sr=0"):
        codec.arep_info(tmp_path / "zero.arep")


def test_decoding_with_another_model_raises(tmp_path):
    import torch

    torch.manual_seed(0)
    other = tmp_path / "other.npz"
    codec.save_codec_model(other, codec.CodecAutoencoder(latent_dim=48, channels=16))
    out = tmp_path / "other.arep"
    codec.encode(synthetic(1.0), out, sr=SR, model=other)
    codec.decode(out, model=other)  # its own model decodes it
    with pytest.raises(CodecError, match="different codec model"):
        codec.decode(out)


def test_cli_reports_a_damaged_file(good_arep, tmp_path, capsys):
    good_arep.write_bytes(good_arep.read_bytes()[:-3])
    assert main(["decode", str(good_arep), "-o", str(tmp_path / "x.wav")]) == 1
    assert "CRC" in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists()


# ---------------------------------------------------------------- bad arguments

def test_bad_arguments_raise(tmp_path):
    y = synthetic(0.5)
    out = tmp_path / "o.arep"
    with pytest.raises(ParameterError, match="not both"):
        codec.encode(y, out, sr=SR, bitrate=4, quality=50)
    with pytest.raises(ParameterError, match="quality=150"):
        codec.encode(y, out, sr=SR, quality=150)
    with pytest.raises(ParameterError, match="bitrate=-1"):
        codec.encode(y, out, sr=SR, bitrate=-1)
    with pytest.raises(ParameterError, match="sr is required"):
        codec.encode(y, out)
    with pytest.raises(ParameterError, match="sr=0"):
        codec.encode(y, out, sr=0)
    with pytest.raises(TypeError, match="out_path"):
        codec.encode(y, 3, sr=SR)
    with pytest.raises(TypeError, match="audio must be"):
        codec.encode(np.array(["a", "b"]), out, sr=SR)
    bad = y.copy()
    bad[100] = np.nan
    with pytest.raises(AudioFormatError, match="NaN"):
        codec.encode(bad, out, sr=SR)
    with pytest.raises(FileNotFoundError):
        codec.encode(tmp_path / "missing.wav", out)
    (tmp_path / "text.wav").write_text("not audio")
    with pytest.raises(AudioFormatError):
        codec.encode(tmp_path / "text.wav", out)
    with pytest.raises(FileNotFoundError):
        codec.decode(tmp_path / "missing.arep")
    (tmp_path / "empty.arep").write_bytes(b"")
    with pytest.raises(CodecError):
        codec.decode(tmp_path / "empty.arep")
    assert not out.exists()


# ---------------------------------------------------------------- cancellation and memory

@pytest.mark.parametrize("checks", [0, 2])
def test_cancel_event_stops_encoding_and_leaves_no_file(long_wav, tmp_path, checks, cancel_after):
    cancel = cancel_after(checks)
    out = tmp_path / "c.arep"
    with pytest.raises(Cancelled):
        codec.encode(long_wav, out, cancel=cancel)
    assert cancel.checks < 0
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("checks", [0, 3])
def test_cancel_event_stops_decoding_before_phase_recovery(tmp_path, checks, cancel_after, monkeypatch):
    # The mel inversion ahead of Griffin-Lim takes seconds on a long file; it must not run on regardless.
    arep, out = tmp_path / "t.arep", tmp_path / "t.wav"
    codec.encode(np.sin(np.arange(4 * SR) * 0.05), arep, sr=SR)
    monkeypatch.setattr(codec.synthesis, "griffin_lim", lambda *args, **kwargs: pytest.fail("phase recovery ran"))
    cancel = cancel_after(checks)
    with pytest.raises(Cancelled):
        codec.decode(arep, out, cancel=cancel)
    assert cancel.checks == -1  # stopped at the first check after the event was set
    assert sorted(tmp_path.iterdir()) == [arep]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_stops_the_encode_command(long_wav, tmp_path, sig):
    out = tmp_path / "sig.arep"
    env = dict(os.environ, PYTHONPATH=str(Path(audiorep.__file__).resolve().parents[1]))
    proc = subprocess.Popen([sys.executable, "-m", "audiorep", "encode", str(long_wav), "-o", str(out)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob(".sig.arep.*.tmp")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert list(tmp_path.glob(".sig.arep.*.tmp")), proc.communicate()
    sent = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=10)
    assert time.monotonic() - sent < 2.0
    assert proc.returncode == 130, err
    assert b"cancelled" in err
    assert list(tmp_path.iterdir()) == []


def test_long_input_memory_is_bounded(long_wav, tmp_path):
    input_bytes = 300 * SR * 4  # the input as float32
    tracemalloc.start()
    try:
        codec.encode(long_wav, tmp_path / "m.arep", quality=10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the entropy coder's tables take about 2 MB whatever the length; everything else is a few blocks
    assert peak < input_bytes / 4, peak


# ---------------------------------------------------------------- command line

def test_cli_encode_and_decode(tmp_path, capsys):
    wav = tmp_path / "in.wav"
    sf.write(wav, synthetic(2.0, sr=22050), 22050)
    assert main(["encode", str(wav), "-o", str(tmp_path / "x.arep"), "--bitrate-target", "3", "--no-progress"]) == 0
    assert "input at 22050 Hz" in capsys.readouterr().out
    assert main(["decode", str(tmp_path / "x.arep"), "-o", str(tmp_path / "x.wav")]) == 0
    i = sf.info(tmp_path / "x.wav")
    assert i.samplerate == 22050 and i.frames == 2 * 22050  # the input's rate and length
    assert main(["decode", str(tmp_path / "x.arep"), "-o", str(tmp_path / "y.wav"), "--sr", "16000"]) == 0
    i = sf.info(tmp_path / "y.wav")
    assert i.samplerate == SR and i.frames == 2 * SR
    assert main(["decode", str(tmp_path / "x.arep"), "-o", str(tmp_path / "z.wav"), "--sr", "0"]) == 1
    assert "sr=0" in capsys.readouterr().err and not (tmp_path / "z.wav").exists()
    with pytest.raises(SystemExit):
        main(["encode", str(wav), "-o", "y.arep", "--quality", "10", "--bitrate-target", "3"])


def test_decode_resamples_to_the_asked_rate(tmp_path):
    sr = 16000
    y = (0.5 * np.sin(2 * np.pi * 440 * np.arange(sr) / sr)).astype(np.float32)
    codec.encode(y, tmp_path / "t.arep", sr=sr, quality=80)
    base, base_sr = codec.decode(tmp_path / "t.arep")
    up, up_sr = codec.decode(tmp_path / "t.arep", sr=48000)
    assert (base_sr, up_sr) == (16000, 48000) and len(up) == 3 * len(base) and up.dtype == np.float32
    # the same signal: its spectrum peak stays at the same frequency
    assert abs(np.argmax(np.abs(np.fft.rfft(up))) * 48000 / len(up) - np.argmax(np.abs(np.fft.rfft(base)))
               * 16000 / len(base)) < 2
    np.testing.assert_array_equal(codec.decode(tmp_path / "t.arep", sr=16000)[0], base)
    with pytest.raises(ParameterError, match="sr=-1"):
        codec.decode(tmp_path / "t.arep", sr=-1)



def test_a_signal_swallowed_inside_a_c_callback_still_cancels(monkeypatch, tmp_path, capsys):
    # soundfile reads through cffi callbacks, which swallow the KeyboardInterrupt a signal raises
    # there; the signal handler's cancel event must stop the command all the same.
    from audiorep import cli

    wav = tmp_path / "in.wav"
    sf.write(wav, synthetic(60.0), SR)
    original = codec.stream.input_blocks

    def blocks_then_a_swallowed_signal(source, sr):
        total, rate, gen = original(source, sr)

        def gen2():
            for i, block in enumerate(gen):
                if i == 1:
                    cli._CANCEL.set()  # what the handler does before its exception is lost
                yield block
        return total, rate, gen2()

    monkeypatch.setattr(codec.stream, "input_blocks", blocks_then_a_swallowed_signal)
    out = tmp_path / "x.arep"
    assert cli.main(["encode", str(wav), "-o", str(out), "--no-progress"]) == cli.EXIT_CANCELLED
    assert "cancelled" in capsys.readouterr().err
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["in.wav"]
