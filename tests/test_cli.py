"""The command line, run in-process and (for signals) as a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiorep.cli import build_parser, main
from audiorep.examples import write_synthetic_dataset
from audiorep.store import read_store

COMMANDS = ["demo", "extract", "augment", "info", "obj", "plot", "train", "represent", "pool", "evaluate", "select",
            "predict", "export", "encode", "decode", "serve", "run"]


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("synth"), clips_per_class=5, seconds=0.5, sr=8000)


@pytest.fixture(scope="module")
def small_copies(small_dataset, tmp_path_factory):
    """Speed copies of ``small_dataset``, made and listed by 'audiorep augment'."""
    out = tmp_path_factory.mktemp("copies")
    assert main(["augment", str(small_dataset), "-o", str(out), "--speeds", "1.1", "--no-progress"]) == 0
    return out


@pytest.fixture
def tone_wav(tmp_path):
    sr = 8000
    y = (0.5 * np.sin(2 * np.pi * 250 * np.arange(sr) / sr)).astype(np.float32)
    path = tmp_path / "tone.wav"
    sf.write(path, y, sr)
    return path


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "Example" in out and f"audiorep {command}" in out


def test_demo_prints_the_tone_peak(capsys):
    assert main(["demo"]) == 0
    assert "440.0 Hz" in capsys.readouterr().out


def test_info_on_audio_and_store(tone_wav, small_dataset, tmp_path, capsys):
    assert main(["info", str(tone_wav)]) == 0
    assert "8000 Hz" in capsys.readouterr().out
    store = tmp_path / "f.parquet"
    assert main(["extract", str(small_dataset), "-o", str(store), "--frame-length", "256", "--hop-length", "128",
                 "--n-mels", "16", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["info", str(store)]) == 0
    out = capsys.readouterr().out
    assert "20 rows" in out and "Harmonic tone" in out


def test_bad_audio_gives_one_line_error_naming_the_file(tmp_path, capsys):
    fake = tmp_path / "notes.wav"
    fake.write_text("this is not audio\n")
    assert main(["info", str(fake)]) == 1
    err = capsys.readouterr().err
    assert "notes.wav" in err and "Traceback" not in err
    assert main(["obj", str(tmp_path / "missing.wav"), "-o", str(tmp_path / "m.obj")]) == 1
    assert "missing.wav" in capsys.readouterr().err


def test_extract_mel_and_autocorrelogram(small_dataset, tmp_path):
    for kind, width in (("mel", 16), ("autocorrelogram", 9), ("correlogram", 4 * 9)):
        out = tmp_path / f"{kind}.parquet"
        rc = main(["extract", str(small_dataset), "-o", str(out), "--kind", kind, "--frame-length", "256",
                   "--hop-length", "128", "--n-mels", "16", "--lag-bins", "8", "--n-bands", "4", "--fmin", "100",
                   "--no-progress", "--workers", "2"])
        assert rc == 0
        table = read_store(out)
        assert table.n_rows == 20 and table.n_features == width
        assert table.params["kind"] == kind and "audiorep_version" in table.params
        assert all(np.isfinite(f).all() for f in table.features)
        assert sorted(set(table.fold.tolist())) == [1, 2, 3, 4, 5]


def test_extract_top_db_sets_the_mel_floor(small_dataset, tmp_path):
    for top_db in (30.0, 80.0):
        out = tmp_path / f"mel{top_db:.0f}.parquet"
        assert main(["extract", str(small_dataset), "-o", str(out), "--frame-length", "256", "--hop-length", "128",
                     "--n-mels", "8", "--top-db", str(top_db), "--no-progress"]) == 0
        table = read_store(out)
        assert table.params["top_db"] == top_db
        assert min(float(f.min()) for f in table.features) >= -top_db - 1e-3


def test_extract_skips_bad_files_or_stops_with_strict(small_dataset, tmp_path, capsys):
    import shutil

    root = tmp_path / "data"
    shutil.copytree(small_dataset, root)
    (root / "001 - Harmonic tone" / "1-99999-A.wav").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    out = tmp_path / "f.parquet"
    args = ["extract", str(root), "-o", str(out), "--frame-length", "256", "--hop-length", "128", "--n-mels", "8",
            "--no-progress"]
    listing = tmp_path / "f.parquet.failed.tsv"
    assert main(args) == 1  # the good files are in the store, and the run says it is incomplete
    assert read_store(out).n_rows == 20
    assert "1-99999-A.wav" in capsys.readouterr().err
    name, reason = listing.read_text().rstrip("\n").split("\t")
    assert name.endswith("1-99999-A.wav") and "not an audio file" in reason
    assert main(args + ["--skip-bad"]) == 0
    assert read_store(out).n_rows == 20 and listing.exists()
    capsys.readouterr()
    out.unlink()
    assert main(args + ["--strict"]) == 1
    assert "1-99999-A.wav" in capsys.readouterr().err
    assert not out.exists()
    (root / "001 - Harmonic tone" / "1-99999-A.wav").unlink()
    assert main(args) == 0
    assert not listing.exists()  # the listing of an earlier run goes once every file reads


def test_obj_and_plot_write_files(tone_wav, tmp_path):
    from audiorep.mesh import read_obj

    obj = tmp_path / "tone.obj"
    assert main(["obj", str(tone_wav), "-o", str(obj), "--frame-length", "256", "--hop-length", "128",
                 "--max-lag", "64"]) == 0
    mesh = read_obj(obj)
    assert mesh.vertices.shape == (63 * 64, 3)
    pytest.importorskip("matplotlib")
    pytest.importorskip("plotly")
    figures = tmp_path / "fig"
    assert main(["plot", str(tone_wav), "-o", str(figures), "--frame-length", "256", "--hop-length", "128"]) == 0
    files = sorted(p.name for p in figures.iterdir())
    assert files == ["tone_autocorrelogram.html", "tone_autocorrelogram.png", "tone_spectrogram.png",
                     "tone_waveform.png"]
    for p in figures.iterdir():
        head = p.read_bytes()[:8]
        assert p.stat().st_size > 1000
        assert head.startswith(b"\x89PNG") if p.suffix == ".png" else b"<html" in p.read_bytes()[:200].lower()


def _ctrl_c_not_ignored():
    """In the child before exec: a test run started as a background job passes SIGINT on ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt_extract(tmp_path, sig):
    # Many files of bounded cost: cancellation is checked between files.
    root = write_synthetic_dataset(tmp_path / "long", clips_per_class=15, seconds=5.0, sr=44100)
    out = tmp_path / "f.parquet"
    import audiorep

    package_root = str(Path(audiorep.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, "-m", "audiorep", "-v", "extract", str(root), "-o", str(out), "--kind",
                             "correlogram", "--n-bands", "32", "--lag-bins", "8"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path,
                            preexec_fn=_ctrl_c_not_ignored)
    # Wait until the log (-v; no progress bar on a pipe) shows work has started, then interrupt.
    deadline = time.monotonic() + 60
    seen = b""
    while b"60 files" not in seen and time.monotonic() < deadline:
        chunk = proc.stderr.read1(256)
        if not chunk:
            break
        seen += chunk
    time.sleep(0.3)
    proc.send_signal(sig)
    t0 = time.monotonic()
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    return proc.returncode, time.monotonic() - t0, seen + err, out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_cancelled_extract_leaves_no_output(tmp_path, sig):
    rc, waited, err, out = _interrupt_extract(tmp_path, sig)
    assert rc == 130, err.decode(errors="replace")[-2000:]
    assert waited < 20  # stopped between files, not after all 60 (generous: CI machines are loaded)
    assert b"cancelled" in err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp") or "parquet" in p.name]


def test_parser_knows_every_command():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(COMMANDS)


def test_run_on_the_embedded_default_completes(tmp_path, capsys):
    pytest.importorskip("torch")
    work = tmp_path / "run"
    assert main(["run", "-o", str(work), "--epochs", "2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "learned: accuracy" in out and "pooled: accuracy" in out and "fused: accuracy" in out
    for name in ("mel.parquet", "cg.parquet", "pool_mel.parquet", "ae_x1.pt", "ae_x5.pt", "ae.pt", "ae_x3.parquet",
                 "evaluation/fused/confusion.png", "deploy/system.pt", "deploy/model.json"):
        assert (work / name).stat().st_size > 0, name
    report = json.loads((work / "report.json").read_text())
    for system in ("learned", "pooled", "fused", "pooled_input"):
        assert 0 <= report[system]["mean"] <= 1 and report[system]["std"] >= 0
    assert [f["fold"] for f in report["folds"]] == [1, 2, 3, 4, 5]
    # one autoencoder per fold, each without its fold: the per-fold stores record it
    for fold in (1, 2, 3, 4, 5):
        assert read_store(work / f"ae_x{fold}.parquet").params["excluded_folds"] == [fold]
    assert read_store(work / "ae_x1.parquet").n_rows == 40
    # a second run skips every finished step; another recipe in the same directory is refused
    assert main(["run", "-o", str(work), "--epochs", "2", "--no-progress"]) == 0
    assert "skip extract mel" in capsys.readouterr().out
    assert main(["run", "-o", str(work), "--epochs", "3", "--no-progress"]) == 1
    assert "another recipe" in capsys.readouterr().err


def test_run_takes_a_recipe_file_and_records_it(tmp_path, capsys):
    pytest.importorskip("torch")
    import dataclasses

    from audiorep.pipeline import Recipe

    # the demo recipe with another autoencoder, written as a file; --epochs still changes it
    recipe = dataclasses.replace(Recipe.demo(epochs=2), export=False,
                                 autoencoder={"cell": "lstm", "units": 16, "layers": 1, "teacher_forcing": 1.0,
                                              "readout": "pooled"},
                                 classifier={"hidden": (16,), "dropout": 0.0, "epochs": 30, "lr": 1e-3, "repeats": 1})
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(recipe.to_dict()))
    work = tmp_path / "run"
    assert main(["run", "-o", str(work), "--recipe", str(path), "--epochs", "1", "--no-progress"]) == 0
    assert "fused: accuracy" in capsys.readouterr().out
    recorded = json.loads((work / "recipe.json").read_text())
    assert recorded["recipe"]["autoencoder"]["cell"] == "lstm"
    assert recorded["recipe"]["training"]["epochs"] == 1
    assert not (work / "deploy").exists()
    # a run's own recipe.json runs that recipe again: the finished steps are all skipped
    assert main(["run", "-o", str(work), "--recipe", str(work / "recipe.json"), "--no-progress"]) == 0
    assert "skip extract mel" in capsys.readouterr().out


@pytest.mark.parametrize("text, message", [
    ("{not json", "is not a JSON recipe"),
    ("[1, 2]", "a recipe is a JSON object"),
    ('{"views": {}, "learn_from": "mel", "autoencoder": {}}', "lacks ['training']"),
    ('{"views": {"mel": {}}, "learn_from": "mel", "autoencoder": {}, "training": {}, "epochs": 3}',
     "unknown recipe settings ['epochs']"),
    ('{"views": {"mel": {}}, "learn_from": "mel", "autoencoder": {}, "training": {}, "speeds": [0.9, -1]}',
     "list of positive numbers"),
    ('{"views": {"mel": {}}, "learn_from": "cg", "autoencoder": {}, "training": {}}', "must name one of the views"),
    ('{"views": {"mel": {}}, "learn_from": "mel", "autoencoder": [], "training": {}}', "must be an object"),
])
def test_a_bad_recipe_file_is_refused_with_its_name(tmp_path, capsys, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    assert main(["run", "-o", str(tmp_path / "run"), "--recipe", str(path), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert str(path) in err and message in err
    assert not (tmp_path / "run").exists()


def test_a_missing_recipe_file_is_refused(tmp_path, capsys):
    assert main(["run", "-o", str(tmp_path / "run"), "--recipe", str(tmp_path / "none.json")]) == 1
    assert "cannot read the recipe" in capsys.readouterr().err


def test_pool_and_fused_evaluation(small_dataset, small_copies, tmp_path, capsys):
    feats, copies = tmp_path / "f.parquet", tmp_path / "c.parquet"
    for data, store in ((small_dataset, feats), (small_copies, copies)):
        assert main(["extract", str(data), "-o", str(store), "--frame-length", "256", "--hop-length", "128",
                     "--n-mels", "16", "--no-progress"]) == 0
    stats, copy_stats = tmp_path / "stats.parquet", tmp_path / "copy_stats.parquet"
    assert main(["pool", str(feats), "-o", str(stats)]) == 0
    assert main(["pool", str(copies), "-o", str(copy_stats)]) == 0
    assert list(read_store(copy_stats).origin) == list(read_store(copies).origin)  # provenance survives pooling
    table = read_store(stats)
    src = read_store(feats)
    np.testing.assert_allclose(table.features[3][0, :16], src.features[3].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(table.features[3][0, 16:], src.features[3].std(axis=0), rtol=1e-5)
    pytest.importorskip("torch")
    out = tmp_path / "eval"
    assert main(["evaluate", str(stats), str(stats), "--repeats", "1", "--epochs", "50", "--output-dir", str(out),
                 "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "accuracy" in text and "precision" in text
    import json

    result = json.loads((out / "cv.json").read_text())
    assert len(result["inputs"]) == 2
    assert (out / "confusion.txt").read_text().count("\n") >= 4
    # extra training rows: one store per input, fused alike
    assert main(["evaluate", str(stats), "--augment", str(copy_stats), "--repeats", "1", "--epochs", "20",
                 "--output-dir", str(out), "--save-mlp", str(tmp_path / "m.pt"), "--no-progress"]) == 0
    assert json.loads((out / "cv.json").read_text())["augment"] == [str(copy_stats)]
    assert main(["evaluate", str(stats), str(stats), "--augment", str(copy_stats), "--output-dir", str(out)]) == 1
    assert "one store per input" in capsys.readouterr().err
    # copies follow their clips into drawn folds too
    assert main(["evaluate", str(stats), "--augment", str(copy_stats), "--k", "3", "--repeats", "1", "--epochs", "5",
                 "--output-dir", str(out), "--no-progress"]) == 0
    # rows that record no origin clip are no copies: refused, naming the file
    assert main(["evaluate", str(stats), "--augment", str(stats), "--output-dir", str(out)]) == 1
    assert "records no origin clip" in capsys.readouterr().err


def test_autoencoders_per_fold_and_their_evaluation(small_dataset, small_copies, tmp_path, capsys, monkeypatch,
                                                    caplog):
    pytest.importorskip("torch")
    import json
    import shutil

    from audiorep import evaluate as evaluate_module
    from audiorep import train as train_module
    from audiorep.evaluate import fuse

    feats = tmp_path / "f.parquet"
    assert main(["extract", str(small_dataset), "-o", str(feats), "--frame-length", "256", "--hop-length", "128",
                 "--n-mels", "8", "--no-progress"]) == 0
    table = read_store(feats)
    seen = []
    original = train_module.train_autoencoder

    def recording(x, **kwargs):
        seen.append((np.array(x, copy=True), kwargs))
        return original(x, **kwargs)

    monkeypatch.setattr(train_module, "train_autoencoder", recording)
    tiny = ["--epochs", "1", "--units", "8", "--layers", "1", "--batch-size", "4", "--no-progress"]
    for fold in (1, 2, 3, 4, 5):
        model = tmp_path / f"ae_x{fold}.pt"
        assert main(["train", str(feats), "-o", str(model), "--exclude-folds", str(fold), *tiny]) == 0
        assert "trained on 16 sequences" in capsys.readouterr().out
        np.testing.assert_array_equal(seen[-1][0], table.stacked()[table.fold != fold])
        assert seen[-1][1]["scaling"] == "dimension"
        assert main(["represent", str(model), str(feats), "-o", str(tmp_path / f"ae_x{fold}.parquet")]) == 0
        assert read_store(tmp_path / f"ae_x{fold}.parquet").params["excluded_folds"] == [fold]
    assert main(["train", str(feats), "-o", str(tmp_path / "g.pt"), "--scaling", "global", *tiny]) == 0
    assert seen[-1][1]["scaling"] == "global"
    assert main(["train", str(feats), "-o", str(tmp_path / "none.pt"), "--exclude-folds", "1", "2", "3", "4", "5",
                 *tiny]) == 1
    assert "leaves no rows" in capsys.readouterr().err
    assert main(["train", str(feats), "-o", str(tmp_path / "none.pt"), "--exclude-folds", "1", "9", *tiny]) == 1
    assert "no rows in fold(s) [9]" in capsys.readouterr().err

    stats = tmp_path / "stats.parquet"
    assert main(["pool", str(feats), "-o", str(stats)]) == 0
    stats_matrix = np.stack([f.reshape(-1) for f in read_store(stats).features])
    copy_feats, copy_stats = tmp_path / "cf.parquet", tmp_path / "cs.parquet"
    assert main(["extract", str(small_copies), "-o", str(copy_feats), "--frame-length", "256", "--hop-length", "128",
                 "--n-mels", "8", "--no-progress"]) == 0
    assert main(["pool", str(copy_feats), "-o", str(copy_stats)]) == 0
    for fold in (1, 2, 3, 4, 5):
        assert main(["represent", str(tmp_path / f"ae_x{fold}.pt"), str(copy_feats), "-o",
                     str(tmp_path / f"copy_ae_x{fold}.parquet")]) == 0
    copy_template = str(tmp_path / "copy_ae_x{fold}.parquet")
    given, augments = [], []
    original_cv = evaluate_module.cross_validate

    def recording_cv(reps, *args, **kwargs):
        given.append(reps)
        augments.append(kwargs.get("augment"))
        return original_cv(reps, *args, **kwargs)

    monkeypatch.setattr(evaluate_module, "cross_validate", recording_cv)
    out = tmp_path / "eval"
    template = str(tmp_path / "ae_x{fold}.parquet")
    assert main(["evaluate", str(stats), template, "--repeats", "1", "--epochs", "20", "--hidden", "8",
                 "--output-dir", str(out), "--no-progress"]) == 0
    result = json.loads((out / "cv.json").read_text())
    assert result["inputs"] == [str(stats), template] and result["fold_ids"] == [1, 2, 3, 4, 5]
    assert np.asarray(result["confusion"]).sum() == 20
    for fold in (1, 2, 3, 4, 5):  # each held-out fold gets the store of the model that never saw it
        ae = np.stack([f.reshape(-1) for f in read_store(tmp_path / f"ae_x{fold}.parquet").features])
        np.testing.assert_array_equal(given[-1][fold], fuse(stats_matrix, ae))
    assert main(["evaluate", str(stats), "--ensemble", "2", "--repeats", "1", "--epochs", "5", "--hidden", "8",
                 "--output-dir", str(out), "--no-progress"]) == 0
    assert json.loads((out / "cv.json").read_text())["ensemble"] == 2
    assert main(["evaluate", str(stats), "--ensemble", "2", "--save-mlp", str(tmp_path / "m.pt"),
                 "--output-dir", str(out)]) == 1
    assert "ensemble" in capsys.readouterr().err

    sel = tmp_path / "select"
    assert main(["select", f"pooled={stats}", f"both={stats},{template}", "--repeats", "1", "--epochs", "10",
                 "--hidden", "8", "--output-dir", str(sel), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert text.count("chose ") == 5 and "inner accuracy" in text
    result = json.loads((sel / "cv.json").read_text())
    assert result["candidates"] == {"pooled": [str(stats)], "both": [str(stats), template]}
    assert len(result["selected"]) == 5 and set(result["selected"]) <= {"pooled", "both"}
    assert set(result["selection_scores"]) == {"pooled", "both"}
    assert np.asarray(result["confusion"]).sum() == 20
    assert main(["select", f"a={stats}", f"a={stats}", "--output-dir", str(sel)]) == 1
    assert "distinct" in capsys.readouterr().err
    # extra training rows per candidate, in one group or several (joined), {fold} stores included
    given.clear()
    assert main(["select", f"pooled={stats}", f"both={stats},{template}", "--augment",
                 f"pooled={copy_stats},{copy_stats}", "--augment", f"both={copy_stats},{copy_template}",
                 "--repeats", "1", "--epochs", "5", "--hidden", "8", "--output-dir", str(sel), "--no-progress"]) == 0
    result = json.loads((sel / "cv.json").read_text())
    assert result["augment"] == {"pooled": [str(copy_stats)] * 2, "both": [str(copy_stats), copy_template]}
    groups = {"pooled": 2, "both": 1}
    copy_matrix = np.stack([f.reshape(-1) for f in read_store(copy_stats).features])
    clip_of = {name: i for i, name in enumerate(table.filename)}
    expected_source = np.array([clip_of[o] for o in read_store(copy_stats).origin])
    for fold, choice in zip(result["fold_ids"], result["selected"]):  # the outer run gets the choice's rows
        x, source = augments[-1][fold]
        assert len(x) == len(source) == 20 * groups[choice]
        np.testing.assert_array_equal(source, np.tile(expected_source, groups[choice]))
        np.testing.assert_array_equal(x[:20, :stats_matrix.shape[1]], copy_matrix)
        np.testing.assert_array_equal(given[-1][fold][:, :stats_matrix.shape[1]], stats_matrix)
    for bad, match in ((f"c={copy_stats}", "not a candidate"), (str(copy_stats), "NAME=FILE"),
                       (f"both={copy_stats}", "one store per input"),
                       (f"pooled={copy_stats}\0pooled={copy_stats}", "already has an --augment option"),
                       (f"pooled={stats}", "records no origin clip")):
        augment = [word for option in bad.split("\0") for word in ("--augment", option)]
        assert main(["select", f"pooled={stats}", f"both={stats},{template}", *augment,
                     "--output-dir", str(sel)]) == 1
        assert match in capsys.readouterr().err
    assert main(["select", "a=", "--output-dir", str(sel)]) == 1
    assert "NAME=FILE" in capsys.readouterr().err

    # stores without provenance cannot be checked: said once, not refused
    import logging

    for fold in (1, 2, 3, 4, 5):
        shutil.copy(stats, tmp_path / f"plain_x{fold}.parquet")
    with caplog.at_level(logging.WARNING, logger="audiorep"):
        assert main(["evaluate", str(tmp_path / "plain_x{fold}.parquet"), "--repeats", "1", "--epochs", "2",
                     "--output-dir", str(out), "--no-progress"]) == 0
    warned = [r.getMessage() for r in caplog.records if "cannot check" in r.getMessage()]
    assert len(warned) == 1 and "plain_x{fold}" in warned[0]
    caplog.clear()
    assert main(["evaluate", template, "--repeats", "1", "--epochs", "2", "--output-dir", str(out),
                 "--no-progress"]) == 0
    assert not [r for r in caplog.records if "cannot check" in r.getMessage()]

    # a store for fold 2 made by the model that saw fold 2 is refused
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    for fold in (1, 2, 3, 4, 5):
        shutil.copy(tmp_path / f"ae_x{1 if fold == 2 else fold}.parquet", wrong / f"ae_x{fold}.parquet")
    assert main(["evaluate", str(wrong / "ae_x{fold}.parquet"), "--output-dir", str(out)]) == 1
    assert "trained on that fold" in capsys.readouterr().err
    shutil.copy(tmp_path / "ae_x1.parquet", tmp_path / "ae_x01.parquet")
    assert main(["evaluate", template, "--output-dir", str(out)]) == 1
    assert "both name fold 1" in capsys.readouterr().err
    (tmp_path / "ae_x01.parquet").unlink()
    (tmp_path / "ae_x3.parquet").unlink()
    assert main(["evaluate", template, "--repeats", "1", "--epochs", "2", "--output-dir", str(out),
                 "--no-progress"]) == 1
    assert "no file for fold 3" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "nothing_{fold}.parquet"), "--output-dir", str(out)]) == 1
    assert "no file matches" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "{fold}" / "a.parquet"), "--output-dir", str(out)]) == 1
    assert "in the file name" in capsys.readouterr().err
    assert main(["evaluate", template, "--k", "5", "--output-dir", str(out)]) == 1
    assert "data's folds only" in capsys.readouterr().err


def test_fold_templates_tell_fold_numbers_apart(tmp_path):
    from audiorep.pipeline import fold_files

    for name in ("ae_x1.parquet", "ae_x10.parquet", "ae_x2.parquet", "ae_x2.parquet.tmp", "other_x3.parquet"):
        (tmp_path / name).touch()
    found = fold_files(str(tmp_path / "ae_x{fold}.parquet"))
    assert {f: p.name for f, p in found.items()} == {1: "ae_x1.parquet", 2: "ae_x2.parquet", 10: "ae_x10.parquet"}


def test_train_with_altered_copies_of_the_clips(small_dataset, small_copies, tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    from audiorep import train as train_module

    opts = ["--frame-length", "256", "--hop-length", "128", "--n-mels", "8", "--no-progress"]
    feats, extra = tmp_path / "f.parquet", tmp_path / "copies.parquet"
    assert main(["extract", str(small_dataset), "-o", str(feats), *opts]) == 0
    assert main(["extract", str(small_copies), "-o", str(extra), *opts]) == 0
    table, copies = read_store(feats), read_store(extra)
    seen = []
    original = train_module.train_autoencoder
    monkeypatch.setattr(train_module, "train_autoencoder",
                        lambda x, **kwargs: seen.append((np.array(x), kwargs)) or original(x, **kwargs))
    tiny = ["--epochs", "1", "--units", "8", "--layers", "1", "--batch-size", "4", "--no-progress"]
    model = tmp_path / "ae.pt"
    assert main(["train", str(feats), "-o", str(model), "--augment", str(extra), "--exclude-folds", "2", *tiny]) == 0
    assert "trained on 16 sequences and 16 copies" in capsys.readouterr().out
    x, kwargs = seen[-1]
    rows, source = kwargs["augment"]
    kept = [n for n, f in zip(table.filename, table.fold) if f != 2]
    by_origin = dict(zip(copies.origin, copies.stacked(length=x.shape[1], pad="wrap")))  # repeated to the clips' length
    for row, s in zip(rows, source):  # each copy points at its own clip among the rows trained on
        np.testing.assert_array_equal(row, by_origin[kept[s]])
    from audiorep.train import model_training_info

    assert model_training_info(model) == {"excluded_folds": [2], "augment": [str(extra)]}
    # copies must be extracted like the features, and must record their clip
    other = tmp_path / "other.parquet"
    assert main(["extract", str(small_copies), "-o", str(other), *opts[:-3], "--n-mels", "6", "--no-progress"]) == 0
    assert main(["train", str(feats), "-o", str(model), "--augment", str(other), *tiny]) == 1
    assert "other settings" in capsys.readouterr().err
    assert main(["train", str(extra), "-o", str(model), "--augment", str(feats), *tiny]) == 1
    assert "records no origin clip" in capsys.readouterr().err


def test_augment_writes_speed_copies(small_dataset, tmp_path, capsys):
    out = tmp_path / "copies"
    assert main(["augment", str(small_dataset), "-o", str(out), "--speeds", "0.9", "1.1", "--no-progress"]) == 0
    assert "wrote 40 speed copies (0.9x, 1.1x)" in capsys.readouterr().out
    assert len(list(out.rglob("*-speed0.9.wav"))) == len(list(out.rglob("*-speed1.1.wav"))) == 20
    assert main(["augment", str(small_dataset), "-o", str(out), "--speeds", "5"]) == 1
    assert "[0.5, 2.0]" in capsys.readouterr().err


def test_a_closed_output_pipe_neither_breaks_the_command_nor_prints_a_traceback(small_dataset, tmp_path):
    feats, stats, out = tmp_path / "f.parquet", tmp_path / "s.parquet", tmp_path / "eval"
    assert main(["extract", str(small_dataset), "-o", str(feats), "--frame-length", "256", "--hop-length", "128",
                 "--n-mels", "8", "--no-progress"]) == 0
    assert main(["pool", str(feats), "-o", str(stats)]) == 0
    # `audiorep evaluate ... | head -1`: the reader goes before the result files are written
    import audiorep

    package_root = str(Path(audiorep.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, "-m", "audiorep", "evaluate", str(stats), "--repeats", "1", "--epochs",
                             "5", "--output-dir", str(out), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path, env=env)
    proc.stdout.close()
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err
    assert (out / "cv.json").exists() and (out / "confusion.png").exists()


def test_cancel_wins_over_the_error_it_caused_and_ignored_signals_stay_ignored(monkeypatch, capsys):
    from audiorep import cli
    from audiorep.errors import AudioFormatError

    def failing_read(args):
        cli._CANCEL.set()  # the signal arrived while a file was read...
        raise AudioFormatError("x.ogg: truncated file")  # ...and the interrupted read failed

    monkeypatch.setattr(cli, "_demo", failing_read)
    assert main(["demo"]) == cli.EXIT_CANCELLED
    assert "cancelled" in capsys.readouterr().err
    assert not cli._CANCEL.is_set()  # cleared again when the command ends

    seen = []
    monkeypatch.setattr(cli, "_demo", lambda args: seen.append(signal.getsignal(signal.SIGINT)) or 0)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        assert main(["demo"]) == 0
        assert seen == [signal.SIG_IGN] and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
    # where Ctrl-C is not ignored (this process may have inherited it ignored, as a background job)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        assert main(["demo"]) == 0
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen[-1] not in (signal.SIG_IGN, signal.SIG_DFL, signal.default_int_handler)
