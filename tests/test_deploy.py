"""From an evaluated system to predictions: export, the deployed model's manifest, predict, CLI manners."""

from __future__ import annotations

import csv
import io
import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from audiorep import ParameterError, pipeline
from audiorep.cli import build_parser, main
from audiorep.examples import write_synthetic_dataset
from audiorep.features import FeatureParams

pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

MEL = FeatureParams(kind="mel", sr=8000, frame_length=256, hop_length=128, n_mels=16)
CG = FeatureParams(kind="correlogram", sr=8000, frame_length=256, hop_length=128, n_bands=4, lag_bins=4)
QUICK = dict(epochs=40, hidden=(16,))


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    """A small dataset with pooled mel and correlogram statistics and per-fold autoencoders."""
    work = tmp_path_factory.mktemp("system")
    data = write_synthetic_dataset(work / "data", clips_per_class=5, seconds=0.5, sr=8000)
    for name, params in (("mel", MEL), ("cg", CG)):
        pipeline.extract(data, work / f"{name}.parquet", params)
        pipeline.pool(work / f"{name}.parquet", work / f"pool_{name}.parquet")
    tiny = dict(config={"cell": "gru", "units": 8, "layers": 1, "readout": "pooled"}, epochs=2, batch_size=8)
    for fold in (1, 2, 3, 4, 5):
        pipeline.train(work / "mel.parquet", work / f"ae_x{fold}.pt", exclude_folds=[fold], **tiny)
        pipeline.represent(work / f"ae_x{fold}.pt", work / "mel.parquet", work / f"ae_x{fold}.parquet")
    pipeline.train(work / "mel.parquet", work / "ae.pt", **tiny)
    return work, data


def test_a_pooled_system_predicts_what_the_training_features_say(system, tmp_path):
    work, data = system
    paths = pipeline.export_system([work / "pool_mel.parquet", work / "pool_cg.parquet"], tmp_path / "deploy", **QUICK)
    manifest = json.loads(paths["manifest"].read_text())
    assert [p["kind"] + " " + p["view"] for p in manifest["parts"]] == ["pooled mel", "pooled correlogram"]
    assert manifest["views"]["mel"]["n_mels"] == 16 and manifest["sample_rate"] == 8000
    assert manifest["label_names"] == ["Harmonic tone", "Chirp", "Noise burst", "Click train"]
    clips = sorted(str(p) for p in data.rglob("*.wav"))
    results = pipeline.predict(tmp_path / "deploy", clips, top=2, workers=2)
    assert [r.source for r in results] == clips and all(r.error is None and len(r.top) == 2 for r in results)
    # features computed exactly as in training: the system on the stored features gives the same probabilities
    import torch
    from audiorep.store import read_store

    model = pipeline.load_model(tmp_path / "deploy")
    mel, cg = read_store(work / "mel.parquet"), read_store(work / "cg.parquet")
    for i in (0, 7, 19):
        row = mel.filename.tolist().index(str(data.joinpath(mel.filename[i]).relative_to(data)))
        stored = model.probabilities({"mel": mel.features[row], "correlogram": cg.features[row]})
        fresh = model.probabilities(model.features(str(data / mel.filename[row])))
        np.testing.assert_allclose(fresh, stored, atol=1e-6)
    # arrays at the model's rate, and (array, rate) pairs that are resampled first
    y, sr = sf.read(clips[0], dtype="float32")
    by_array = pipeline.predict(model, [y, (y, sr)])
    assert by_array[0].label == by_array[1].label == results[0].label
    assert by_array[0].probability == pytest.approx(results[0].probability, abs=1e-6)
    with torch.no_grad():
        assert model.system.labels() == manifest["label_names"]


def test_a_per_fold_system_is_deployed_with_its_final_autoencoder(system, tmp_path):
    work, data = system
    inputs = [work / "pool_mel.parquet", str(work / "ae_x{fold}.parquet")]
    with pytest.raises(ParameterError, match="give the model"):
        pipeline.export_system(inputs, tmp_path / "d", **QUICK)
    with pytest.raises(ParameterError, match="trained without folds"):
        pipeline.export_system(inputs, tmp_path / "d", autoencoder=work / "ae_x1.pt", features=work / "mel.parquet",
                               **QUICK)
    with pytest.raises(ParameterError, match="feature store"):
        pipeline.export_system(inputs, tmp_path / "d", autoencoder=work / "ae.pt", **QUICK)
    assert not (tmp_path / "d").exists()
    pipeline.export_system(inputs, tmp_path / "d", autoencoder=work / "ae.pt", features=work / "mel.parquet", **QUICK)
    model = pipeline.load_model(tmp_path / "d")
    parts = model.manifest["parts"]
    assert [p["kind"] for p in parts] == ["pooled", "learned"] and parts[1]["readout"] == "pooled"
    result = pipeline.predict(model, [next(data.rglob("*.wav"))])[0]
    assert result.label in model.labels and 0 < result.probability <= 1


