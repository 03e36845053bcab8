"""Tests for audiorep.datasets: both ESC layouts, OBJ folders, folds and chunking."""

from __future__ import annotations

import collections
import csv

import numpy as np
import pytest
import soundfile as sf

from audiorep.datasets import Dataset, Instance, chunk, fold_indices, load_dataset, split_chunks
from audiorep.errors import ParameterError

ESC10_CLASSES = [
    "Dog bark", "Rain", "Sea waves", "Baby cry", "Clock tick",
    "Person sneeze", "Helicopter", "Chainsaw", "Rooster", "Fire crackling",
]


def _tiny_wav(path, value=0.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.full(80, value, dtype=np.float32), 8000, subtype="FLOAT")


def _check_folds_partition(dataset):
    everything = np.arange(len(dataset))
    seen_val = []
    for train, val in dataset.folds():
        assert np.intersect1d(train, val).size == 0
        np.testing.assert_array_equal(np.union1d(train, val), everything)
        seen_val.append(val)
    # Leave-one-fold-out: every instance validates exactly once.
    np.testing.assert_array_equal(np.sort(np.concatenate(seen_val)), everything)


# ---------------------------------------------------------------- ESC-10 folder layout (real data)


@pytest.mark.data
def test_esc10_folder_layout(esc10_dir):
    d = load_dataset(esc10_dir)
    assert d.layout == "folders" and len(d) == 400 and d.n_folds == 5
    assert d.label_map == dict(enumerate(ESC10_CLASSES))
    assert collections.Counter(i.fold for i in d) == {1: 80, 2: 80, 3: 80, 4: 80, 5: 80}
    per_class_fold = collections.Counter((i.label_numeric, i.fold) for i in d)
    assert set(per_class_fold.values()) == {8} and len(per_class_fold) == 50
    for inst in d:
        assert inst.path.is_file() and inst.path.is_absolute()
        assert inst.path == (esc10_dir / inst.filename).resolve()
        assert inst.filename.split("/")[0].endswith(inst.label_nominal)
        assert inst.fold == int(inst.path.name[0])
        assert inst.cv_folds == tuple(int(k + 1 == inst.fold) for k in range(5))
        assert d.label_map[inst.label_numeric] == inst.label_nominal
        assert (inst.chunk_nr, inst.partition, inst.source, inst.features) == (0, None, "audio", None)
    assert d[0].label_nominal == "Dog bark"
    _check_folds_partition(d)
    for k, (train, val) in enumerate(d.folds()):
        assert len(val) == 80 and len(train) == 320
        assert {d[i].fold for i in val} == {k + 1}
    assert d.cv_folds.shape == (400, 5) and d.cv_folds.dtype == np.int8
    np.testing.assert_array_equal(np.bincount(d.labels), [40] * 10)


@pytest.mark.data
def test_esc10_layout_explicit_and_wrong_layout(esc10_dir):
    assert len(load_dataset(esc10_dir, layout="folders")) == 400
    with pytest.raises(ParameterError, match="esc50.csv"):
        load_dataset(esc10_dir, layout="esc50")
    with pytest.raises(ParameterError, match="esc10_only"):
        load_dataset(esc10_dir, esc10_only=True)


# ---------------------------------------------------------------- ESC-50 CSV layout (built here)

_CSV_ROWS = [
    # filename, fold, target, category, esc10
    ("1-100032-A-0.wav", 1, 0, "dog", True),
    ("1-17367-A-10.wav", 1, 10, "rain", True),
    ("1-115545-A-48.wav", 1, 48, "fireworks", False),
    ("2-114280-A-0.wav", 2, 0, "dog", True),
    ("2-101676-A-10.wav", 2, 10, "rain", True),
    ("3-102908-A-48.wav", 3, 48, "fireworks", False),
    ("3-141240-B-10.wav", 3, 10, "rain", True),
]


