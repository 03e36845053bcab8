"""scripts/derive_dataset.py: the dataset variants the recipe was checked on."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf


@pytest.fixture(scope="module")
def derive(load_file_module):
    return load_file_module("scripts/derive_dataset.py")


@pytest.fixture
def dataset(tmp_path):
    """Two classes in folders, fold numbers in the file names, one stereo clip with a burst at 3 s."""
    src = tmp_path / "src"
    rng = np.random.default_rng(0)
    for label in ("001 - Dog", "002 - Rain"):
        (src / label).mkdir(parents=True)
        for fold in (1, 2):
            y = 0.01 * rng.standard_normal((5 * 8000, 2)).astype(np.float32)
            y[3 * 8000:int(3.5 * 8000)] += 0.5
            sf.write(src / label / f"{fold}-{label[:3]}-A.flac", y, 8000)
    (src / "README.md").write_text("licences\n")
    return src


def test_the_loudest_window_is_found(derive):
    y = np.zeros(100, np.float32)
    y[60:70] = 1.0
    w = derive.loudest_window(y, 20)
    assert w.size == 20 and np.sum(w) == 10.0
    assert derive.loudest_window(y[:10], 20).size == 10  # shorter clips stay whole


def test_crop_and_resample_keep_the_layout(derive, dataset, tmp_path):
    dst = tmp_path / "dst"
    assert derive.main([str(dataset), str(dst), "--sr", "16000", "--crop", "1"]) == 0
    made = sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*.wav"))
    assert made == sorted(p.relative_to(dataset).with_suffix(".wav").as_posix() for p in dataset.rglob("*.flac"))
    assert (dst / "README.md").read_text() == "licences\n"
    for path in dst.rglob("*.wav"):
        y, sr = sf.read(path)
        assert sr == 16000 and y.ndim == 1 and y.size == 16000
        # the kept second holds the whole burst at 3.0-3.5 s (its energy dwarfs the noise)
        assert np.mean(np.abs(y) > 0.25) > 0.45


def test_a_folder_without_audio_or_options_is_refused(derive, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit):
        derive.main([str(tmp_path / "empty"), str(tmp_path / "out"), "--sr", "16000"])
    with pytest.raises(SystemExit):
        derive.main([str(tmp_path / "empty"), str(tmp_path / "out")])
