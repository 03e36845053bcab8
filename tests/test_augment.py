"""Speed-perturbed copies: names, classes, folds, lengths and pitch."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audiorep import ParameterError
from audiorep.augment import copy_name, speed_perturb, write_speed_copies
from audiorep.datasets import load_dataset
from audiorep.examples import write_synthetic_dataset


def _peak_hz(y, sr):
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return np.argmax(spectrum) * sr / len(y)


@pytest.mark.parametrize("factor", [0.8, 0.9, 1.1, 1.25])
def test_speed_perturbation_scales_length_and_pitch(factor):
    sr = 8000
    y = np.sin(2 * np.pi * 250 * np.arange(sr) / sr).astype(np.float32)
    z = speed_perturb(y, sr, factor)
    assert z.dtype == np.float32 and abs(len(z) - sr / factor) <= 1
    assert _peak_hz(z, sr) == pytest.approx(250 * factor, abs=2)
    assert np.sqrt(np.mean(z[100:-100] ** 2)) == pytest.approx(np.sqrt(0.5), rel=0.02)  # level kept
    assert len(speed_perturb(np.zeros(0, np.float32), sr, factor)) == 0


@pytest.mark.parametrize("args,match", [
    (dict(factor=0.4), r"\[0.5, 2.0\]"),
    (dict(factor=float("nan")), r"\[0.5, 2.0\]"),
    (dict(factor="fast"), "numbers"),
    (dict(y=np.zeros((2, 10), np.float32)), "1-D float"),
    (dict(y=np.zeros(10, np.int16)), "1-D float"),
    (dict(sr=0), "sr=0"),
])
def test_speed_perturbation_rejects_bad_input(args, match):
    kwargs = dict(y=np.zeros(100, np.float32), sr=8000, factor=1.1)
    kwargs.update(args)
    with pytest.raises(ParameterError, match=match):
        speed_perturb(kwargs["y"], kwargs["sr"], kwargs["factor"])


def test_copies_keep_class_fold_and_clip_name(tmp_path):
    root = write_synthetic_dataset(tmp_path / "data", clips_per_class=5, seconds=0.5, sr=8000)
    original = load_dataset(root)
    out = tmp_path / "copies"
    assert write_speed_copies(root, out, [0.8, 1.2], sr=4000) == 2 * len(original)
    copies = load_dataset(out)
    assert copies.label_map == original.label_map
    by_name = {inst.filename: inst for inst in original.instances}
    seen = set()
    for inst in copies.instances:
        folder, name = inst.filename.split("/")
        stem, _, speed = name[: -len(".wav")].rpartition("-speed")
        clip = next(f for f in by_name if f.startswith(f"{folder}/{stem}."))
        assert inst.label_numeric == by_name[clip].label_numeric and inst.fold == by_name[clip].fold
        assert name == copy_name(clip, float(speed))
        info = sf.info(inst.path)
        assert info.samplerate == 4000 and abs(info.frames - 0.5 * 4000 / float(speed)) <= 1
        seen.add((clip, speed))
    assert len(seen) == 2 * len(original)
    # existing copies are kept: a rerun writes nothing, a new speed only its own files
    first = sorted(out.rglob("*.wav"))[0]
    mtime = first.stat().st_mtime_ns
    assert write_speed_copies(root, out, [0.8, 1.2], sr=4000) == 0
    assert write_speed_copies(root, out, [0.8, 1.2, 0.9], sr=4000) == len(original)
    assert first.stat().st_mtime_ns == mtime
    assert not list(out.rglob(".*.tmp"))


def test_copies_reject_bad_arguments(tmp_path):
    root = write_synthetic_dataset(tmp_path / "data", clips_per_class=1, seconds=0.2, sr=8000)
    for factors, match in (([], "at least one"), ([0.9, 0.9], "repeat"), ([3.0], r"\[0.5, 2.0\]")):
        with pytest.raises(ParameterError, match=match):
            write_speed_copies(root, tmp_path / "out", factors)
    with pytest.raises(ParameterError, match="sr=0"):
        write_speed_copies(root, tmp_path / "out", [1.1], sr=0)
    with pytest.raises(FileNotFoundError, match="missing"):
        write_speed_copies(tmp_path / "missing", tmp_path / "out", [1.1])
    assert not (tmp_path / "out").exists()


def test_cancelled_copies_keep_the_finished_files_and_a_rerun_completes(tmp_path, cancel_after):
    from audiorep import Cancelled

    root = write_synthetic_dataset(tmp_path / "data", clips_per_class=2, seconds=0.2, sr=8000)
    out = tmp_path / "copies"
    with pytest.raises(Cancelled, match="after 6 files"):
        write_speed_copies(root, out, [0.9, 1.1], cancel=cancel_after(3))
    assert len(list(out.rglob("*.wav"))) == 6 and not list(out.rglob(".*.tmp"))
    assert write_speed_copies(root, out, [0.9, 1.1]) == 2 * 8 - 6
