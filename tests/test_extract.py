"""Extraction of datasets into the feature store: audio folders, OBJ-mesh folders, real ESC-10 clips."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

import audiorep
from audiorep.cli import main
from audiorep.datasets import load_dataset
from audiorep.examples import write_synthetic_dataset
from audiorep.extract import extract_dataset, features_for_file
from audiorep.features import FeatureParams, compute_features, pool_lags
from audiorep.store import read_store

PARAMS = FeatureParams(kind="autocorrelogram", frame_length=256, hop_length=128, max_lag=64, lag_bins=8)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("synth"), clips_per_class=5, seconds=0.5, sr=8000)


def test_rows_match_features_computed_directly(synth, tmp_path):
    out = tmp_path / "f.parquet"
    report = extract_dataset(load_dataset(synth), out, PARAMS, workers=2, progress=False)
    assert report.written == 20 and report.failed == []
    table = read_store(out)
    for i in (0, 7, 19):
        y, sr = audiorep.load(synth / table.filename[i])
        np.testing.assert_array_equal(table.features[i], compute_features(y, sr, PARAMS))
    assert table.params["lag_bins"] == 8 and table.params["kind"] == "autocorrelogram"


def test_obj_mesh_folders_extract_like_audio(synth, tmp_path):
    # A dataset of meshes written by `audiorep obj`: same class folders, same fold prefix.
    meshes = tmp_path / "meshes"
    for wav in sorted(synth.glob("*/*.wav")):
        y, sr = audiorep.load(wav)
        acg = audiorep.autocorrelogram(y, sr, frame_length=256, hop_length=128, max_lag=64)
        target = meshes / wav.parent.name / (wav.stem + ".obj")
        target.parent.mkdir(parents=True, exist_ok=True)
        audiorep.write_obj(target, acg, precision=6)
    dataset = load_dataset(meshes)
    assert len(dataset) == 20 and {inst.source for inst in dataset} == {"obj"}
    out = tmp_path / "obj.parquet"
    extract_dataset(dataset, out, PARAMS, progress=False)
    table = read_store(out)
    assert table.n_rows == 20 and table.n_features == PARAMS.n_features
    # The mesh keeps the correlation to 6 decimals: pooled curves agree with the audio path.
    y, sr = audiorep.load(synth / table.filename[0].replace(".obj", ".wav"))
    acg = audiorep.autocorrelogram(y, sr, frame_length=256, hop_length=128, max_lag=64)
    np.testing.assert_allclose(table.features[0][:, :-1], pool_lags(acg.values, 8), atol=2e-6)
    assert features_for_file(meshes / table.filename[0], PARAMS).shape == table.features[0].shape


def test_mel_params_refuse_meshes(synth, tmp_path):
    wav = next(synth.glob("*/*.wav"))
    y, sr = audiorep.load(wav)
    obj = tmp_path / "a.obj"
    audiorep.write_obj(obj, audiorep.autocorrelogram(y, sr, frame_length=256, hop_length=128, max_lag=32))
    with pytest.raises(audiorep.ParameterError, match="a.obj"):
        features_for_file(obj, FeatureParams(kind="mel"))


def test_cancel_event_stops_and_leaves_nothing(synth, tmp_path):
    cancel = threading.Event()
    cancel.set()
    out = tmp_path / "f.parquet"
    with pytest.raises(audiorep.Cancelled):
        extract_dataset(load_dataset(synth), out, PARAMS, progress=False, cancel=cancel)
    assert os.listdir(tmp_path) == []


def test_chunks_become_rows(synth, tmp_path):
    out = tmp_path / "f.parquet"
    extract_dataset(load_dataset(synth), out, PARAMS, chunk_seconds=0.2, progress=False)
    table = read_store(out)
    assert table.n_rows == 20 * 3  # 0.5 s in chunks of 0.2 s, the last one padded
    assert sorted(set(table.chunk_nr.tolist())) == [0, 1, 2]


def test_every_file_bad_is_an_error(tmp_path):
    folder = tmp_path / "001 - Noise"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i + 1}-{i}-A.wav").write_text("not audio")
    with pytest.raises(audiorep.AudioFormatError, match="none of the 3 files"):
        extract_dataset(load_dataset(tmp_path), tmp_path / "f.parquet", PARAMS, progress=False)
    assert not (tmp_path / "f.parquet").exists()


@pytest.mark.data
def test_extract_real_esc10_subset_through_the_cli(esc10_dir, tmp_path, capsys):
    subset = tmp_path / "esc10"
    for cls in sorted(esc10_dir.iterdir())[:3]:
        if not cls.is_dir():
            continue
        (subset / cls.name).mkdir(parents=True)
        for clip in sorted(cls.glob("*.ogg"))[:4]:
            os.symlink(clip, subset / cls.name / clip.name)
    out = tmp_path / "esc.parquet"
    assert main(["extract", str(subset), "-o", str(out), "--kind", "mel", "--sr", "16000", "--frame-length", "1024",
                 "--hop-length", "640", "--n-mels", "64", "--duration", "5", "--workers", "2", "--no-progress"]) == 0
    table = read_store(out)
    assert table.n_rows == 12 and len(table.label_map) == 3
    assert {f.shape for f in table.features} == {(126, 64)}
    assert "wrote 12 rows" in capsys.readouterr().out