def test_a_damaged_or_edited_model_is_refused(system, tmp_path):
    work, _ = system
    pipeline.export_system([work / "pool_mel.parquet"], tmp_path / "deploy", **QUICK)
    for name, damage in (("system.pt", lambda b: b[:-10] + b"0123456789"), ("model.json", None)):
        broken = tmp_path / f"broken_{name}"
        shutil.copytree(tmp_path / "deploy", broken)
        if damage:
            (broken / name).write_bytes(damage((broken / name).read_bytes()))
            match = "system.pt: does not match the checksum"
        else:
            manifest = json.loads((broken / name).read_text())
            manifest["label_names"][0] = "Dog"
            (broken / name).write_text(json.dumps(manifest))
            match = "does not match its checksum"
        with pytest.raises(ParameterError, match=match):
            pipeline.load_model(broken)
    with pytest.raises(FileNotFoundError, match="no deployed model"):
        pipeline.load_model(tmp_path)


def test_predict_command_names_bad_files_goes_on_and_exits_1(system, tmp_path, capsys):
    work, data = system
    assert main(["export", str(work / "pool_mel.parquet"), str(work / "pool_cg.parquet"), "-o", str(tmp_path / "d"),
                 "--epochs", "40", "--hidden", "16"]) == 0
    assert "4 classes from pooled mel, pooled correlogram at 8000 Hz" in capsys.readouterr().out
    folder = tmp_path / "new"
    shutil.copytree(data / "002 - Chirp", folder)
    (folder / "notes.wav").write_text("not audio")
    out = tmp_path / "p.csv"
    assert main(["predict", str(tmp_path / "d"), str(folder), "-o", str(out), "--top", "2", "--workers", "2"]) == 1
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "notes.wav" in captured.err
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 5 and set(rows[0]) == {"path", "label", "probability", "label1", "probability1", "label2",
                                               "probability2"}
    assert all(r["label"] == r["label1"] for r in rows)
    (folder / "notes.wav").unlink()
    assert main(["predict", str(tmp_path / "d"), str(folder), "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed) == 5 and len(listed[0]["top"]) == 3


def test_cli_manners(system, tmp_path, capsys):
    work, _ = system
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.startswith("audiorep ")
    # -v/-q after the command too; -q silences the summary
    assert main(["pool", str(work / "mel.parquet"), "-o", str(tmp_path / "s.parquet"), "-q"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["pool", str(work / "mel.parquet"), "-o", str(tmp_path / "s.parquet"), "-v"]) == 0
    assert "mean+std summaries" in capsys.readouterr().out
    # every option explains itself and shows a default only where there is one
    import argparse

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():
        text = command.format_help()
        assert "default: None" not in text, name
        for action in command._actions:
            assert action.help, (name, action.dest)
    # info describes models
    assert main(["info", str(work / "ae_x2.pt")]) == 0
    out = capsys.readouterr().out
    assert "autoencoder" in out and '"excluded_folds": [2]' in out


def test_export_of_a_run_directory(tmp_path, capsys):
    work = tmp_path / "run"
    recipe = pipeline.Recipe.demo(epochs=2)
    recipe = pipeline.Recipe(**{**recipe.__dict__, "export": False, "classifier": {**recipe.classifier, "repeats": 1}})
    pipeline.run(None, work, recipe)
    assert not (work / "deploy").exists() and not (work / "ae.pt").exists()
    assert main(["export", str(work), "--system", "learned", "-o", str(tmp_path / "d")]) == 0
    assert (work / "ae.pt").exists()  # the final autoencoder, trained on every clip
    model = pipeline.load_model(tmp_path / "d")
    assert [p["kind"] for p in model.manifest["parts"]] == ["learned"]
    assert model.manifest["info"]["cross_validation"]["folds"]


def test_clips_of_different_lengths_train_at_the_median_and_encode_whole(tmp_path):
    from audiorep.store import read_store
    from audiorep.train import load_model, represent

    data = tmp_path / "data"
    rng = np.random.default_rng(0)
    seconds = {"a": [0.5, 0.5, 0.5, 0.25, 0.9], "b": [0.5, 0.5, 0.5, 0.5, 0.3]}
    for label, lengths in seconds.items():
        (data / label).mkdir(parents=True)
        for i, s in enumerate(lengths):
            sf.write(data / label / f"{i + 1}-{label}{i}.wav", rng.normal(0, 0.1, int(8000 * s)), 8000)
    pipeline.extract(data, tmp_path / "mel.parquet", MEL)
    table = read_store(tmp_path / "mel.parquet")
    counts = table.frame_counts()
    assert len(set(counts.tolist())) == 4
    report = pipeline.train(tmp_path / "mel.parquet", tmp_path / "ae.pt", epochs=1, batch_size=4,
                            config={"cell": "gru", "units": 8, "layers": 1, "readout": "pooled"})
    assert report.frames == int(np.median(counts))
    pipeline.represent(tmp_path / "ae.pt", tmp_path / "mel.parquet", tmp_path / "ae.parquet")
    reps = np.stack([f.reshape(-1) for f in read_store(tmp_path / "ae.parquet").features])
    ae, _ = load_model(tmp_path / "ae.pt")
    for i in (0, 3, 4, 9):  # each row encoded alone, at its own length, gives its stored representation
        alone = represent(ae, table.features[i][None].astype(np.float32))
        np.testing.assert_allclose(reps[i], alone[0], rtol=1e-4, atol=1e-5)


def test_stacked_pads_by_repeating_the_clip():
    from audiorep.store import FeatureTable

    t = FeatureTable({}, {}, 2, 0, 2, features=[np.arange(4, dtype="f4").reshape(2, 2), np.ones((5, 2), "f4")])
    wrapped = t.stacked(length=5, pad="wrap")
    np.testing.assert_array_equal(wrapped[0], [[0, 1], [2, 3], [0, 1], [2, 3], [0, 1]])
    np.testing.assert_array_equal(t.stacked(length=5)[0, 2:], 0)
    np.testing.assert_array_equal(wrapped[1, :3], 1)
    with pytest.raises(ParameterError, match="pad="):
        t.stacked(length=3, pad="edge")


def test_a_mel_system_predicts_the_same_without_audiorep(system, tmp_path):
    """The documented feature settings, rebuilt with librosa, give the deployed module the same inputs."""
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("librosa")
    work, data = system
    inputs = [work / "pool_mel.parquet", str(work / "ae_x{fold}.parquet")]
    pipeline.export_system(inputs, tmp_path / "d", autoencoder=work / "ae.pt", features=work / "mel.parquet", **QUICK)
    clips = sorted(str(p) for p in data.rglob("*.wav"))[::3]
    script = Path(__file__).resolve().parents[1] / "scripts" / "predict_standalone.py"
    # audiorep cannot be imported in the child: the module and the script stand alone
    code = ("import runpy, sys; sys.modules['audiorep'] = None; sys.argv = sys.argv[1:]; "
            "runpy.run_path(sys.argv[0], run_name='__main__')")
    out = subprocess.run([sys.executable, "-c", code, str(script), str(tmp_path / "d"), *clips],
                         capture_output=True, text=True, timeout=300, )
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    expected = pipeline.predict(tmp_path / "d", clips)
    assert [r["path"] for r in rows] == clips
    assert [r["label"] for r in rows] == [e.label for e in expected]
    np.testing.assert_allclose([float(r["probability"]) for r in rows], [e.probability for e in expected], atol=2e-3)


def test_the_standalone_script_refuses_views_it_cannot_rebuild(system, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("librosa")
    work, data = system
    pipeline.export_system([work / "pool_cg.parquet"], tmp_path / "d", **QUICK)
    script = Path(__file__).resolve().parents[1] / "scripts" / "predict_standalone.py"
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "d"), str(next(data.rglob("*.wav")))],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "correlogram" in out.stderr and "audiorep's kernels" in out.stderr


def test_a_run_that_learns_from_both_views_side_by_side_exports_and_predicts(tmp_path):
    import dataclasses

    from audiorep.examples import write_synthetic_dataset

    data = write_synthetic_dataset(tmp_path / "data", clips_per_class=5, seconds=0.5, sr=16000, seed=0)
    recipe = dataclasses.replace(pipeline.Recipe.demo(epochs=1), learn_from="mel+cg",
                                 classifier={"hidden": (8,), "dropout": 0.0, "epochs": 5, "lr": 1e-2, "repeats": 1})
    report = pipeline.run(data, tmp_path / "run", recipe)
    work = tmp_path / "run"
    mel, cg = recipe.views["mel"], recipe.views["cg"]
    from audiorep.store import read_store

    joined = read_store(work / "mel+cg.parquet")
    assert joined.params["kind"] == "mel+correlogram" and joined.params["top_db"] == mel.get("top_db", 80.0)
    assert joined.features[0].shape[1] == mel["n_mels"] + cg["n_bands"] * (cg["lag_bins"] + 1)
    assert set(report.systems) == {"learned", "pooled", "fused", "pooled_input"}
    assert report.systems["pooled_input"]["inputs"] == [str(work / "pool_mel+cg.parquet")]
    assert report.systems["pooled"]["inputs"] == [str(work / "pool_mel.parquet"), str(work / "pool_cg.parquet")]
    model = pipeline.load_model(work / "deploy")
    assert [p["kind"] for p in model.manifest["parts"]] == ["pooled", "pooled", "learned"]
    assert model.manifest["views"][model.manifest["parts"][2]["view"]]["kind"] == "mel+correlogram"
    wav = next(data.rglob("*.wav"))
    [prediction] = pipeline.predict(model, [wav])
    assert prediction.error is None and prediction.label in model.manifest["label_names"]
    with pytest.raises(ParameterError, match="learn_from='mel\\+nope'"):
        dataclasses.replace(recipe, learn_from="mel+nope").learning_view()
    with pytest.raises(ParameterError, match="'mel' view and a 'correlogram' view"):
        dataclasses.replace(recipe, learn_from="cg+mel").learning_view()