def _write_esc50(root, rows=_CSV_ROWS, header=("filename", "fold", "target", "category", "esc10", "src_file", "take")):
    (root / "meta").mkdir(parents=True, exist_ok=True)
    with open(root / "meta" / "esc50.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for name, fold, target, category, esc10 in rows:
            src, take = name.split("-")[1], name.split("-")[2]
            writer.writerow([name, fold, target, category, esc10, src, take][: len(header)])
            _tiny_wav(root / "audio" / name)
    return root


def test_esc50_csv_layout(tmp_path):
    d = load_dataset(_write_esc50(tmp_path))
    assert d.layout == "esc50" and len(d) == len(_CSV_ROWS) and d.n_folds == 3
    assert d.label_map == {0: "dog", 1: "rain", 2: "fireworks"}
    for inst, (name, fold, target, category, _) in zip(d, _CSV_ROWS):
        assert inst.filename == f"audio/{name}"
        assert inst.path == (tmp_path / "audio" / name).resolve()
        assert (inst.fold, inst.label_nominal) == (fold, category)
        assert inst.label_numeric == {0: 0, 10: 1, 48: 2}[target]
        assert inst.cv_folds == tuple(int(k == fold) for k in (1, 2, 3))
    _check_folds_partition(d)


def test_esc50_csv_esc10_only(tmp_path):
    d = load_dataset(_write_esc50(tmp_path), esc10_only=True)
    assert len(d) == 5
    assert {i.label_nominal for i in d} == {"dog", "rain"}
    assert d.label_map == {0: "dog", 1: "rain"}
    assert all(i.label_numeric == (0 if i.label_nominal == "dog" else 1) for i in d)
    _check_folds_partition(d)


def test_esc50_csv_parses_like_the_folder_layout(tmp_path):
    """The same clips in both layouts give the same labels and folds."""
    csv_root = _write_esc50(tmp_path / "csv")
    folder_root = tmp_path / "folders"
    for number, category in [(0, "dog"), (10, "rain"), (48, "fireworks")]:
        for name, fold, target, _, _ in _CSV_ROWS:
            if target == number:
                _tiny_wav(folder_root / f"{number:03d} - {category}" / name)
    a, b = load_dataset(csv_root), load_dataset(folder_root)
    assert a.label_map == b.label_map
    key = lambda i: i.path.name  # noqa: E731
    for x, y in zip(sorted(a, key=key), sorted(b, key=key)):
        assert (x.label_nominal, x.label_numeric, x.fold, x.cv_folds) == (
            y.label_nominal, y.label_numeric, y.fold, y.cv_folds)


def test_esc50_missing_column(tmp_path):
    _write_esc50(tmp_path, header=("filename", "fold", "target", "category"))
    with pytest.raises(ParameterError, match=r"missing column.*esc10"):
        load_dataset(tmp_path)


def test_esc50_bad_values(tmp_path):
    rows = [*_CSV_ROWS[:2], ("1-1-A-0.wav", "one", 0, "dog", True)]
    _write_esc50(tmp_path, rows=rows)
    with pytest.raises(ParameterError, match=r"line 4.*fold='one'"):
        load_dataset(tmp_path)


def test_esc50_inconsistent_category(tmp_path):
    rows = [*_CSV_ROWS[:2], ("2-1-A-0.wav", 2, 0, "cat", True)]
    _write_esc50(tmp_path, rows=rows)
    with pytest.raises(ParameterError, match="target 0 is 'cat'"):
        load_dataset(tmp_path)


def test_esc50_missing_audio_file(tmp_path):
    _write_esc50(tmp_path)
    (tmp_path / "audio" / "1-17367-A-10.wav").unlink()
    with pytest.raises(FileNotFoundError, match="1-17367-A-10.wav"):
        load_dataset(tmp_path)


# ---------------------------------------------------------------- OBJ folders and plain class names


def _mesh(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")


def test_obj_class_folders_without_numbers(tmp_path):
    for cls, names in {"Rain": ["1-1-A.obj", "2-2-A.obj"], "Dog bark": ["1-3-A.obj", "2-4-B.obj"]}.items():
        for name in names:
            _mesh(tmp_path / cls / name)
    (tmp_path / "Rain" / "notes.txt").write_text("ignored")
    d = load_dataset(tmp_path)
    assert d.label_map == {0: "Dog bark", 1: "Rain"}
    assert len(d) == 4 and d.n_folds == 2
    assert {i.source for i in d} == {"obj"}
    assert sorted(i.filename for i in d if i.label_nominal == "Rain") == ["Rain/1-1-A.obj", "Rain/2-2-A.obj"]
    _check_folds_partition(d)


def test_obj_numbered_folders(tmp_path):
    _mesh(tmp_path / "010 - Fire crackling" / "1-1-A.obj")
    _mesh(tmp_path / "002 - Rain" / "2-1-A.obj")
    d = load_dataset(tmp_path, extensions=[".obj"])
    assert d.label_map == {0: "Rain", 1: "Fire crackling"}


def test_mixed_audio_and_obj_needs_a_choice(tmp_path):
    _mesh(tmp_path / "001 - Rain" / "1-1-A.obj")
    _tiny_wav(tmp_path / "001 - Rain" / "1-1-A.wav")
    with pytest.raises(ParameterError, match="both audio and OBJ"):
        load_dataset(tmp_path)
    assert [i.source for i in load_dataset(tmp_path, extensions="wav")] == ["audio"]
    assert [i.source for i in load_dataset(tmp_path, extensions={".OBJ"})] == ["obj"]


def test_folder_file_without_fold(tmp_path):
    _tiny_wav(tmp_path / "001 - Rain" / "rain.wav")
    with pytest.raises(ParameterError, match="rain.wav.*fold"):
        load_dataset(tmp_path)


def test_mixed_folder_naming(tmp_path):
    _tiny_wav(tmp_path / "001 - Rain" / "1-1-A.wav")
    _tiny_wav(tmp_path / "Dog" / "1-2-A.wav")
    with pytest.raises(ParameterError, match="mix"):
        load_dataset(tmp_path)


# ---------------------------------------------------------------- bad roots


def test_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing"):
        load_dataset(tmp_path / "nothing")


def test_root_is_a_file(tmp_path):
    path = tmp_path / "file.txt"
    path.write_text("x")
    with pytest.raises(ParameterError, match="file.txt.*not a directory"):
        load_dataset(path)


def test_root_in_neither_layout(tmp_path):
    (tmp_path / "empty class").mkdir()
    (tmp_path / "loose.wav").write_bytes(b"")
    with pytest.raises(ParameterError, match=f"{tmp_path.name} is neither"):
        load_dataset(tmp_path)


@pytest.mark.parametrize(
    "kwargs", [{"layout": "csv"}, {"extensions": []}, {"extensions": [3]}],
)
def test_bad_options(tmp_path, kwargs):
    _tiny_wav(tmp_path / "001 - Rain" / "1-1-A.wav")
    with pytest.raises(ParameterError):
        load_dataset(tmp_path, **kwargs)


# ---------------------------------------------------------------- folds helper


def test_fold_indices_overlapping_scheme():
    # Two folds that share a validation instance, and one instance unused in fold 0.
    cv = np.array([[1, 1], [0, 1], [2, 0], [0, 0]])
    (t0, v0), (t1, v1) = fold_indices(cv)
    assert (t0.tolist(), v0.tolist(), t1.tolist(), v1.tolist()) == ([1, 3], [0], [2, 3], [0, 1])
    with pytest.raises(ParameterError, match="2-D"):
        list(fold_indices([0, 1]))


def test_dataset_container_protocol(tmp_path):
    _tiny_wav(tmp_path / "001 - Rain" / "1-1-A.wav")
    _tiny_wav(tmp_path / "001 - Rain" / "2-1-A.wav")
    d = load_dataset(tmp_path)
    assert isinstance(d, Dataset) and len(d) == 2 and list(d) == d.instances and d[-1] is d.instances[-1]


# ---------------------------------------------------------------- chunking


def _instance():
    from pathlib import Path

    return Instance("001 - Rain/1-1-A.wav", 0, "Rain", 0, (1, 0), None, 1, Path("/data/001 - Rain/1-1-A.wav"))


@pytest.mark.parametrize(("n", "last", "expected"), [(30, "pad", 3), (30, "drop", 3), (35, "pad", 4), (35, "drop", 3),
                                                     (5, "pad", 1), (5, "drop", 0)])
def test_split_chunks_counts(n, last, expected):
    y = np.arange(1, n + 1, dtype=np.float64)
    chunks = split_chunks(y, 10, chunk_seconds=1.0, last=last)
    assert len(chunks) == expected
    assert all(c.shape == (10,) for c in chunks)
    if chunks:
        joined = np.concatenate(chunks)
        np.testing.assert_array_equal(joined[: min(n, joined.size)], y[: joined.size])
        np.testing.assert_array_equal(joined[n:], 0)


def test_split_chunks_multichannel():
    y = np.arange(2 * 25).reshape(2, 25)
    chunks = split_chunks(y, 10, chunk_seconds=1.0)
    assert [c.shape for c in chunks] == [(2, 10)] * 3
    np.testing.assert_array_equal(chunks[1], y[:, 10:20])


def test_chunk_makes_numbered_instances(rng):
    y = rng.standard_normal(44100 * 5)
    pieces = chunk(_instance(), y, 44100, chunk_seconds=2.0, last="drop")
    assert [c.chunk_nr for c, _ in pieces] == [0, 1]
    for c, x in pieces:
        assert (c.filename, c.label_nominal, c.cv_folds, c.fold) == ("001 - Rain/1-1-A.wav", "Rain", (1, 0), 1)
        np.testing.assert_array_equal(x, y[c.chunk_nr * 88200 : (c.chunk_nr + 1) * 88200])


@pytest.mark.parametrize(
    "kwargs",
    [{"chunk_seconds": 0}, {"chunk_seconds": -1.0}, {"chunk_seconds": float("nan")}, {"chunk_seconds": 1e-6},
     {"chunk_seconds": 1.0, "last": "keep"}, {"chunk_seconds": 1.0, "sr": 0}],
)
def test_split_chunks_bad_arguments(kwargs):
    args = {"sr": 100, **kwargs}
    with pytest.raises(ParameterError):
        split_chunks(np.ones(100), args.pop("sr"), **args)


def test_chunk_needs_an_instance():
    with pytest.raises(TypeError, match="Instance"):
        chunk("1-1-A.wav", np.ones(10), 10, chunk_seconds=0.5)
