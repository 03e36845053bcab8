"""Copies keep their source clip's fold, whatever the dataset's layout and whatever their file names say.

Each test runs the README's augmentation commands on a dataset whose folds do NOT follow the
first digit of the file names, and checks which rows every classifier and autoencoder trained on.
"""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest
import soundfile as sf

from audiorep import ParameterError
from audiorep.cli import main
from audiorep.datasets import load_dataset, read_copies_manifest, write_copies_manifest
from audiorep.examples import write_synthetic_dataset
from audiorep.store import read_store

OPTS = ["--frame-length", "256", "--hop-length", "128", "--n-mels", "8", "--no-progress"]


def _esc50_layout(source, root):
    """ESC-50 layout of ``source``'s clips: every file name starts with 4, the CSV gives folds 1-4."""
    clips = sorted(source.glob("*/*.wav"))
    (root / "audio").mkdir(parents=True)
    (root / "meta").mkdir()
    rows = []
    for i, clip in enumerate(clips):
        target = int(clip.parent.name[:3]) - 1
        name = f"4-{1000 + i}-A.wav"
        shutil.copy(clip, root / "audio" / name)
        rows.append({"filename": name, "fold": i % 4 + 1, "target": target, "category": clip.parent.name[6:],
                     "esc10": "True", "src_file": str(1000 + i), "take": "A"})
    with open(root / "meta" / "esc50.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


@pytest.fixture(scope="module")
def esc50(tmp_path_factory):
    base = tmp_path_factory.mktemp("esc50")
    source = write_synthetic_dataset(base / "synth", clips_per_class=8, seconds=0.4, sr=8000)
    return _esc50_layout(source, base / "data")


def _rows(path):
    return np.stack([f.reshape(-1) for f in read_store(path).features])


def _pooled(data, work, name):
    feats, stats = work / f"{name}_f.parquet", work / f"{name}.parquet"
    assert main(["extract", str(data), "-o", str(feats), *OPTS]) == 0
    assert main(["pool", str(feats), "-o", str(stats)]) == 0
    return feats, stats


def _record_training(monkeypatch):
    """Record (training rows, test rows) of every classifier that cross-validation trains."""
    from audiorep import evaluate

    runs = []
    train, predict = evaluate.train_classifier, evaluate.predict_proba

    def recording_train(x, y, **kwargs):
        runs.append([np.array(x), None])
        return train(x, y, **kwargs)

    def recording_predict(mlp, scaler, x):
        if runs and runs[-1][1] is None:
            runs[-1][1] = np.array(x)
        return predict(mlp, scaler, x)

    monkeypatch.setattr(evaluate, "train_classifier", recording_train)
    monkeypatch.setattr(evaluate, "predict_proba", recording_predict)
    return runs


def _which(rows, table_rows):
    """Index into ``table_rows`` of each row of ``rows`` that is one of them (-1 where none is)."""
    lookup = {r.tobytes(): i for i, r in enumerate(table_rows)}
    return np.array([lookup.get(r.tobytes(), -1) for r in rows])


def _check_no_copy_of_a_test_clip(runs, clip_rows, copy_rows, copy_origin_row, n_clips, per_clip):
    assert runs
    with_copies = 0
    for x, test in runs:
        tested = _which(test, clip_rows)
        assert (tested >= 0).all()  # tests are on original clips only
        copies = _which(x, copy_rows)
        used = copies[copies >= 0]
        trained_clips = _which(x, clip_rows)
        trained_clips = trained_clips[trained_clips >= 0]
        origins = copy_origin_row[used]
        assert not np.isin(origins, tested).any(), "a copy of a test clip trained the classifier that tests it"
        assert len(tested) + len(trained_clips) <= n_clips
        if len(used):  # then every copy of every training clip is used: the check above is not vacuous
            with_copies += 1
            assert sorted(origins.tolist()) == sorted(np.repeat(trained_clips, per_clip).tolist())
    return with_copies


def test_copies_of_an_esc50_layout_take_the_folds_of_the_csv(esc50, tmp_path):
    data = load_dataset(esc50)
    assert data.layout == "esc50" and sorted({i.fold for i in data}) == [1, 2, 3, 4]
    assert {i.filename.split("/")[-1][0] for i in data} == {"4"}  # file names say nothing of the folds
    copies = tmp_path / "speed"
    assert main(["augment", str(esc50), "-o", str(copies), "--speeds", "0.9", "1.1", "--no-progress"]) == 0
    listed = load_dataset(copies)
    assert listed.layout == "copies" and len(listed) == 2 * len(data)
    fold_of = {i.filename: i.fold for i in data}
    for inst in listed:
        assert inst.fold == fold_of[inst.origin] and inst.filename.startswith("audio/4-")
    _, copy_stats = _pooled(copies, tmp_path, "copies")
    stored = read_store(copy_stats)
    assert [fold_of[o] for o in stored.origin] == stored.fold.tolist()


def test_evaluate_and_select_never_train_on_copies_of_their_test_clips(esc50, tmp_path, monkeypatch):
    copies = tmp_path / "speed"
    assert main(["augment", str(esc50), "-o", str(copies), "--speeds", "0.9", "1.1", "--no-progress"]) == 0
    _, stats = _pooled(esc50, tmp_path, "clips")
    _, copy_stats = _pooled(copies, tmp_path, "copies")
    clips, copy_table = read_store(stats), read_store(copy_stats)
    origin_row = np.array([list(clips.filename).index(o) for o in copy_table.origin])
    clip_rows, copy_rows = _rows(stats), _rows(copy_stats)
    quick = ["--repeats", "1", "--epochs", "5", "--hidden", "8", "--no-progress"]

    runs = _record_training(monkeypatch)
    assert main(["evaluate", str(stats), "--augment", str(copy_stats), "--output-dir", str(tmp_path / "e"),
                 *quick]) == 0
    assert len(runs) == 4
    assert _check_no_copy_of_a_test_clip(runs, clip_rows, copy_rows, origin_row, len(clip_rows), 2) == 4

    runs.clear()
    assert main(["select", f"plain={stats}", f"copies={stats}", "--augment", f"copies={copy_stats}",
                 "--output-dir", str(tmp_path / "s"), *quick]) == 0
    assert len(runs) == 4 * 2 * 3 + 4  # inner runs of both candidates, then the outer runs
    assert _check_no_copy_of_a_test_clip(runs, clip_rows, copy_rows, origin_row, len(clip_rows), 2) >= 4 * 3


def test_copies_of_a_folder_layout_ignore_their_own_file_names(tmp_path, monkeypatch):
    data = write_synthetic_dataset(tmp_path / "data", clips_per_class=8, seconds=0.4, sr=8000, n_folds=4)
    copies = tmp_path / "speed"
    assert main(["augment", str(data), "-o", str(copies), "--speeds", "1.1", "--no-progress"]) == 0
    # rename every copy so that its first digit names another fold: its fold must not change
    rows = read_copies_manifest(copies)
    for row in rows:
        old = copies / row["filename"]
        new = old.with_name(f"{row['fold'] % 4 + 1}{old.name[1:]}")
        old.rename(new)
        row["filename"] = new.relative_to(copies).as_posix()
    write_copies_manifest(copies, rows)
    fold_of = {i.filename: i.fold for i in load_dataset(data)}
    for inst in load_dataset(copies):
        assert inst.fold == fold_of[inst.origin] != int(inst.filename.split("/")[-1][0])
    _, stats = _pooled(data, tmp_path, "clips")
    _, copy_stats = _pooled(copies, tmp_path, "copies")
    clips, copy_table = read_store(stats), read_store(copy_stats)
    origin_row = np.array([list(clips.filename).index(o) for o in copy_table.origin])
    runs = _record_training(monkeypatch)
    assert main(["evaluate", str(stats), "--augment", str(copy_stats), "--output-dir", str(tmp_path / "e"),
                 "--repeats", "1", "--epochs", "5", "--hidden", "8", "--no-progress"]) == 0
    assert _check_no_copy_of_a_test_clip(runs, _rows(stats), _rows(copy_stats), origin_row, len(clips.filename),
                                         1) == 4


def test_train_augment_leaves_out_copies_of_excluded_folds(esc50, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from audiorep import train as train_module

    copies = tmp_path / "speed"
    assert main(["augment", str(esc50), "-o", str(copies), "--speeds", "0.9", "--no-progress"]) == 0
    feats, _ = _pooled(esc50, tmp_path, "clips")
    copy_feats, _ = _pooled(copies, tmp_path, "copies")
    seen = []
    original = train_module.train_autoencoder
    monkeypatch.setattr(train_module, "train_autoencoder",
                        lambda x, **kwargs: seen.append((np.array(x), kwargs)) or original(x, **kwargs))
    tiny = ["--epochs", "1", "--units", "8", "--layers", "1", "--batch-size", "8", "--no-progress"]
    clips, copy_table = read_store(feats), read_store(copy_feats)
    fold_of = dict(zip(clips.filename, clips.fold))
    copy_rows = copy_table.stacked(length=clips.stacked().shape[1])
    for fold in (1, 3):
        assert main(["train", str(feats), "-o", str(tmp_path / f"ae{fold}.pt"), "--exclude-folds", str(fold),
                     "--augment", str(copy_feats), *tiny]) == 0
        x, kwargs = seen[-1]
        extra, source = kwargs["augment"]
        trained_names = clips.filename[clips.fold != fold]
        used = _which(extra.reshape(len(extra), -1), copy_rows.reshape(len(copy_rows), -1))
        assert (used >= 0).all()
        origins = copy_table.origin[used]
        assert all(fold_of[o] != fold for o in origins)
        assert sorted(origins) == sorted(trained_names)  # and every other clip's copy is there
        assert [trained_names[s] for s in source] == list(origins)


def test_copies_whose_clip_is_missing_or_disagrees_are_refused_by_name(esc50, tmp_path):
    copies = tmp_path / "speed"
    assert main(["augment", str(esc50), "-o", str(copies), "--speeds", "1.1", "--no-progress"]) == 0
    rows = read_copies_manifest(copies)
    rows[0]["fold"] = rows[0]["fold"] % 4 + 1
    write_copies_manifest(copies, rows)
    _, stats = _pooled(esc50, tmp_path, "clips")
    _, copy_stats = _pooled(copies, tmp_path, "copies")
    from audiorep.augment import source_rows

    with pytest.raises(ParameterError, match=f"{rows[0]['filename']} records fold .* which has fold"):
        source_rows(read_store(stats), read_store(copy_stats))
    # copies of another dataset's clips
    other = write_synthetic_dataset(tmp_path / "other", clips_per_class=2, seconds=0.4, sr=8000)
    _, other_stats = _pooled(other, tmp_path, "other")
    with pytest.raises(ParameterError, match=r"is a copy of audio/4-1000-A\.wav, which is not among the clips"):
        source_rows(read_store(other_stats), read_store(copy_stats))


def test_a_copies_manifest_is_checked(tmp_path):
    data = write_synthetic_dataset(tmp_path / "data", clips_per_class=1, seconds=0.2, sr=8000)
    copies = tmp_path / "speed"
    assert main(["augment", str(data), "-o", str(copies), "--speeds", "1.1", "--no-progress"]) == 0
    manifest = copies / "copies.csv"
    text = manifest.read_text()
    header, first, *rest = text.splitlines()
    for bad, match in ((header.replace("origin", "source"), r"missing column\(s\) \['origin'\]"),
                       (first.replace(",1,", ",x,", 1), "fold='x' is not an integer"),
                       ("../up.wav" + first[first.index(","):], "must be a path inside"),
                       (first + "\n" + first, "listed twice")):
        manifest.write_text("\n".join([bad, *rest]) + "\n" if bad.startswith("filename") else
                            "\n".join([header, bad, *rest]) + "\n")
        with pytest.raises(ParameterError, match=match):
            load_dataset(copies)
    manifest.write_text(text)
    (copies / first.split(",")[0]).unlink()
    with pytest.raises(FileNotFoundError, match="missing.*when run again"):
        load_dataset(copies)
    assert main(["augment", str(data), "-o", str(copies), "--speeds", "1.1", "--no-progress"]) == 0
    assert len(load_dataset(copies)) == 4
    # a copy name already listed for another clip is refused, not overwritten
    rows = read_copies_manifest(copies)
    rows[0]["origin"] = "elsewhere.wav"
    write_copies_manifest(copies, rows)
    with pytest.raises(ParameterError, match="listed as a copy of elsewhere.wav"):
        from audiorep.augment import write_speed_copies

        write_speed_copies(data, copies, [1.1])
    assert sf.info(copies / rows[0]["filename"]).frames > 0


def test_a_run_whose_classifier_also_trains_on_copies(tmp_path):
    """Copies for the classifier: pooled and per-fold learned, each following its clip's fold."""
    import dataclasses
    import json

    pytest.importorskip("torch")
    from audiorep import pipeline
    from audiorep.examples import write_synthetic_dataset

    data = write_synthetic_dataset(tmp_path / "data", clips_per_class=5, seconds=0.5, sr=16000, seed=0)
    recipe = dataclasses.replace(pipeline.Recipe.demo(epochs=1), export=False, classifier_speeds=(0.9,),
                                 classifier={"hidden": (8,), "dropout": 0.0, "epochs": 5, "lr": 1e-2, "repeats": 1})
    report = pipeline.run(data, tmp_path / "run", recipe)
    work = tmp_path / "run"
    rows = read_store(work / "mlp_copies_mel.parquet")
    assert rows.n_rows == 20 and (work / "mlp_copies_ae_x3.parquet").exists()
    # each per-fold store of the copies comes from the autoencoder that never heard that fold
    assert read_store(work / "mlp_copies_ae_x3.parquet").params["excluded_folds"] == [3]
    fused = json.loads((work / "report.json").read_text())["systems"]["fused"]
    assert fused["copies"] == [str(work / "pool_mlp_copies_mel.parquet"), str(work / "pool_mlp_copies_cg.parquet"),
                               str(work / "mlp_copies_ae_x{fold}.parquet")]
    assert set(report.systems) == {"learned", "pooled", "fused", "pooled_input"}
